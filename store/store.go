// Package store keeps VSRP's data in SQLite (embedded, pure Go) or PostgreSQL through
// database/sql. Every statement is written once, with ? placeholders that are rewritten to $n
// for PostgreSQL, and the same test suite (storetest) runs against both engines.
//
// Times are stored as unix microseconds and booleans as 0/1 in both engines. Driver errors
// become domain errors here: a unique-constraint violation is vsrp.ErrConflict, a missing row
// vsrp.ErrNotFound.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/vsrp-dev/vsrp"
)

//go:embed migrations
var migrations embed.FS

// Engine names a database engine.
type Engine string

// The engines VSRP runs on.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// Store is the database. It is safe for concurrent use.
type Store struct {
	name     string  // for messages (Name)
	db       *sql.DB // reads; on PostgreSQL writes too
	w        *sql.DB // writes: on SQLite one connection, whose page cache stays warm
	engine   Engine
	enrolled enrollmentCache // the campaigns of cards, for ingestion

	stop, stopped chan struct{} // SQLite: the background checkpoints
	closing       sync.Once
}

// IsPostgres reports whether dsn selects PostgreSQL.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open connects to the database named by dsn: a postgres:// URL, or else a SQLite file path.
// It does not run migrations; call Migrate.
func Open(dsn string) (*Store, error) {
	if IsPostgres(dsn) {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, err
		}
		// A few connections per process keep two cores busy; several processes share the
		// server's max_connections (100 by default).
		db.SetMaxOpenConns(10)
		db.SetMaxIdleConns(10)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return &Store{name: Name(dsn), db: db, w: db, engine: Postgres}, nil
	}
	// WAL lets readers run beside the one writer. synchronous=NORMAL in WAL mode keeps every
	// committed transaction across a crash of the process; only an OS crash or power loss can
	// lose the last commits, which is the usual trade for an embedded deployment and spares an
	// fsync per commit. Write transactions begin IMMEDIATE so that two writers queue on the
	// busy timeout instead of failing on a lock upgrade.
	// One connection writes and a few read. Every write goes through the writer, in turn (a
	// writer waits in the pool, not on SQLite's busy timeout), and only the writer changes the
	// database, so its page cache stays valid from one transaction to the next: ingestion finds
	// the pages it touched a batch ago still in memory. (When any other connection writes,
	// SQLite drops the whole cache of each connection at its next transaction.)
	// A cache of 64 MiB for the writer and 16 MiB for each reader (the default is 2 MiB): a miss
	// is a system call. Memory stays flat as the database grows: the caches are bounded at
	// 128 MiB in all, reached early.
	open := func(cacheMiB, conns int, readOnly bool) (*sql.DB, error) {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", cacheMiB<<10))
		// Statement journals (a many-row insert keeps one, to undo itself on a conflict) and
		// other temporary data stay in memory instead of temporary files: a write per page
		// otherwise.
		q.Add("_pragma", "temp_store(MEMORY)")
		// Checkpoints (copying the WAL into the database, with an fsync) run in the background
		// (checkpointLoop), not in the transaction that happens to cross the threshold; the
		// threshold stays as a bound on the WAL (64 MiB) should the background fall behind.
		q.Add("_pragma", "wal_autocheckpoint(16384)")
		if readOnly {
			// A write through a reader fails at once instead of quietly costing the writer its cache.
			q.Add("_pragma", "query_only(1)")
		}
		q.Set("_txlock", "immediate")
		// A file: URI: a '?' or '#' in the path would end it, so they (and '%') are escaped.
		db, err := sql.Open("sqlite", "file:"+uriPath.Replace(dsn)+"?"+q.Encode())
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(conns)
		db.SetMaxIdleConns(conns)
		return db, nil
	}
	db, err := open(16, 4, true)
	if err != nil {
		return nil, err
	}
	w, err := open(64, 1, false)
	if err != nil {
		db.Close()
		return nil, err
	}
	st := &Store{name: Name(dsn), db: db, w: w, engine: SQLite, stop: make(chan struct{}), stopped: make(chan struct{})}
	go st.checkpointLoop(checkpointEvery)
	return st, nil
}

const checkpointEvery = 500 * time.Millisecond

// checkpointLoop copies the SQLite WAL into the database every interval, without waiting
// for readers or blocking the writer (a passive checkpoint), until Close.
func (s *Store) checkpointLoop(every time.Duration) {
	defer close(s.stopped)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			// A failure (the database busy or closing) leaves the work to the next tick, or
			// to the automatic checkpoint.
			_, _ = s.db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
}

// uriPath escapes what would end the path of a SQLite file: URI.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// Engine reports the engine in use.
func (s *Store) Engine() Engine { return s.engine }

// DB gives the handle that writes (for tests and tools); on SQLite it is one connection, so
// it must not be used while a WriteTx is open.
func (s *Store) DB() *sql.DB { return s.w }

// Close closes the database.
func (s *Store) Close() error {
	if s.stop != nil {
		s.closing.Do(func() { close(s.stop) })
		<-s.stopped
	}
	if s.w != s.db {
		return errors.Join(s.w.Close(), s.db.Close())
	}
	return s.db.Close()
}

func (s *Store) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations/"+string(s.engine))
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if s.engine == Postgres {
		dialect = goose.DialectPostgres
		// Several processes may start at once on one database: one migrates, the others wait.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, s.w, sub, opts...)
}

// Migrate applies every pending migration, each in its own transaction. It refuses a database
// whose schema is newer than this binary knows.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.provider()
	if err == nil {
		err = s.checkKnownVersion(ctx, p)
	}
	if err == nil {
		_, err = p.Up(ctx)
	}
	if err != nil {
		// The driver's message ("unable to open database file") does not say which.
		return fmt.Errorf("database %s: %w", s.name, err)
	}
	return nil
}

// Name answers how messages name a database: its file, or its URL without the password and
// the query (which may hold one too).
func Name(dsn string) string {
	if !IsPostgres(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "(PostgreSQL URL that does not parse)"
	}
	u.RawQuery, u.Fragment = "", ""
	return u.Redacted()
}

func (s *Store) checkKnownVersion(ctx context.Context, p *goose.Provider) error {
	cur, err := p.GetDBVersion(ctx)
	if err != nil {
		return nil // no version table yet: a new database
	}
	srcs := p.ListSources()
	if latest := srcs[len(srcs)-1].Version; cur > latest {
		return fmt.Errorf("store: database schema version %d is newer than this binary knows (%d)", cur, latest)
	}
	return nil
}

// Ready reports whether the database answers and its schema is current.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return err
	}
	p, err := s.provider()
	if err != nil {
		return err
	}
	if err := s.checkKnownVersion(ctx, p); err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return err
	}
	if pending {
		return errors.New("store: migrations pending")
	}
	return nil
}

// q returns the statement text for the engine: ? placeholders become $1, $2… on PostgreSQL.
// Statements never hold a literal question mark.
func (s *Store) q(query string) string {
	if s.engine != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return s.wrap(tx.Commit())
}

// wrap turns driver errors into domain errors.
func (s *Store) wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return vsrp.ErrNotFound
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "23505":
			return fmt.Errorf("%w: %s", vsrp.ErrConflict, pg.ConstraintName)
		case "22021", "22P05": // a NUL character or bytes that are not UTF-8: the caller's text
			return vsrp.Errorf(vsrp.CodeInvalidParam, "text must be UTF-8 without NUL characters")
		}
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", vsrp.ErrConflict, err)
		}
	}
	return err
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

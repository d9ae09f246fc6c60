// Package storetest holds the suite that the store must pass on every engine it supports, and
// the helpers that other packages' tests use to get a migrated, empty store on SQLite or
// PostgreSQL.
//
// SQLite always runs, in a temporary directory. PostgreSQL runs when the environment variable
// VSRP_TEST_POSTGRES_URL names a server, for example
//
//	VSRP_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
//
// and is skipped otherwise. Each PostgreSQL store lives in a database of its own, created for
// the test and dropped when it ends, so tests on PostgreSQL may run in parallel like SQLite ones.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vsrp-dev/vsrp/store"
)

// EnvPostgresURL names the environment variable that holds the URL of a PostgreSQL server the
// tests may create and drop databases on. The role it names needs CREATEDB.
const EnvPostgresURL = "VSRP_TEST_POSTGRES_URL"

// adminTimeout bounds creating and dropping a test database: a server that does not answer
// fails the test instead of hanging it.
const adminTimeout = 30 * time.Second

// PostgresURL creates a fresh, empty PostgreSQL database for the test and answers its URL: the
// server, user and options of $VSRP_TEST_POSTGRES_URL with the new database's name. The
// database is named vsrp_test_<random hex> and is dropped (WITH (FORCE), so connections still
// open do not keep it) when the test and its subtests end. When the variable is unset the test
// is skipped; when the server cannot be reached or refuses, the test fails.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgresURL)
	if base == "" {
		t.Skip(EnvPostgresURL + " not set")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("storetest: %s: %v", EnvPostgresURL, err)
	}
	var suffix [8]byte
	_, _ = rand.Read(suffix[:]) // never fails (crypto/rand panics instead)
	// The name is made of [a-z0-9_] only, so it needs no quoting in the statements below.
	name := "vsrp_test_" + hex.EncodeToString(suffix[:])

	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := adminExec(ctx, base, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("storetest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// t.Context() is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		if err := adminExec(ctx, base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// adminExec runs one statement on its own connection to the server's maintenance database:
// CREATE and DROP DATABASE cannot run inside a transaction or on the database they name.
func adminExec(ctx context.Context, dsn, stmt string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, stmt)
	return err
}

// Open answers a migrated, empty store on the engine: SQLite in a file under t.TempDir(), or
// PostgreSQL in a fresh database from PostgresURL (so it skips the test when
// VSRP_TEST_POSTGRES_URL is unset). The store is closed when the test ends.
func Open(t testing.TB, engine store.Engine) *store.Store {
	t.Helper()
	s := openUnmigrated(t, engine)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("storetest: migrate %s: %v", engine, err)
	}
	return s
}

// openUnmigrated opens an empty database on the engine without running the migrations.
func openUnmigrated(t testing.TB, engine store.Engine) *store.Store {
	t.Helper()
	var dsn string
	switch engine {
	case store.SQLite:
		dsn = filepath.Join(t.TempDir(), "vsrp.db")
	case store.Postgres:
		dsn = PostgresURL(t)
	default:
		t.Fatalf("storetest: unknown engine %q", engine)
	}
	s := openDSN(t, dsn)
	if s.Engine() != engine {
		t.Fatalf("storetest: opened %s, want %s", s.Engine(), engine)
	}
	return s
}

var dsns sync.Map // *store.Store → the dsn it was opened on

func openDSN(t testing.TB, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(dsn)
	if err != nil {
		t.Fatalf("storetest: open: %v", err)
	}
	dsns.Store(s, dsn)
	// Cleanups run last-registered first: the store closes before its database is dropped
	// (PostgreSQL) or its directory removed (SQLite).
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("storetest: close %s: %v", s.Engine(), err)
		}
	})
	return s
}

// Reopen opens another store on the database of s (one from Open), as another process
// would. It is closed when the test ends.
func Reopen(t testing.TB, s *store.Store) *store.Store {
	t.Helper()
	dsn, ok := dsns.Load(s)
	if !ok {
		t.Fatal("storetest: Reopen of a store not opened by storetest")
	}
	return openDSN(t, dsn.(string))
}

// engines lists the engines Run runs on, in order.
var engines = []store.Engine{store.SQLite, store.Postgres}

// Run runs fn once per engine, as the subtests "sqlite" and "postgres", each on a fresh store
// from Open. The postgres subtest skips when VSRP_TEST_POSTGRES_URL is unset.
//
// The subtests run one after the other; fn may call t.Parallel to let them run beside other
// parallel tests (the two stores share nothing).
func Run(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			fn(t, Open(t, e))
		})
	}
}

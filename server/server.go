// Package server wires a running vsrp process: configuration, the store and its migrations,
// the master key, the platform, the HTTP API, background upkeep and graceful shutdown. The
// command's main and the end-to-end tests both start servers through it.
package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/httpapi"
	"github.com/vsrp-dev/vsrp/notify"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/sandbox"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/vault"
)

// Config is a server's configuration (contract section 10).
type Config struct {
	Addr                string   // listen address; "127.0.0.1:0" picks a free port
	DB                  string   // SQLite file path, or a postgres:// URL
	Sandbox             bool     // load demo data
	TrustedProxies      []string // CIDRs whose X-Forwarded-For is believed
	Timezone            string   // zone of answered datetimes; default Asia/Shanghai
	WebhookAllowPrivate bool     // allow loopback/private webhook destinations
	AdminToken          string   // admin API bearer token; random and printed when empty
	MasterKey           string   // base64 of 32 bytes; a key file beside a SQLite database when empty

	Platform    platform.Config // tunables; zero values take the contract's defaults
	NotifyLease time.Duration   // how long a webhook attempt holds its row; 0 = the notifier's default (notify.DefaultLease)
	Now         func() time.Time
	Log         io.Writer // JSON log lines; os.Stderr when nil
	Out         io.Writer // human-facing start-up notes (credentials paths); os.Stdout when nil
}

// Server is a running vsrp process.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    *store.Store
	platform *platform.Platform
	http     *http.Server
	notifier *notify.Worker
	jobs     sync.WaitGroup // the background jobs Start runs
	ln       net.Listener
	stop     context.CancelFunc
	done     chan struct{}
	// SandboxFile is where the sandbox wrote the demo credentials, if it did.
	SandboxFile string
	// Sandbox holds the demo credentials when the sandbox is on.
	Sandbox *sandbox.Credentials
}

// New binds the listen address, opens the database, runs migrations, makes sure the master key
// is the database's (it refuses another one) and prepares the API; Start serves it. When New
// fails it has printed nothing and holds nothing open.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.DB == "" {
		cfg.DB = "vsrp.db"
	}
	if cfg.Timezone == "" {
		cfg.Timezone = "Asia/Shanghai"
	}
	if cfg.Sandbox {
		cfg.WebhookAllowPrivate = true // a sandbox's receiver usually runs on the integrator's own machine
	}
	log := slog.New(slog.NewJSONHandler(cfg.Log, nil))
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("--timezone: %w", err)
	}
	proxies, err := parsePrefixes(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	// A key given in the environment is checked before the database is touched.
	var key []byte
	if cfg.MasterKey != "" {
		if key, err = vault.ParseMasterKey(cfg.MasterKey); err != nil {
			return nil, fmt.Errorf("VSRP_MASTER_KEY: %w", err)
		}
	} else if store.IsPostgres(cfg.DB) {
		return nil, errors.New("VSRP_MASTER_KEY is required with PostgreSQL (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)")
	}
	// The address is bound first: a port in use fails the start before it makes a database or
	// a key file, or prints an admin token that would never work.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, ln: ln, done: make(chan struct{})}
	defer func() {
		if err != nil {
			ln.Close()
			if s.store != nil {
				s.store.Close()
			}
		}
	}()
	st, err := store.Open(cfg.DB)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", store.Name(cfg.DB), err)
	}
	s.store = st
	if err := st.Migrate(ctx); err != nil {
		return nil, err
	}
	if key == nil {
		if key, err = keyFile(ctx, cfg.DB, st, log); err != nil {
			return nil, err
		}
	}
	v, err := vault.New(key)
	if err != nil {
		return nil, err
	}
	pcfg := cfg.Platform
	pcfg.AllowPrivateHooks = cfg.WebhookAllowPrivate
	pcfg.Sandbox = cfg.Sandbox
	p := platform.New(st, v, pcfg, cfg.Now, log)
	s.platform = p
	if err := p.CheckMasterKey(ctx); err != nil {
		if errors.Is(err, platform.ErrMasterKey) {
			return nil, wrongKey(cfg)
		}
		return nil, fmt.Errorf("check the master key: %w", err)
	}

	// Before the sandbox loads: a demo app it creates is warned of as it is created, once.
	if err := s.warnOpenApps(ctx); err != nil {
		return nil, err
	}
	if cfg.Sandbox {
		dir := "."
		if !store.IsPostgres(cfg.DB) {
			dir = filepath.Dir(cfg.DB)
		}
		path, creds, err := sandbox.Load(ctx, p, dir)
		if err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		s.SandboxFile, s.Sandbox = path, creds
	}

	s.notifier, err = notify.New(notify.Config{Store: st, Target: p.AppWebhookTarget, Clock: cfg.Now,
		AllowPrivate: cfg.WebhookAllowPrivate, Logger: log, Lease: cfg.NotifyLease})
	if err != nil {
		return nil, err
	}
	p.SetNotifier(s.notifier.Wake)

	// Nothing fails after this point: a token printed is a token that works.
	if cfg.AdminToken == "" {
		cfg.AdminToken = vault.NewToken()
		fmt.Fprintf(cfg.Out, "admin token (shown once, not stored): %s\n", cfg.AdminToken)
	}
	if s.Sandbox != nil {
		fmt.Fprintf(cfg.Out, "sandbox: demo app %s; credentials and public key written to %s\n", s.Sandbox.AppID, s.SandboxFile)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	api := httpapi.New(p, httpapi.Config{TrustedProxies: proxies, Location: loc, AdminToken: cfg.AdminToken, Sandbox: cfg.Sandbox}, log, reg)
	s.http = &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// warnOpenApps logs a warning for each app with an empty IP whitelist (sandbox use only).
func (s *Server) warnOpenApps(ctx context.Context) error {
	apps, err := s.platform.Apps(ctx)
	if err != nil {
		return err
	}
	for _, a := range apps {
		if len(a.IPWhitelist) == 0 {
			s.log.Warn("app has an empty IP whitelist: every address may call it", "app_id", a.ID)
		}
	}
	return nil
}

func parsePrefixes(in []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range in {
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			p, err := netip.ParsePrefix(part)
			if err != nil {
				a, aerr := netip.ParseAddr(part)
				if aerr != nil {
					return nil, err
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

// keyFile reads the master key of a SQLite database from the key file beside it (base64, mode
// 0600), or makes the file when there is none and the database was never used with a key. A
// database that was (its key check, or data sealed under a key) refuses a new key: the data
// would not open under it.
func keyFile(ctx context.Context, db string, st *store.Store, log *slog.Logger) ([]byte, error) {
	path := db + ".key"
	if b, err := os.ReadFile(path); err == nil {
		k, err := vault.ParseMasterKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("master key file %s: %w", path, err)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	used, err := usedWithKey(ctx, st)
	if err != nil {
		return nil, err
	}
	if used {
		return nil, fmt.Errorf("the database %s was sealed with a master key, but its key file %s is missing; restore %s or set VSRP_MASTER_KEY to its key (a new key would not open its data)",
			db, path, path)
	}
	key := vault.NewMasterKey()
	// A second server starting on the same new database at the same moment reads the first
	// one's key instead of replacing it.
	if err := writeKeyFile(path, key); errors.Is(err, os.ErrExist) {
		return keyFile(ctx, db, st, log)
	} else if err != nil {
		return nil, fmt.Errorf("write master key file: %w", err)
	}
	log.Warn("created a master key file beside the database; keep it safe and back it up with the database, which is unreadable without it", "path", path)
	return key, nil
}

// writeKeyFile makes the key file at path whole or not at all, and on disk before anything is
// sealed under the key: the key is written and synced to a temporary file beside it, which is
// then linked in under its name (os.ErrExist when another server made it first). A file made
// empty and then written would show empty for a moment: a server starting then, or restarted
// after a kill then, would read it and refuse to start for good; and a power loss before the
// file reached the disk could leave it empty under data already sealed and stored.
func writeKeyFile(path string, key []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(f.Name(), path); err != nil {
		return err
	}
	// The name, too, reaches the disk where the file system can sync a directory.
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		_ = dir.Sync()
		dir.Close()
	}
	return nil
}

// usedWithKey reports whether the database keeps a key check or holds sealed data.
func usedWithKey(ctx context.Context, st *store.Store) (bool, error) {
	if _, err := st.KeyCheck(ctx); err == nil {
		return true, nil
	} else if !errors.Is(err, vsrp.ErrNotFound) {
		return false, err
	}
	ss, err := st.SealedSamples(ctx)
	if err != nil {
		return false, err
	}
	return !ss.Empty(), nil
}

// wrongKey is the start-up error for a master key that is not the database's, saying where
// the key came from and what to do; it never holds the key.
func wrongKey(cfg Config) error {
	switch {
	case cfg.MasterKey != "":
		return errors.New("the database was sealed with another master key than VSRP_MASTER_KEY; set VSRP_MASTER_KEY to the key it was sealed with")
	default:
		path := cfg.DB + ".key"
		return fmt.Errorf("the database %s was sealed with another master key than the one in %s; restore the %s that belongs with this database, or set VSRP_MASTER_KEY to its key",
			cfg.DB, path, path)
	}
}

// Start serves, on the address New bound, in the background, with the upkeep jobs.
func (s *Server) Start() error {
	ln := s.ln
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.jobs.Go(func() { s.upkeep(ctx) })
	s.jobs.Go(func() { s.scheduler(ctx) })
	s.jobs.Go(func() {
		if err := s.notifier.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("notifier stopped", "err", err)
		}
	})
	go func() {
		defer close(s.done)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "err", err)
		}
	}()
	s.log.Info("listening", "addr", ln.Addr().String(), "engine", string(s.store.Engine()))
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Platform gives the server's platform (for tests and tools).
func (s *Server) Platform() *platform.Platform { return s.platform }

// Shutdown stops accepting requests, lets in-flight ones finish (until ctx ends), stops the
// upkeep and closes the database.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	if s.stop != nil { // started
		err = s.http.Shutdown(ctx)
		<-s.done
		s.stop()
		// The background jobs finish what they hold (a webhook attempt records its result)
		// before the database closes, unless ctx ends first.
		jobsDone := make(chan struct{})
		go func() { s.jobs.Wait(); close(jobsDone) }()
		select {
		case <-jobsDone:
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
		}
	} else {
		s.ln.Close()
	}
	if cerr := s.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// scheduler generates bills as they fall due and expires rewards, every 30 seconds.
func (s *Server) scheduler(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		if err := s.platform.RunDueWork(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduled work", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// upkeep purges expired tokens every hour.
func (s *Server) upkeep(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := s.store.PurgeTokens(ctx, s.cfg.Now().Add(-24*time.Hour))
			if err != nil {
				s.log.Warn("purge expired tokens", "err", err)
				continue
			}
			s.log.Info("purged expired tokens", "count", n)
		}
	}
}

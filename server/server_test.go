package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/server"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// syncBuffer is a bytes.Buffer safe for the server's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// run is one attempt to start a server: what it printed and logged, and the server when it
// started (shut down when the test ends).
type run struct {
	srv      *server.Server
	err      error
	out, log *syncBuffer
}

// newServer runs server.New and Start on cfg, with a loopback address on a free port, an admin
// token and buffers for the output unless cfg sets them.
func newServer(t *testing.T, cfg server.Config) run {
	t.Helper()
	r := run{out: &syncBuffer{}, log: &syncBuffer{}}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	cfg.Out, cfg.Log = r.out, r.log
	r.srv, r.err = server.New(context.Background(), cfg)
	if r.err != nil {
		r.srv = nil
		return r
	}
	if r.err = r.srv.Start(); r.err != nil {
		_ = r.srv.Shutdown(context.Background())
		r.srv = nil
		return r
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop shuts the server down, once.
func (r *run) stop(t *testing.T) {
	t.Helper()
	if r.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	r.srv = nil
}

func newMasterKey() string {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// createApp makes an app, so that the database holds sealed data (its webhook secret and RSA
// key).
func createApp(t *testing.T, srv *server.Server) string {
	t.Helper()
	name, wl := "sealed", []string{"127.0.0.1/32", "::1/128"}
	c, err := srv.Platform().CreateApp(context.Background(), platform.AppSpec{Name: &name, IPWhitelist: &wl})
	if err != nil {
		t.Fatal(err)
	}
	return c.AppID
}

// opensApp fails the test unless the server opens the app's sealed webhook secret.
func opensApp(t *testing.T, srv *server.Server, appID string) {
	t.Helper()
	p := srv.Platform()
	a, err := p.App(context.Background(), appID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WebhookSecrets(a); err != nil {
		t.Fatalf("the app's webhook secret does not open: %v", err)
	}
}

// refused fails the test unless the start was refused with an error holding every one of
// want, printed nothing and logged nothing of the keys.
func refused(t *testing.T, r run, keys []string, want ...string) {
	t.Helper()
	if r.err == nil {
		t.Fatal("the server started")
	}
	for _, w := range want {
		if !strings.Contains(r.err.Error(), w) {
			t.Errorf("error %q does not say %q", r.err, w)
		}
	}
	if r.out.String() != "" {
		t.Errorf("a refused start printed %q", r.out)
	}
	for _, k := range keys {
		if strings.Contains(r.err.Error(), k) || strings.Contains(r.log.String(), k) {
			t.Errorf("the error or the log holds a master key")
		}
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func noFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: %v, want no file", path, err)
	}
}

// A SQLite database started without its key file, or with another key, is refused, and no
// key file is made beside it; with its own key it starts and its sealed data opens.
func TestSQLiteRefusesAnotherMasterKey(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "vsrp.db")
	keyPath := db + ".key"
	first := newServer(t, server.Config{DB: db, AdminToken: "admin"})
	if first.err != nil {
		t.Fatal(first.err)
	}
	appID := createApp(t, first.srv)
	first.stop(t)
	key := readFile(t, keyPath)
	other := newMasterKey()
	keys := []string{strings.TrimSpace(string(key)), other}

	if err := os.Rename(keyPath, keyPath+".saved"); err != nil {
		t.Fatal(err)
	}
	t.Run("missing key file", func(t *testing.T) {
		r := newServer(t, server.Config{DB: db})
		refused(t, r, keys, "key file "+keyPath+" is missing", "restore "+keyPath, "VSRP_MASTER_KEY")
		noFile(t, keyPath)
	})
	t.Run("another VSRP_MASTER_KEY without the key file", func(t *testing.T) {
		r := newServer(t, server.Config{DB: db, MasterKey: other})
		refused(t, r, keys, "another master key", "VSRP_MASTER_KEY")
		noFile(t, keyPath)
	})
	if err := os.Rename(keyPath+".saved", keyPath); err != nil {
		t.Fatal(err)
	}
	t.Run("another VSRP_MASTER_KEY beside the key file", func(t *testing.T) {
		r := newServer(t, server.Config{DB: db, MasterKey: other})
		refused(t, r, keys, "another master key", "VSRP_MASTER_KEY")
	})
	t.Run("another key file", func(t *testing.T) {
		if err := os.WriteFile(keyPath, []byte(other+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := os.WriteFile(keyPath, key, 0o600); err != nil {
				t.Fatal(err)
			}
		}()
		r := newServer(t, server.Config{DB: db})
		refused(t, r, keys, "another master key", keyPath, "VSRP_MASTER_KEY")
	})
	t.Run("its own key file", func(t *testing.T) {
		r := newServer(t, server.Config{DB: db, AdminToken: "admin"})
		if r.err != nil {
			t.Fatal(r.err)
		}
		opensApp(t, r.srv, appID)
	})
	t.Run("its own key as VSRP_MASTER_KEY", func(t *testing.T) {
		if err := os.Rename(keyPath, keyPath+".saved"); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(keyPath+".saved", keyPath)
		r := newServer(t, server.Config{DB: db, AdminToken: "admin", MasterKey: string(key)})
		if r.err != nil {
			t.Fatal(r.err)
		}
		opensApp(t, r.srv, appID)
		noFile(t, keyPath)
	})
	if !bytes.Equal(readFile(t, keyPath), key) {
		t.Error("the key file changed")
	}
}

// A database that was started once holds the key's check value even with no sealed data yet:
// without its key file it is refused too.
func TestSQLiteUsedOnceRefusesMissingKeyFile(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "vsrp.db")
	first := newServer(t, server.Config{DB: db, AdminToken: "admin"})
	if first.err != nil {
		t.Fatal(first.err)
	}
	first.stop(t)
	if err := os.Remove(db + ".key"); err != nil {
		t.Fatal(err)
	}
	r := newServer(t, server.Config{DB: db})
	refused(t, r, nil, "key file", "is missing")
	noFile(t, db+".key")
}

// A database from before the key check (sealed data, no check value) is checked against its
// sealed data: another key is refused; its own key starts and the check value is written, so
// that a later start with another key is refused by it.
func TestDatabaseWithoutKeyCheck(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "vsrp.db")
	key := newMasterKey()
	first := newServer(t, server.Config{DB: db, AdminToken: "admin", MasterKey: key})
	if first.err != nil {
		t.Fatal(first.err)
	}
	appID := createApp(t, first.srv)
	first.stop(t)
	dropKeyCheck(t, db)

	r := newServer(t, server.Config{DB: db, MasterKey: newMasterKey()})
	refused(t, r, []string{key}, "another master key")
	noFile(t, db+".key")
	r = newServer(t, server.Config{DB: db})
	refused(t, r, []string{key}, "is missing")
	noFile(t, db+".key")

	r = newServer(t, server.Config{DB: db, AdminToken: "admin", MasterKey: key})
	if r.err != nil {
		t.Fatal(r.err)
	}
	opensApp(t, r.srv, appID)
	r.stop(t)
	if n := keyChecks(t, db); n != 1 {
		t.Fatalf("%d key check rows after the start, want 1", n)
	}
}

// openStore opens the database as a tool would, beside no server.
func openStore(t *testing.T, db string) *store.Store {
	t.Helper()
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func dropKeyCheck(t *testing.T, db string) {
	t.Helper()
	st := openStore(t, db)
	if _, err := st.DB().Exec(`DELETE FROM key_check`); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

func keyChecks(t *testing.T, db string) int {
	t.Helper()
	st := openStore(t, db)
	defer st.Close()
	var n int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM key_check`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// On PostgreSQL, a start with another VSRP_MASTER_KEY is refused.
func TestPostgresRefusesAnotherMasterKey(t *testing.T) {
	t.Parallel()
	db := storetest.PostgresURL(t)
	key := newMasterKey()
	first := newServer(t, server.Config{DB: db, AdminToken: "admin", MasterKey: key})
	if first.err != nil {
		t.Fatal(first.err)
	}
	appID := createApp(t, first.srv)
	first.stop(t)

	other := newMasterKey()
	r := newServer(t, server.Config{DB: db, MasterKey: other})
	refused(t, r, []string{key, other}, "another master key", "VSRP_MASTER_KEY")

	dropKeyCheck(t, db) // as a database from before the check
	r = newServer(t, server.Config{DB: db, MasterKey: other})
	refused(t, r, []string{key, other}, "another master key", "VSRP_MASTER_KEY")

	r = newServer(t, server.Config{DB: db, AdminToken: "admin", MasterKey: key})
	if r.err != nil {
		t.Fatal(r.err)
	}
	opensApp(t, r.srv, appID)
}

// A port in use fails the start before it prints an admin token or makes a file.
func TestPortInUse(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	r := newServer(t, server.Config{Addr: taken.Addr().String(), DB: filepath.Join(dir, "vsrp.db"), Sandbox: true})
	if r.err == nil || !strings.Contains(r.err.Error(), "address already in use") {
		t.Fatalf("start on a port in use: %v, want address already in use", r.err)
	}
	if r.out.String() != "" {
		t.Errorf("a start on a port in use printed %q", r.out)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("a start on a port in use made %d files, the first %s", len(files), files[0].Name())
	}
}

// A server that was made but never started shuts down, and its address is free again.
func TestShutdownWithoutStart(t *testing.T) {
	t.Parallel()
	srv, err := server.New(context.Background(), server.Config{Addr: "127.0.0.1:0", DB: filepath.Join(t.TempDir(), "vsrp.db"),
		AdminToken: "admin", Out: io.Discard, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the address is still held after Shutdown: %v", err)
	}
	ln.Close()
}

// The sandbox's demo app, which has an empty whitelist, is warned of once per start: on the
// first start (where it is created) and on a later one.
func TestSandboxWarnsOfOpenAppOnce(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "vsrp.db")
	for _, when := range []string{"first start", "restart"} {
		r := newServer(t, server.Config{DB: db, Sandbox: true, AdminToken: "admin"})
		if r.err != nil {
			t.Fatal(r.err)
		}
		if n := strings.Count(r.log.String(), "empty IP whitelist"); n != 1 {
			t.Errorf("%s: %d warnings of the demo app's empty whitelist, want 1:\n%s", when, n, r.log)
		}
		r.stop(t)
	}
}

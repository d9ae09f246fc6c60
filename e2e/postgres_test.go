package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver

	"github.com/vsrp-dev/vsrp/server"
)

// TestPostgres runs the scenarios on PostgreSQL when VSRP_TEST_POSTGRES_URL names a server
// (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), each on a database of
// its own that the test creates and drops.
func TestPostgres(t *testing.T) {
	base := os.Getenv("VSRP_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("VSRP_TEST_POSTGRES_URL is not set")
	}
	t.Parallel()
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *harness)
	}{
		{"HappyPath", scenarioHappyPath},
		{"ConcurrentFirstGetVuid", scenarioConcurrentFirstGetVuid},
		{"TenantIsolation", scenarioTenantIsolation},
		{"RefreshTokenReuseDetection", scenarioRefreshReuse},
	} {
		t.Run(sc.name, func(t *testing.T) {
			dsn := freshPostgres(t, base)
			sc.run(t, start(t, func(c *server.Config) {
				c.DB = dsn
				c.MasterKey = newMasterKey()
			}))
		})
	}
}

// freshPostgres creates a database vsrp_e2e_<random> on the server of base and drops it
// (WITH (FORCE)) when the test ends; it answers the new database's URL.
func freshPostgres(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("VSRP_TEST_POSTGRES_URL %q is not a postgres:// URL", base)
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := "vsrp_e2e_" + randomHex(8)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		t.Fatalf("CREATE DATABASE: %v", err)
	}
	// Registered before the server starts, so it runs after the server's shutdown.
	t.Cleanup(func() {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// newMasterKey is base64 of 32 random bytes, as VSRP_MASTER_KEY wants.
func newMasterKey() string {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

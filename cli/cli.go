// Package cli is the vsrp command line: `serve`, `migrate`, and the operator commands that
// talk to a running server's admin API.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/vsrp-dev/vsrp/server"
	"github.com/vsrp-dev/vsrp/store"
)

// ServeCmd runs the server.
type ServeCmd struct {
	Addr                string        `default:"127.0.0.1:8080" env:"VSRP_ADDR" help:"Listen address."`
	DB                  string        `default:"vsrp.db" env:"VSRP_DB" help:"SQLite file, or a postgres:// URL."`
	Sandbox             bool          `env:"VSRP_SANDBOX" help:"Load demo data (a demo app with printed credentials, BINs)."`
	TrustedProxies      []string      `env:"VSRP_TRUSTED_PROXIES" help:"CIDRs of proxies whose X-Forwarded-For is believed."`
	Timezone            string        `default:"Asia/Shanghai" env:"VSRP_TIMEZONE" help:"Zone of the datetimes answered."`
	WebhookAllowPrivate bool          `env:"VSRP_WEBHOOK_ALLOW_PRIVATE" help:"Allow loopback and private webhook destinations (sandboxes, tests)."`
	AdminToken          string        `env:"VSRP_ADMIN_TOKEN" help:"Admin API bearer token (random and printed once when unset)." hidden:""`
	MasterKey           string        `env:"VSRP_MASTER_KEY" help:"Base64 of 32 bytes; encrypts PANs and keys at rest." hidden:""`
	ShutdownTimeout     time.Duration `default:"30s" env:"VSRP_SHUTDOWN_TIMEOUT" help:"How long in-flight requests may take at shutdown."`
	NotifyLease         time.Duration `env:"VSRP_NOTIFY_LEASE" hidden:"" help:"How long a webhook attempt holds its row before another process may retry it (default 25s, so that an attempt of a process that died is retried within 30s; more than the 10s attempt timeout)."`
}

// MigrateCmd applies the database migrations and exits.
type MigrateCmd struct {
	DB string `default:"vsrp.db" env:"VSRP_DB" help:"SQLite file, or a postgres:// URL."`
}

type root struct {
	Serve    ServeCmd    `cmd:"" help:"Run the server."`
	Migrate  MigrateCmd  `cmd:"" help:"Apply database migrations and exit."`
	App      AppCmd      `cmd:"" help:"Create and list partner apps on a running server."`
	BIN      BINCmd      `cmd:"" name:"bin" help:"Import the BIN table (card number prefixes to issuers) into a running server."`
	Campaign CampaignCmd `cmd:"" help:"Manage campaigns on a running server."`
	Txn      TxnCmd      `cmd:"" help:"Import transactions into a running server."`
	Bill     BillCmd     `cmd:"" help:"List bills and move them through generate, approve and settle."`
}

type runCtx struct {
	out, errOut io.Writer
}

// Main runs the command line and answers the exit status.
func Main(args []string, out, errOut io.Writer) int {
	var cli root
	// Kong ends the process after --help; here its exit unwinds Parse instead (see parse), so
	// that nothing runs after the help and Main still answers (tests call it in-process).
	parser, err := kong.New(&cli, kong.Name("vsrp"), kong.Description("VSRP: card-linked rewards for Visa cards."),
		kong.Writers(out, errOut), kong.Exit(func(code int) { panic(kongExit{code}) }))
	if err != nil {
		fmt.Fprintln(errOut, err)
		return 2
	}
	kctx, exited, err := parse(parser, args)
	if exited != nil { // --help
		return exited.code
	}
	if err != nil {
		fmt.Fprintln(errOut, "vsrp:", err)
		return 2
	}
	if err := kctx.Run(&runCtx{out: out, errOut: errOut}); err != nil {
		fmt.Fprintln(errOut, "vsrp:", err)
		if es, ok := errors.AsType[*exitStatus](err); ok {
			return es.code
		}
		return 1
	}
	return 0
}

// kongExit is kong asking to end the process with a status (after printing --help).
type kongExit struct{ code int }

// parse runs parser.Parse and answers, when kong asked to exit, the status it asked for: the
// help flag's hook asks before the flags are checked or any command runs, and Parse must stop
// there, not go on to complain about required flags or answer a command to run.
func parse(parser *kong.Kong, args []string) (kctx *kong.Context, exited *kongExit, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(kongExit)
			if !ok {
				panic(r)
			}
			exited = &e
		}
	}()
	kctx, err = parser.Parse(args)
	return kctx, nil, err
}

// exitStatus is an outcome that is not a failure of the command but that scripts must see
// in the exit status (1 stays for failures).
type exitStatus struct {
	code int
	msg  string
}

func (e *exitStatus) Error() string { return e.msg }

// Run serves until SIGTERM or SIGINT, then lets in-flight requests finish.
func (c *ServeCmd) Run(rc *runCtx) error {
	if err := checkDB(c.DB); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	s, err := server.New(ctx, server.Config{
		Addr: c.Addr, DB: c.DB, Sandbox: c.Sandbox, TrustedProxies: c.TrustedProxies, Timezone: c.Timezone,
		WebhookAllowPrivate: c.WebhookAllowPrivate, AdminToken: c.AdminToken, MasterKey: c.MasterKey,
		Log: rc.errOut, Out: rc.out, NotifyLease: c.NotifyLease,
	})
	if err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		return err
	}
	fmt.Fprintf(rc.out, "vsrp listening on %s\n", s.URL())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	return s.Shutdown(sctx)
}

// Run applies the migrations.
func (c *MigrateCmd) Run(rc *runCtx) error {
	if err := checkDB(c.DB); err != nil {
		return err
	}
	st, err := store.Open(c.DB)
	if err != nil {
		return fmt.Errorf("database %s: %w", store.Name(c.DB), err)
	}
	defer st.Close()
	if err := st.Migrate(context.Background()); err != nil {
		return err
	}
	fmt.Fprintln(rc.out, "migrations applied")
	return nil
}

// checkDB fails, naming the file, when a SQLite database cannot be where --db says because
// its directory is missing: SQLite's own message names neither.
func checkDB(dsn string) error {
	if store.IsPostgres(dsn) {
		return nil
	}
	dir := filepath.Dir(dsn)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("database %s: directory %s does not exist", dsn, dir)
	case err != nil:
		return fmt.Errorf("database %s: %w", dsn, err)
	case !st.IsDir():
		return fmt.Errorf("database %s: %s is not a directory", dsn, dir)
	}
	return nil
}

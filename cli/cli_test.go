package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/server"
	"github.com/vsrp-dev/vsrp/store"
)

// run runs the command line against srv and answers its exit status and output.
func run(t *testing.T, srv *server.Server, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut strings.Builder
	code := Main(append(args, "--server", srv.URL(), "--admin-token", "cli-admin"), &out, &errOut)
	return code, out.String(), errOut.String()
}

// startServer starts a server on a temporary database; each option may change its settings.
func startServer(t *testing.T, options ...func(*server.Config)) *server.Server {
	t.Helper()
	cfg := server.Config{Addr: "127.0.0.1:0", DB: filepath.Join(t.TempDir(), "cli.db"),
		AdminToken: "cli-admin", Log: io.Discard, Out: io.Discard, MasterKey: "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ="}
	for _, o := range options {
		o(&cfg)
	}
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv
}

// testCampaign is a valid campaign document, in YAML.
const testCampaign = `campaignId: CMP-CLI
name: CLI campaign
timezone: Asia/Shanghai
startDate: 2027-01-01
endDate: 2027-03-31
currency: CNY
aggregation: card
enrollmentGroups:
  - enrollmentGroupId: EG-CLI
    name: g
    enrollStart: 2026-12-15T00:00:00+08:00
    enrollEnd: 2027-03-31T23:59:59+08:00
    capacity: 10
    eligibility: {}
offers:
  - offerId: OF-CLI
    name: o
    billing: {period: month, settlementDelayDays: 10}
    match: {mcc: ["5812"]}
    goal: {type: each}
    reward: {type: Cash, percent: 10, cap: 50.00}
`

func TestCampaignApplyDryRunThenApply(t *testing.T) {
	srv := startServer(t)
	dir := t.TempDir()
	doc := testCampaign
	file := filepath.Join(dir, "campaign.yaml")
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, srv, "campaign", "apply", "-f", file, "--dry-run")
	if code != 0 || !strings.Contains(out, "dry run: campaign CMP-CLI would become version 1") {
		t.Fatalf("dry run: %d %q %q", code, out, errOut)
	}
	if _, err := srv.Platform().Campaign(context.Background(), "CMP-CLI", 0); err == nil {
		t.Fatal("a dry run stored the campaign")
	}
	if code, out, _ := run(t, srv, "campaign", "apply", "-f", file); code != 0 || !strings.Contains(out, "applied as version 1") {
		t.Fatalf("apply: %d %q", code, out)
	}
	if code, out, _ := run(t, srv, "campaign", "apply", "-f", file); code != 0 || !strings.Contains(out, "unchanged (version 1)") {
		t.Fatalf("apply again: %d %q", code, out)
	}
	changed := strings.Replace(doc, "percent: 10", "percent: 12", 1)
	if err := os.WriteFile(file, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := run(t, srv, "campaign", "apply", "-f", file, "--dry-run"); code != 0 || !strings.Contains(out, "offers[0].reward.percent: 10 → 12") {
		t.Fatalf("dry run of a change: %d %q", code, out)
	}
	bad := strings.Replace(doc, `mcc: ["5812"]`, `mcc: ["581"]`, 1)
	bad = strings.Replace(bad, "Asia/Shanghai", "Mars/Base", 1)
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(t, srv, "campaign", "apply", "-f", file)
	if code == 0 || !strings.Contains(errOut, "offers[0].match.mcc[0]") || !strings.Contains(errOut, "timezone") {
		t.Fatalf("invalid document: %d %q; want every problem with its field path", code, errOut)
	}
}

func TestTxnImportSummary(t *testing.T) {
	srv := startServer(t)
	file := filepath.Join(t.TempDir(), "t.csv")
	now := time.Now().UTC().Format(time.RFC3339)
	csv := "transactionId,type,cardId,amount,currency,transactionTime,merchantId,merchantName,mcc,merchantCountry\n" +
		"T1,purchase,card_nope,10.00,CNY," + now + ",M,Shop,5812,CN\n" +
		"T2,purchase,card_nope,abc,CNY," + now + ",M,Shop,5812,CN\n"
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, srv, "txn", "import", file)
	if code != exitRowsRejected || !strings.Contains(errOut, "2 rows rejected") || !strings.Contains(out, "2 rows") || !strings.Contains(out, "0 accepted, 0 duplicates, 2 rejected") ||
		!strings.Contains(out, "row 1 (T1): unknown card") || !strings.Contains(out, "row 2 (T2): bad") {
		t.Fatalf("import: %d %q %q", code, out, errOut)
	}
	// Nothing rejected: exit 0 (a file of accepted rows exits 0 too: the import benchmark checks it).
	header := strings.SplitAfter(csv, "\n")[0]
	if err := os.WriteFile(file, []byte(header), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run(t, srv, "txn", "import", file); code != 0 || !strings.Contains(out, "0 rows") {
		t.Fatalf("empty import: %d %q %q", code, out, errOut)
	}
}

func TestBillListEmptyAndUnknownBill(t *testing.T) {
	srv := startServer(t)
	if code, out, _ := run(t, srv, "bill", "list"); code != 0 || out != "" {
		t.Fatalf("bill list: %d %q", code, out)
	}
	if code, _, errOut := run(t, srv, "bill", "generate", "bill_nope"); code == 0 || !strings.Contains(errOut, "HTTP 404") {
		t.Fatalf("unknown bill: %d %q", code, errOut)
	}
}

// A row the reader cannot read (a stray quote in CSV, broken JSON on an NDJSON line) is
// rejected on its own: the rows after it are still read.
func TestTxnImportUnreadableRowsDoNotStopTheFile(t *testing.T) {
	srv := startServer(t)
	now := time.Now().UTC().Format(time.RFC3339)
	dir := t.TempDir()
	csvFile, ndFile := filepath.Join(dir, "t.csv"), filepath.Join(dir, "t.ndjson")
	csv := "transactionId,type,cardId,amount,currency,transactionTime,merchantId,merchantName,mcc,merchantCountry\n" +
		"T1,purchase,card_nope,10.00,CNY," + now + ",M,Shop,5812,CN\n" +
		"T2,purchase,card_nope,10.00,CNY," + now + `,M,Joe's "Best" Diner,5812,CN` + "\n" +
		"T3,purchase,card_nope,10.00,CNY," + now + ",M,Shop,5812,CN\n"
	row := func(id string) string {
		return `{"transactionId":"` + id + `","type":"purchase","cardId":"card_nope","amount":1,"currency":"CNY","transactionTime":"` +
			now + `","merchantId":"M","merchantName":"S","mcc":"5812","merchantCountry":"CN"}` + "\n"
	}
	nd := row("N1") + `{"transactionId":"N2", broken` + "\n\n" + row("N3")
	for name, content := range map[string]string{csvFile: csv, ndFile: nd} {
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := run(t, srv, "txn", "import", csvFile)
	if code != exitRowsRejected || !strings.Contains(out, "3 rows") || !strings.Contains(out, "row 2 (): unreadable CSV row") ||
		!strings.Contains(out, "row 3 (T3): unknown card") {
		t.Fatalf("CSV import: %d %q %q", code, out, errOut)
	}
	code, out, errOut = run(t, srv, "txn", "import", ndFile)
	if code != exitRowsRejected || !strings.Contains(out, "3 rows") || !strings.Contains(out, "row 2 (): unreadable row") ||
		!strings.Contains(out, "row 3 (N3): unknown card") {
		t.Fatalf("NDJSON import: %d %q %q", code, out, errOut)
	}
}

// When reading stops (broken JSON in an array), the summary of the rows before it is still
// shown, with the server's message (once), and the command fails.
func TestTxnImportStoppedShowsSummary(t *testing.T) {
	srv := startServer(t)
	now := time.Now().UTC().Format(time.RFC3339)
	file := filepath.Join(t.TempDir(), "t.json")
	body := `[{"transactionId":"J1","type":"purchase","cardId":"card_nope","amount":1,"currency":"CNY","transactionTime":"` + now +
		`","merchantId":"M","merchantName":"S","mcc":"5812","merchantCountry":"CN"}, {"transactionId": broken`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, srv, "txn", "import", file)
	if code != 1 || !strings.Contains(out, "0 accepted, 0 duplicates, 1 rejected") || !strings.Contains(out, "row 1 (J1): unknown card") ||
		strings.Count(errOut, "reading stopped after row 1") != 1 {
		t.Fatalf("import: %d %q %q; want the server's message once", code, out, errOut)
	}
}

// mainTimeout runs the command line without a server's flags, failing the test if it does not
// answer within 10 seconds (a command that runs instead of showing help would serve forever).
func mainTimeout(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	type result struct {
		code        int
		out, errOut string
	}
	done := make(chan result, 1)
	go func() {
		var out, errOut strings.Builder
		code := Main(args, &out, &errOut)
		done <- result{code, out.String(), errOut.String()}
	}()
	select {
	case r := <-done:
		return r.code, r.out, r.errOut
	case <-time.After(10 * time.Second):
		t.Fatalf("vsrp %s did not return", strings.Join(args, " "))
		return 0, "", ""
	}
}

// --help prints the help and exits 0: it runs nothing and does not ask for required flags.
func TestHelpRunsNothing(t *testing.T) {
	t.Setenv("VSRP_ADMIN_TOKEN", "")
	os.Unsetenv("VSRP_ADMIN_TOKEN") // restored by t.Setenv's cleanup
	srv := startServer(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "campaign.yaml")
	if err := os.WriteFile(file, []byte(testCampaign), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--help"},
		{"-h"},
		{"serve", "--help", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "serve.db")},
		{"migrate", "--help", "--db", filepath.Join(dir, "migrate.db")},
		{"campaign", "apply", "-f", file, "--help"},
		{"campaign", "apply", "-f", filepath.Join(dir, "missing.yaml"), "--help"},
		{"campaign", "apply", "-f", file, "--help", "--server", srv.URL(), "--admin-token", "cli-admin"},
		{"txn", "import", "--help"},
		{"bill", "settle", "--help"},
	} {
		code, out, errOut := mainTimeout(t, args...)
		if code != 0 || !strings.Contains(out, "Usage: vsrp") || errOut != "" {
			t.Errorf("vsrp %s: %d %q %q", strings.Join(args, " "), code, out, errOut)
		}
	}
	for _, db := range []string{"serve.db", "migrate.db"} {
		if _, err := os.Stat(filepath.Join(dir, db)); err == nil {
			t.Errorf("--help created the database %s", db)
		}
	}
	if _, err := srv.Platform().Campaign(context.Background(), "CMP-CLI", 0); err == nil {
		t.Error("campaign apply --help applied the campaign")
	}
}

// testClock is a server clock the test moves.
type testClock struct{ now atomic.Int64 }

func (c *testClock) set(t time.Time)           { c.now.Store(t.UnixNano()) }
func (c *testClock) Now() time.Time            { return time.Unix(0, c.now.Load()) }
func (c *testClock) option(cfg *server.Config) { cfg.Now = c.Now }

// seedReward gives srv one reward of testCampaign, on a bill ready to generate, and answers
// its id and its bill's id: a card enrolled through an app on 2027-01-10 spends 100.00 at a
// restaurant that day, imported through the CLI. The clock is then 2027-01-11.
func seedReward(t *testing.T, srv *server.Server, clock *testClock) (rewardID, billID string) {
	t.Helper()
	ctx := context.Background()
	p := srv.Platform()
	clock.set(time.Date(2027, 1, 10, 0, 0, 0, 0, time.UTC))
	if err := p.UpsertBINs(ctx, []vsrp.BIN{{BIN: "411111", BID: "B1", IssuerName: "Test Bank", IssuingCountryCode: "CN",
		AccountFundingSource: "C"}}); err != nil {
		t.Fatal(err)
	}
	doc, err := yaml.YAMLToJSON([]byte(testCampaign))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ApplyCampaign(ctx, "CMP-CLI", doc, false); err != nil {
		t.Fatal(err)
	}
	name, campaigns := "seed", []string{"CMP-CLI"}
	whitelist := []string{"127.0.0.1/32", "::1/128"}
	creds, err := p.CreateApp(ctx, platform.AppSpec{Name: &name, CampaignIDs: &campaigns, IPWhitelist: &whitelist})
	if err != nil {
		t.Fatal(err)
	}
	app, err := p.App(ctx, creds.AppID)
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := p.Enroll(ctx, app, "4111111111111111", "EG-CLI", nil)
	if err != nil {
		t.Fatal(err)
	}
	clock.set(time.Date(2027, 1, 11, 0, 0, 0, 0, time.UTC))
	file := filepath.Join(t.TempDir(), "seed.csv")
	csv := "transactionId,type,cardId,amount,currency,transactionTime,merchantId,merchantName,mcc,merchantCountry\n" +
		"S1,purchase," + e.CardID + ",100.00,CNY,2027-01-10T12:00:00+08:00,M,Shop,5812,CN\n"
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run(t, srv, "txn", "import", file); code != 0 || !strings.Contains(out, "1 accepted") {
		t.Fatalf("seed import: %d %q %q", code, out, errOut)
	}
	rewards, _, err := p.AdminRewards(ctx, store.AdminRewardQuery{CampaignID: "CMP-CLI"})
	if err != nil || len(rewards) != 1 {
		t.Fatalf("seed rewards: %d (%v)", len(rewards), err)
	}
	return rewards[0].ID, rewards[0].Bill.ID
}

// A settlement message may hold commas: --result keeps it whole.
func TestBillSettleMessageWithCommas(t *testing.T) {
	var clock testClock
	srv := startServer(t, clock.option)
	rewardID, billID := seedReward(t, srv, &clock)
	for _, step := range []string{"generate", "approve"} {
		args := []string{"bill", step, billID}
		if step == "generate" {
			args = append(args, "--force")
		}
		if code, out, errOut := run(t, srv, args...); code != 0 {
			t.Fatalf("bill %s: %d %q %q", step, code, out, errOut)
		}
	}
	msg := "card closed, no payout"
	if code, out, errOut := run(t, srv, "bill", "settle", billID, "--result", rewardID+"=5:"+msg); code != 0 {
		t.Fatalf("bill settle: %d %q %q", code, out, errOut)
	}
	rewards, _, err := srv.Platform().AdminRewards(context.Background(), store.AdminRewardQuery{CampaignID: "CMP-CLI"})
	if err != nil || len(rewards) != 1 || rewards[0].Status != vsrp.RewardFailed || rewards[0].SettleMessage != msg {
		t.Fatalf("after settle: %+v (%v); want status 5 with the message %q", rewards, err, msg)
	}
	// The bill list names the state the settlement left the bill in, as the API's messages do.
	if code, out, errOut := run(t, srv, "bill", "list"); code != 0 || !strings.Contains(out, billID) || !strings.Contains(out, "settled with failures") {
		t.Fatalf("bill list: %d %q %q", code, out, errOut)
	}
}

// campaign apply reads YAML and JSON with or without a byte order mark, tells them apart by
// content when the extension does not say, and reports a syntax error with its line.
func TestCampaignApplyFormats(t *testing.T) {
	srv := startServer(t)
	dir := t.TempDir()
	var v any
	if err := yaml.Unmarshal([]byte(testCampaign), &v); err != nil {
		t.Fatal(err)
	}
	asJSON, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	brokenYAML := strings.Replace(testCampaign, "currency: CNY", "currency: [CNY", 1)
	brokenJSON := strings.Replace(string(asJSON), `"currency": "CNY",`, `"currency": "CNY",,`, 1)
	// The second comma of `  "currency": "CNY",,` is in column 21.
	jsonLine := fmt.Sprintf("line %d, column 21", strings.Count(brokenJSON[:strings.Index(brokenJSON, ",,")], "\n")+1)
	for _, tc := range []struct {
		name, content string
		want          []string // in the output when it succeeds, else in the error
		fails         bool
	}{
		{"plain.yaml", testCampaign, []string{"campaign CMP-CLI"}, false},
		{"bom.yaml", "\ufeff" + testCampaign, []string{"campaign CMP-CLI"}, false},
		{"bom.json", "\ufeff" + string(asJSON), []string{"campaign CMP-CLI"}, false},
		{"yaml.txt", testCampaign, []string{"campaign CMP-CLI"}, false},
		{"json.txt", string(asJSON), []string{"campaign CMP-CLI"}, false},
		{"noext", "\ufeff" + testCampaign, []string{"campaign CMP-CLI"}, false},
		{"broken.yaml", brokenYAML, []string{"broken.yaml: not valid YAML: [7:1]", ">  7 | aggregation: card"}, true},
		{"broken.txt", brokenYAML, []string{"broken.txt: not valid YAML: [7:"}, true},
		{"broken.json", brokenJSON, []string{"broken.json: not valid JSON: " + jsonLine + ": invalid character ','"}, true},
		{"broken-json.txt", brokenJSON, []string{"broken-json.txt: not valid JSON: " + jsonLine}, true},
		{"noid.yaml", "name: x\n", []string{"noid.yaml: no campaignId found"}, true},
	} {
		file := filepath.Join(dir, tc.name)
		if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := run(t, srv, "campaign", "apply", "-f", file)
		got := out
		if tc.fails {
			got = errOut
		}
		if (code != 0) != tc.fails {
			t.Errorf("%s: exit %d %q %q", tc.name, code, out, errOut)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q; want %q in it", tc.name, got, w)
			}
		}
	}
}

// txn import takes the format from --format where the extension does not say it, refuses to
// guess without it, and strips a byte order mark from NDJSON and JSON arrays.
func TestTxnImportFormatAndBOM(t *testing.T) {
	srv := startServer(t)
	dir := t.TempDir()
	now := time.Now().UTC().Format(time.RFC3339)
	row := func(id string) string {
		return `{"transactionId":"` + id + `","type":"purchase","cardId":"card_nope","amount":1,"currency":"CNY","transactionTime":"` +
			now + `","merchantId":"M","merchantName":"S","mcc":"5812","merchantCountry":"CN"}`
	}
	csv := "transactionId,type,cardId,amount,currency,transactionTime,merchantId,merchantName,mcc,merchantCountry\n" +
		"C1,purchase,card_nope,10.00,CNY," + now + ",M,Shop,5812,CN\n"
	nd := row("N1") + "\n" + row("N2") + "\n"
	arr := "[" + row("J1") + ",\n" + row("J2") + "]\n"
	for _, tc := range []struct {
		name, content string
		flags         []string
		want          []string // rows the server rejected as unknown cards, each read whole
	}{
		{"feed.txt", csv, []string{"--format", "csv"}, []string{"row 1 (C1): unknown card"}},
		{"feed.dat", nd, []string{"--format", "ndjson"}, []string{"row 1 (N1): unknown card", "row 2 (N2): unknown card"}},
		{"feed", arr, []string{"--format", "JSON"}, []string{"row 1 (J1): unknown card", "row 2 (J2): unknown card"}},
		{"bom.ndjson", "\ufeff" + nd, nil, []string{"row 1 (N1): unknown card", "row 2 (N2): unknown card"}},
		{"bom.jsonl", "\ufeff" + nd, nil, []string{"row 1 (N1): unknown card"}},
		{"bom.json", "\ufeff" + arr, nil, []string{"row 1 (J1): unknown card", "row 2 (J2): unknown card"}},
		{"bom.csv", "\ufeff" + csv, nil, []string{"row 1 (C1): unknown card"}},
		{"bom.txt", "\ufeff" + arr, []string{"--format", "json"}, []string{"row 1 (J1): unknown card"}},
	} {
		file := filepath.Join(dir, tc.name)
		if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := run(t, srv, append([]string{"txn", "import", file}, tc.flags...)...)
		if code != exitRowsRejected {
			t.Errorf("%s: exit %d %q %q; want %d", tc.name, code, out, errOut, exitRowsRejected)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: %q; want %q in it", tc.name, out, w)
			}
		}
	}
	// An extension that says no format, and no --format: nothing is sent, and the error says
	// what to do. A --format that is none of the three is refused too.
	file := filepath.Join(dir, "feed.txt")
	for _, flags := range [][]string{nil, {"--format", "xml"}} {
		code, out, errOut := run(t, srv, append([]string{"txn", "import", file}, flags...)...)
		if code != 1 || out != "" || !strings.Contains(errOut, "csv, ndjson or json") {
			t.Errorf("txn import feed.txt %v: %d %q %q", flags, code, out, errOut)
		}
	}
}

// A database that cannot be opened is named in the error, by migrate and by serve.
func TestDatabaseErrorNamesIt(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nonexistent", "x.db")
	for _, args := range [][]string{
		{"migrate", "--db", missing},
		{"migrate", "--db", dir}, // a directory: SQLite cannot open it
		{"serve", "--db", missing, "--addr", "127.0.0.1:0", "--admin-token", "x", "--master-key", "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ="},
		{"serve", "--db", dir, "--addr", "127.0.0.1:0", "--admin-token", "x", "--master-key", "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ="},
	} {
		code, _, errOut := mainTimeout(t, args...)
		if code != 1 || !strings.Contains(errOut, "database "+args[2]+":") {
			t.Errorf("vsrp %s: %d %q; want the database named", strings.Join(args, " "), code, errOut)
		}
	}
	if _, _, errOut := mainTimeout(t, "migrate", "--db", missing); !strings.Contains(errOut, filepath.Dir(missing)+" does not exist") {
		t.Errorf("missing directory: %q", errOut)
	}
	if got := store.Name("postgres://vsrp:s3cret@db.example:5432/vsrp?sslmode=require&password=s3cret"); strings.Contains(got, "s3cret") ||
		got != "postgres://vsrp:xxxxx@db.example:5432/vsrp" {
		t.Errorf("store.Name shows %q", got)
	}
}

// credential reads the value of a "label: value" line of app create's output.
func credential(t *testing.T, out, label string) string {
	t.Helper()
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(line, label+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in %q", label, out)
	return ""
}

// app create sends every setting, prints each credential once and labelled (on standard
// output only); app list shows the apps without secrets.
func TestAppCreateAndList(t *testing.T) {
	srv := startServer(t, func(cfg *server.Config) { cfg.WebhookAllowPrivate = true })
	ctx := context.Background()
	code, out, errOut := run(t, srv, "app", "create", "--name", "Partner", "--scope", "user", "--scope", "enroll",
		"--ip-whitelist", "203.0.113.0/24", "--ip-whitelist", "198.51.100.7", "--notify-url", "https://hooks.example/vsrp",
		"--campaign", "CMP-A", "--campaign", "CMP-B", "--bid", "B1")
	if code != 0 || errOut != "" {
		t.Fatalf("app create: %d %q %q", code, out, errOut)
	}
	appID := credential(t, out, "appId")
	secrets := []string{credential(t, out, "appSecret"), credential(t, out, "webhookSecret")}
	if credential(t, out, "keyId") == "" || !strings.Contains(out, "publicKeyPem:\n-----BEGIN PUBLIC KEY-----\n") ||
		!strings.Contains(out, "shown only now") {
		t.Errorf("app create output: %q", out)
	}
	for _, s := range secrets {
		if s == "" || strings.Count(out, s) != 1 {
			t.Errorf("secret %q shown %d times in %q", s, strings.Count(out, s), out)
		}
	}
	app, err := srv.Platform().App(ctx, appID)
	if err != nil {
		t.Fatal(err)
	}
	wl := fmt.Sprint(app.IPWhitelist)
	if app.Name != "Partner" || strings.Join(app.Scopes, ",") != "user,enroll" || wl != "[203.0.113.0/24 198.51.100.7/32]" ||
		app.NotifyURL != "https://hooks.example/vsrp" || strings.Join(app.CampaignIDs, ",") != "CMP-A,CMP-B" || strings.Join(app.BIDs, ",") != "B1" {
		t.Errorf("stored app: %+v", app)
	}
	// Outside sandbox mode an app needs a whitelist; without scopes it gets every scope.
	code, out, errOut = run(t, srv, "app", "create", "--name", "Open")
	if code != 1 || out != "" || !strings.Contains(errOut, "ipWhitelist") {
		t.Fatalf("app create without a whitelist: %d %q %q", code, out, errOut)
	}
	code, out, errOut = run(t, srv, "app", "create", "--name", "Open", "--ip-whitelist", "127.0.0.1/32")
	if code != 0 || strings.Contains(errOut, credential(t, out, "appSecret")) {
		t.Fatalf("app create without scopes: %d %q %q", code, out, errOut)
	}
	open, err := srv.Platform().App(ctx, credential(t, out, "appId"))
	if err != nil || strings.Join(open.Scopes, ",") != "user,enroll,reward" {
		t.Errorf("app without --scope: %+v (%v)", open, err)
	}
	code, out, errOut = run(t, srv, "app", "create", "--name", "Bad", "--scope", "admin", "--ip-whitelist", "nope")
	if code != 1 || out != "" || !strings.Contains(errOut, "scopes[0]: unknown scope") || !strings.Contains(errOut, "ipWhitelist[0]") {
		t.Errorf("invalid app: %d %q %q", code, out, errOut)
	}
	code, out, errOut = run(t, srv, "app", "list")
	if code != 0 || !strings.Contains(out, "APP ID") || !strings.Contains(out, appID) || !strings.Contains(out, "Open") ||
		!strings.Contains(out, "user,enroll ") || !strings.Contains(out, "203.0.113.0/24,198.51.100.7/32") {
		t.Errorf("app list: %d %q %q", code, out, errOut)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("app list shows a secret: %q", out)
		}
	}
}

// bin import sends CSV or a JSON array (by extension, else by content, a BOM stripped) and
// lists every row the server rejects, by row, exiting 1 with nothing imported.
func TestBINImport(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()
	dir := t.TempDir()
	csv := "bin,bid,issuerName,issuingCountryCode,accountFundingSource,isChip\n" +
		"411111,B1,First Bank,CN,C,true\n" +
		"42222222,B2,Second Bank,CN,D,0\n"
	arr := "\ufeff[{\"bin\": \"433333\", \"bid\": \"B3\", \"issuerName\": \"Third, Bank\", \"issuingCountryCode\": \"HK\", \"accountFundingSource\": \"P\"}]"
	for _, tc := range []struct{ name, content, want string }{
		{"bins.csv", csv, "2 BIN rows imported"},
		{"bins.txt", "\ufeff" + csv, "2 BIN rows imported"},
		{"bins.json", arr, "1 BIN rows imported"},
		{"bins", arr, "1 BIN rows imported"},
	} {
		file := filepath.Join(dir, tc.name)
		if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, errOut := run(t, srv, "bin", "import", file); code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: %d %q %q", tc.name, code, out, errOut)
		}
	}
	bins, err := srv.Platform().Store().BINs(ctx)
	if err != nil || len(bins) != 3 || bins[2].IssuerName != "Third, Bank" || !bins[0].IsChip {
		t.Fatalf("stored BINs: %+v (%v)", bins, err)
	}
	bad := csv + "511111,B5,Fifth,CN,C,true\n" + "444444,,Sixth,CN,X,no\n"
	file := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, srv, "bin", "import", file)
	if code != 1 || !strings.Contains(out, "0 BIN rows imported: 2 rows rejected") || !strings.Contains(out, "row 3: bin: must be 6 or 8 digits") ||
		!strings.Contains(out, "row 4: bid: required") || !strings.Contains(out, "row 4: accountFundingSource: must be D, C or P") ||
		!strings.Contains(errOut, "2 rows rejected; nothing was imported") {
		t.Errorf("bad rows: %d %q %q", code, out, errOut)
	}
	// A problem of the file's, not of a row, is the server's message.
	if err := os.WriteFile(file, []byte("bin,bank\n411111,B1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, srv, "bin", "import", file); code != 1 || !strings.Contains(errOut, `header[1]: unknown column "bank"`) {
		t.Errorf("bad header: %d %q", code, errOut)
	}
	if bins, err := srv.Platform().Store().BINs(ctx); err != nil || len(bins) != 3 {
		t.Errorf("a rejected file changed the BINs: %d (%v)", len(bins), err)
	}
}

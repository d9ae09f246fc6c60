package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/server"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// benchScale reads VSRP_BENCH_CARDS and VSRP_BENCH_TXNS (defaults: small, so that
// `go test -bench` stays quick; the figures use 100000 and 1000000).
func benchScale(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func luhn15(prefix string) string {
	sum := 0
	for i := 0; i < 15; i++ {
		d := int(prefix[14-i] - '0')
		if i%2 == 0 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return prefix + strconv.Itoa((10-sum%10)%10)
}

// BenchmarkImportCSV ingests a CSV of transactions through the CLI into a server, as an
// operator would: `vsrp txn import FILE`. Cards, enrollments and the campaign (3 offers) are
// set up first through the platform; then the server runs as a process of its own (this test
// binary, re-executed) so that its peak memory is its own, and only the import is timed.
//
//	VSRP_BENCH_CARDS=100000 VSRP_BENCH_TXNS=1000000 go test -run=^$ -bench=ImportCSV -benchtime=1x ./cli/
//
// With VSRP_BENCH_DB=postgres it runs on PostgreSQL (VSRP_TEST_POSTGRES_URL must be set);
// VSRP_BENCH_SERVER_CPUPROFILE=FILE writes the server process's CPU profile,
// VSRP_BENCH_SERVER_MEMPROFILE=FILE its heap profile, and VSRP_BENCH_SERVER_LOG=FILE keeps its log.
func BenchmarkImportCSV(b *testing.B) {
	cards, txns := benchScale("VSRP_BENCH_CARDS", 2000), benchScale("VSRP_BENCH_TXNS", 20000)
	dir := b.TempDir()
	db := filepath.Join(dir, "bench.db")
	if os.Getenv("VSRP_BENCH_DB") == "postgres" {
		db = storetest.PostgresURL(b)
	}
	ctx := context.Background()
	// The server's clock runs from 2026-08-20 while the cards enroll, and from just after the
	// last transaction (2026-11-30) during the import, so that every purchase falls after its
	// card's enrollment and none is in the future: the import evaluates real rewards.
	seedAt, importAt := time.Date(2026, 8, 20, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC)
	srv := benchServer(b, db, io.Discard, seedAt)
	ids := seedBench(b, srv.Platform(), cards)
	if err := srv.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(dir, "txns.csv")
	writeBenchCSV(b, file, ids, txns)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "VSRP_BENCH_SERVE="+db, "VSRP_BENCH_SERVE_AT="+importAt.Format(time.RFC3339))
	logs, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = logs
	if keep := os.Getenv("VSRP_BENCH_SERVER_LOG"); keep != "" {
		if logs, err = os.Create(keep); err != nil {
			b.Fatal(err)
		}
		cmd.Stderr = logs
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	url, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("server process: %v", err)
	}
	url = strings.TrimSpace(url)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		var out, errOut strings.Builder
		if code := Main([]string{"txn", "import", "--server", url, "--admin-token", "bench", file}, &out, &errOut); code != 0 {
			tail, _ := os.ReadFile(logs.Name())
			b.Fatalf("import failed: %s %s\nserver log tail: %s", out.String(), errOut.String(), tail[max(0, len(tail)-3000):])
		}
		b.ReportMetric(float64(txns)/time.Since(start).Seconds(), "txns/s")
		if !strings.Contains(out.String(), fmt.Sprintf("%d accepted", txns)) && b.N == 1 {
			b.Fatalf("not every row accepted: %s", out.String())
		}
	}
	b.StopTimer()
	b.ReportMetric(peakRSS(b, cmd.Process.Pid), "server-peak-RSS-MiB")
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
	// The import must have produced rewards, or it measured nothing of the engine.
	srv = benchServer(b, db, io.Discard, importAt)
	defer srv.Shutdown(ctx)
	_, total, err := srv.Platform().AdminRewards(ctx, store.AdminRewardQuery{CampaignID: "CMP-BENCH", Limit: 1})
	if err != nil || total == 0 {
		b.Fatalf("no rewards after the import (%v)", err)
	}
	b.ReportMetric(float64(total), "rewards")
}

const benchMasterKey = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="

// benchServer starts a server on the database whose clock starts at the time given.
func benchServer(tb testing.TB, db string, log io.Writer, at time.Time) *server.Server {
	offset := time.Until(at)
	srv, err := server.New(context.Background(), server.Config{Addr: "127.0.0.1:0", DB: db, AdminToken: "bench", Log: log,
		Out: io.Discard, MasterKey: benchMasterKey, Now: func() time.Time { return time.Now().Add(offset) }})
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		tb.Fatal(err)
	}
	return srv
}

// TestMain serves the benchmark's server process when VSRP_BENCH_SERVE names a database: it
// prints the server's URL and serves until interrupted.
func TestMain(m *testing.M) {
	db := os.Getenv("VSRP_BENCH_SERVE")
	if db == "" {
		os.Exit(m.Run())
	}
	at, err := time.Parse(time.RFC3339, os.Getenv("VSRP_BENCH_SERVE_AT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "VSRP_BENCH_SERVE_AT:", err)
		os.Exit(2)
	}
	if prof := os.Getenv("VSRP_BENCH_SERVER_CPUPROFILE"); prof != "" { // where the server's time goes
		f, err := os.Create(prof)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cpu profile:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	srv := benchServer(&exitTB{}, db, os.Stderr, at)
	fmt.Println(srv.URL())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	<-stop
	if prof := os.Getenv("VSRP_BENCH_SERVER_MEMPROFILE"); prof != "" { // what the server's heap holds
		if f, err := os.Create(prof); err == nil {
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			status, _ := os.ReadFile("/proc/self/status")
			fmt.Fprintf(os.Stderr, "go heap: sys %d MiB, in use %d MiB, peak-ish %d MiB\n%s", ms.HeapSys>>20, ms.HeapInuse>>20, ms.Sys>>20, status)
			f.Close()
		}
	}
	_ = srv.Shutdown(context.Background())
	pprof.StopCPUProfile()
	os.Exit(0)
}

// exitTB is the testing.TB of the server process: a failure ends the process.
type exitTB struct{ testing.TB }

func (exitTB) Fatal(args ...any) { fmt.Fprintln(os.Stderr, args...); os.Exit(2) }

// peakRSS answers a process's peak resident set (VmHWM) in MiB.
func peakRSS(b *testing.B, pid int) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	b.Fatalf("no VmHWM for process %d", pid)
	return 0
}

// seedBench sets up BINs, a campaign with 3 offers (each, spend, count) and one open group, an
// app granted it, and n cards enrolled through the app; it answers the card ids.
func seedBench(b *testing.B, p *platform.Platform, n int) []string {
	ctx := context.Background()
	if err := p.UpsertBINs(ctx, []vsrp.BIN{{BIN: "411111", BID: "B1", IssuerName: "Bench Bank", IssuingCountryCode: "CN",
		AccountFundingSource: "C"}}); err != nil {
		b.Fatal(err)
	}
	doc, _ := json.Marshal(map[string]any{
		"campaignId": "CMP-BENCH", "name": "Bench", "timezone": "Asia/Shanghai", "startDate": "2026-01-01", "endDate": "2027-12-31",
		"currency": "CNY", "aggregation": "card",
		"enrollmentGroups": []any{map[string]any{"enrollmentGroupId": "EG-BENCH", "name": "g", "enrollStart": "2026-01-01T00:00:00+08:00",
			"enrollEnd": "2027-12-31T00:00:00+08:00", "capacity": 0, "eligibility": map[string]any{}}},
		"offers": []any{
			map[string]any{"offerId": "OF-B-EACH", "name": "each", "billing": map[string]any{"period": "month", "settlementDelayDays": 90},
				"match": map[string]any{"mcc": []string{"5812"}, "minAmount": 10}, "goal": map[string]any{"type": "each"},
				"reward": map[string]any{"type": "Cash", "percent": 5, "cap": 20}, "limits": map[string]any{"perCardPerPeriod": 5}},
			map[string]any{"offerId": "OF-B-SPEND", "name": "spend", "billing": map[string]any{"period": "month", "settlementDelayDays": 90},
				"match": map[string]any{}, "goal": map[string]any{"type": "spend", "threshold": 500},
				"reward": map[string]any{"type": "Cash", "amount": 30}},
			map[string]any{"offerId": "OF-B-COUNT", "name": "count", "billing": map[string]any{"period": "week", "settlementDelayDays": 90},
				"match": map[string]any{"mcc": []string{"5411"}}, "goal": map[string]any{"type": "count", "threshold": 3},
				"reward": map[string]any{"type": "Point", "amount": 100}},
		},
	})
	if _, err := p.ApplyCampaign(ctx, "CMP-BENCH", doc, false); err != nil {
		b.Fatal(err)
	}
	name, campaigns, whitelist := "bench", []string{"CMP-BENCH"}, []string{"127.0.0.1/32", "::1/128"}
	creds, err := p.CreateApp(ctx, platform.AppSpec{Name: &name, CampaignIDs: &campaigns, IPWhitelist: &whitelist})
	if err != nil {
		b.Fatal(err)
	}
	app, err := p.App(ctx, creds.AppID)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		e, _, err := p.Enroll(ctx, app, luhn15(fmt.Sprintf("4111110%08d", i)), "EG-BENCH", nil)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = e.CardID
	}
	return ids
}

// writeBenchCSV writes n purchases spread over the cards and three months, with a refund for
// about one purchase in fifty. The rows are in random time order, or in time order (as a daily
// feed is) with VSRP_BENCH_ORDER=time.
func writeBenchCSV(b *testing.B, path string, cards []string, n int) {
	inOrder := os.Getenv("VSRP_BENCH_ORDER") == "time"
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "transactionId,type,originalTransactionId,cardId,amount,currency,transactionTime,merchantId,merchantName,mcc,merchantCountry")
	rng := rand.New(rand.NewPCG(7, 7))
	base := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	mccs := []string{"5812", "5411", "5999"}
	for i := 0; i < n; i++ {
		card := cards[rng.IntN(len(cards))]
		at := base.Add(time.Duration(rng.Int64N(int64(90 * 24 * time.Hour))))
		if inOrder {
			at = base.Add(time.Duration(i) * (90 * 24 * time.Hour / time.Duration(n)))
		}
		amount := 10 + rng.IntN(40000)
		fmt.Fprintf(w, "T%09d,purchase,,%s,%d.%02d,CNY,%s,M%d,Merchant,%s,CN\n", i, card, amount/100, amount%100,
			at.Format(time.RFC3339), rng.IntN(1000), mccs[rng.IntN(3)])
		if i%50 == 49 && i+1 < n {
			i++
			fmt.Fprintf(w, "T%09d,refund,T%09d,%s,0.05,CNY,%s,M1,Merchant,5812,CN\n", i, i-1, card, at.Add(time.Hour).Format(time.RFC3339))
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

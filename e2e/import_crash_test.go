package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/server"
)

// A server killed with SIGKILL in the middle of a large CSV import (issue 4) loses nothing it
// had committed and leaves no batch half-applied. The file streams in while the test watches
// the rewards grow; once two 10,000-row batches have visibly committed, and with the rest of
// the file not yet sent, the server is killed. After a restart on the same database, sending
// the whole file again stores what was missing and answers the rest as duplicates; every bill
// and every spend reward then equals those of a clean import of the same file into a copy of
// the database taken before either import. A batch whose transactions were stored without its
// rewards would show as missing `each` rewards (its rows come back as duplicates and are not
// evaluated again); rewards stored without their transactions would be evaluated again when
// the resend accepts the rows (the spend rewards' running totals would count them twice).
func TestKilledImportResentMatchesCleanImport(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts server processes; skipped with -short")
	}
	const (
		cards = 300
		rows  = 60_000 // six batches
		early = 35_000 // the rows sent before the kill
	)
	dir := t.TempDir()
	bin := buildServer(t, dir)
	ids := seedImportDB(t, filepath.Join(dir, "seed.db"), cards)
	crashDB, cleanDB := filepath.Join(dir, "crash.db"), filepath.Join(dir, "clean.db")
	copyDB(t, filepath.Join(dir, "seed.db"), crashDB)
	copyDB(t, filepath.Join(dir, "seed.db"), cleanDB)
	file := importFile(ids, rows, time.Now().Add(-importSeedAge+time.Hour), time.Now().Add(-2*time.Hour))

	// The import streams through a pipe: only the first rows are ever written.
	srv := startServer(t, bin, crashDB, dir)
	pr, pw := io.Pipe()
	defer pw.Close()
	sent := make(chan error, 1)
	go func() {
		_, err := pw.Write(file[:lineEnd(file, early+1)]) // the header and the early rows
		sent <- err
	}()
	type answer struct {
		status int
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		_, status, err := postCSV(srv, pr)
		answered <- answer{status, err}
	}()
	// One batch holds at most 10,000 purchases: more each rewards than that means the first
	// two batches (rows 1 to 20,000) are committed.
	seen := 0
	var firstAt time.Time // when the first batch was seen committed
	for deadline := time.Now().Add(60 * time.Second); seen <= 10_000; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s, %d each rewards: the server never committed two batches", seen)
		}
		select {
		case a := <-answered:
			t.Fatalf("the import answered HTTP %d (%v) before the kill, with %d each rewards", a.status, a.err, seen)
		default:
		}
		if seen = eachRewards(t, srv); seen > 0 && firstAt.IsZero() {
			firstAt = time.Now()
		}
	}
	// The third batch's commit began as the second's ended (it was read and checked
	// meanwhile): the kill lands about halfway through it, half the time the second took, while
	// its database transaction is open. This wait places the kill; it synchronizes nothing, and
	// whenever it lands the outcome must be the same.
	if !firstAt.IsZero() {
		time.Sleep(time.Since(firstAt) / 2)
	}
	if err := srv.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown
		t.Fatal(err)
	}
	_ = srv.cmd.Wait()
	pw.CloseWithError(errors.New("server killed"))
	if a := <-answered; a.err == nil {
		t.Fatalf("the import answered HTTP %d though the server was killed before the file was sent", a.status)
	}
	<-sent

	// What the kill left: whole batches (the rows a resend finds stored), each with its
	// rewards, and at least the two seen committed.
	again := startServer(t, bin, crashDB, dir)
	kept := eachRewards(t, again)
	resent, status, err := postCSV(again, bytes.NewReader(file))
	if err != nil || status != http.StatusOK {
		t.Fatalf("resend: HTTP %d %v %+v", status, err, resent)
	}
	if resent.Accepted+resent.Duplicates != rows || resent.Rejected != 0 || len(resent.Errors) != 0 {
		t.Fatalf("resend answered %+v: want accepted + duplicates = %d and nothing rejected", resent, rows)
	}
	stored := resent.Duplicates
	t.Logf("killed with %d each rewards seen; after the restart %d rows stored, %d each rewards", seen, stored, kept)
	if stored < 20_000 || stored%10_000 != 0 || kept < seen || kept != purchases(file, stored) {
		t.Errorf("the kill left %d rows stored (want whole batches, at least 20,000) and %d each rewards (want one per purchase of "+
			"the rows stored, %d, and at least the %d seen)", stored, kept, purchases(file, stored), seen)
	}

	clean := startServer(t, bin, cleanDB, dir)
	first, status, err := postCSV(clean, bytes.NewReader(file))
	if err != nil || status != http.StatusOK || first.Accepted != rows || first.Duplicates != 0 || first.Rejected != 0 {
		t.Fatalf("clean import: HTTP %d %v %+v", status, err, first)
	}

	want, got := rewardState(t, clean), rewardState(t, again)
	met := 0
	for _, r := range want.spend {
		if r.Status == "1" {
			met++
		}
	}
	if want.eachTotal == 0 || len(want.bills) < 2 || len(want.spend) < cards || met == 0 || met == len(want.spend) {
		t.Fatalf("the clean import rewarded too little to compare: %d each rewards, %d bills, %d spend rewards (%d met)",
			want.eachTotal, len(want.bills), len(want.spend), met)
	}
	if got.eachTotal != want.eachTotal {
		t.Errorf("each rewards: %d after the crash and resend, %d after a clean import", got.eachTotal, want.eachTotal)
	}
	t.Logf("compared %d bills, %d spend rewards (%d met) and %d each rewards", len(want.bills), len(want.spend), met, want.eachTotal)
	diff(t, "bill", got.bills, want.bills)
	diff(t, "spend reward", got.spend, want.spend)
}

// importSeedAge is how long before the test the cards enrolled: the file's purchases fall
// between then and now.
const importSeedAge = 4 * 24 * time.Hour

const importMasterKey = "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ="

// buildServer builds the vsrp command without the race detector. Under -race the test binary
// (what startChild runs) ingests about 1,000 rows a second, the plain build about 15,000: the
// file would take minutes, not seconds. The server's code is race-checked by the in-process
// tests; this one is about what a kill leaves on disk.
func buildServer(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "vsrp")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/vsrp-dev/vsrp/cmd/vsrp").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startServer runs `vsrp serve` from bin on db, as startChild does with the test binary.
func startServer(t *testing.T, bin, db, logDir string) *child {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--addr", addr, "--db", db)
	cmd.Env = append(os.Environ(), "VSRP_ADMIN_TOKEN=crash-admin", "VSRP_MASTER_KEY="+importMasterKey)
	return startProcess(t, cmd, addr, logDir)
}

// seedImportDB sets up, on a server whose clock runs importSeedAge behind, BINs, a campaign
// with an each offer (one reward per purchase) and a daily spend offer (running totals of
// every transaction), an app granted it, and n cards enrolled through the app on the platform
// itself (the App API's RSA would cost seconds); it answers the card ids.
func seedImportDB(t *testing.T, db string, n int) []string {
	t.Helper()
	h := start(t, func(c *server.Config) {
		c.DB, c.MasterKey, c.Log = db, importMasterKey, io.Discard
		c.Now = func() time.Time { return time.Now().Add(-importSeedAge) }
	})
	h.loadBINs()
	seedAt, sh := time.Now().Add(-importSeedAge), time.FixedZone("Asia/Shanghai", 8*3600)
	h.adminDo(http.MethodPut, "/admin/v1/campaigns/CMP-IMPORT", map[string]any{"campaignId": "CMP-IMPORT", "name": "import",
		"timezone": "Asia/Shanghai", "startDate": seedAt.In(sh).AddDate(0, 0, -1).Format(time.DateOnly),
		"endDate": time.Now().In(sh).AddDate(0, 0, 30).Format(time.DateOnly), "currency": "CNY", "aggregation": "card",
		"enrollmentGroups": []any{map[string]any{"enrollmentGroupId": "EG-IMPORT", "name": "g",
			"enrollStart": seedAt.Add(-time.Hour).Format(time.RFC3339), "enrollEnd": time.Now().Add(24 * time.Hour).Format(time.RFC3339),
			"capacity": 0, "eligibility": map[string]any{}}},
		// Bills fall due long after the test: the scheduler generates none of them.
		"offers": []any{
			map[string]any{"offerId": "OF-EACH", "name": "each", "billing": map[string]any{"period": "month", "settlementDelayDays": 60},
				"match": map[string]any{}, "goal": map[string]any{"type": "each"},
				"reward": map[string]any{"type": "Cash", "percent": 5, "cap": 20}},
			map[string]any{"offerId": "OF-SPEND", "name": "spend", "billing": map[string]any{"period": "day", "settlementDelayDays": 60},
				"match": map[string]any{}, "goal": map[string]any{"type": "spend", "threshold": 10000},
				"reward": map[string]any{"type": "Cash", "amount": 30}},
		},
	}, http.StatusOK, nil)
	a := h.createApp(map[string]any{"campaignIds": []string{"CMP-IMPORT"}})
	ctx := context.Background()
	p := h.srv.Platform()
	app, err := p.App(ctx, a.AppID)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		e, _, err := p.Enroll(ctx, app, pan("411111", 700000+i), "EG-IMPORT", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = e.CardID
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// copyDB copies a SQLite database that no process has open (with its WAL, if one is left).
func copyDB(t *testing.T, from, to string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(from + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// importFile is a CSV of n rows over the cards, in random time order between from and to: purchases,
// and after about one in fifty a partial refund of it.
func importFile(cards []string, n int, from, to time.Time) []byte {
	var b bytes.Buffer
	b.WriteString("transactionId,type,originalTransactionId,cardId,amount,currency,transactionTime,merchantId,merchantName,mcc,merchantCountry\n")
	rng := rand.New(rand.NewPCG(4, 4))
	for i := 0; i < n; i++ {
		card := cards[rng.IntN(len(cards))]
		at := from.Add(time.Duration(rng.Int64N(int64(to.Sub(from)))))
		amount := 10 + rng.IntN(40000)
		fmt.Fprintf(&b, "IMP%07d,purchase,,%s,%d.%02d,CNY,%s,M%d,Merchant,5812,CN\n", i, card, amount/100, amount%100,
			at.Format(time.RFC3339Nano), rng.IntN(100))
		if i%50 == 49 && i+1 < n {
			i++
			fmt.Fprintf(&b, "IMP%07d,refund,IMP%07d,%s,0.05,CNY,%s,M1,Merchant,5812,CN\n", i, i-1, card,
				at.Add(time.Hour).Format(time.RFC3339Nano))
		}
	}
	return b.Bytes()
}

// purchases counts the purchases among the first n rows of a CSV file.
func purchases(file []byte, n int) int {
	return bytes.Count(file[lineEnd(file, 1):lineEnd(file, n+1)], []byte(",purchase,"))
}

// lineEnd answers the offset just after the nth line of b.
func lineEnd(b []byte, n int) int {
	at := 0
	for range n {
		at += bytes.IndexByte(b[at:], '\n') + 1
	}
	return at
}

// importAnswer is the answer of POST /admin/v1/transactions.
type importAnswer struct {
	Accepted, Duplicates, Rejected int
	Errors                         []json.RawMessage
	Error                          map[string]any // when the import stopped
}

// postCSV sends a CSV body to POST /admin/v1/transactions and answers the decoded answer.
func postCSV(c *child, body io.Reader) (importAnswer, int, error) {
	var ans importAnswer
	req, err := http.NewRequest(http.MethodPost, c.url+"/admin/v1/transactions", body)
	if err != nil {
		return ans, 0, err
	}
	req.Header.Set("Authorization", "Bearer crash-admin")
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ans, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err == nil {
		if err = json.Unmarshal(raw, &ans); err != nil {
			err = fmt.Errorf("%v: %s", err, raw)
		}
	}
	return ans, resp.StatusCode, err
}

// eachRewards counts the each offer's rewards, voided ones included: one per purchase stored.
func eachRewards(t *testing.T, c *child) int {
	t.Helper()
	var page struct{ Total int }
	c.admin(t, http.MethodGet, "/admin/v1/rewards?campaignId=CMP-IMPORT&offerId=OF-EACH&limit=1", nil, &page)
	return page.Total
}

// billTotals is what a bill says of its rewards.
type billTotals struct {
	OfferID     string      `json:"offerId"`
	Status      int         `json:"status"`
	StartDate   string      `json:"StartDate"`
	RewardCount int         `json:"rewardCount"`
	TotalAmount json.Number `json:"totalAmount"`
	Adjustments []any       `json:"adjustments"`
}

// spendReward is a spend reward without its timestamps (which differ between two imports).
type spendReward struct {
	Status           string      `json:"status"`
	CalculatedAmount json.Number `json:"calculatedAmount"`
	CalculateMessage string      `json:"calculateMessage"`
	EventCount       int64       `json:"eventCount"`
	EventTotalAmount json.Number `json:"eventTotalAmount"`
	Voided           bool        `json:"voided"`
	CardIDs          []string    `json:"cardIds"`
	Bill             struct {
		BillID string `json:"billId"`
	} `json:"bill"`
}

// importState is the reward state an import leaves: every bill's totals by bill id, every
// spend reward (one per card and day) by reward id, and the number of each rewards.
type importState struct {
	bills     map[string]billTotals
	spend     map[string]spendReward
	eachTotal int
}

func rewardState(t *testing.T, c *child) importState {
	t.Helper()
	s := importState{bills: map[string]billTotals{}, spend: map[string]spendReward{}, eachTotal: eachRewards(t, c)}
	var bills struct {
		Bills []struct {
			BillID string `json:"billId"`
			billTotals
		}
	}
	c.admin(t, http.MethodGet, "/admin/v1/bills?campaignId=CMP-IMPORT", nil, &bills)
	for _, b := range bills.Bills {
		s.bills[b.BillID] = b.billTotals
	}
	for total := -1; total < 0 || len(s.spend) < total; {
		var page struct {
			Total   int
			Rewards []struct {
				RewardID string `json:"rewardId"`
				spendReward
			}
		}
		c.admin(t, http.MethodGet, fmt.Sprintf("/admin/v1/rewards?campaignId=CMP-IMPORT&offerId=OF-SPEND&limit=500&offset=%d", len(s.spend)), nil, &page)
		if len(page.Rewards) == 0 && page.Total > len(s.spend) {
			t.Fatalf("spend rewards: %d of %d, then an empty page", len(s.spend), page.Total)
		}
		for _, r := range page.Rewards {
			s.spend[r.RewardID] = r.spendReward
		}
		total = page.Total
	}
	return s
}

// diff reports up to five keys whose values differ between got and want.
func diff[V any](t *testing.T, what string, got, want map[string]V) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	bad := 0
	for _, k := range keys {
		g, inGot := got[k]
		w, inWant := want[k]
		if inGot && inWant && reflect.DeepEqual(g, w) {
			continue
		}
		if bad++; bad <= 5 {
			t.Errorf("%s %s: after the crash and resend %+v (present %v), after a clean import %+v (present %v)", what, k, g, inGot, w, inWant)
		}
	}
	if bad > 5 {
		t.Errorf("%d %ss differ in all (%d after the crash and resend, %d after a clean import)", bad, what, len(got), len(want))
	}
}

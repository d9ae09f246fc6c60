package platform_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// A bill generated (by another process) while a batch for it is being ingested, and a batch
// ingested while its bill is being generated: every purchase ends up either confirmed on the
// bill or recorded on it as an adjustment; none is left met but unconfirmed (the bill could
// never settle) or voided unseen. With and without a budget.
//
// The interleaving is forced, not left to timing: a third connection holds a lock that one
// side needs part-way through its transaction, the test waits until PostgreSQL reports the
// other side waiting behind it, and only then lets go. Which side read the bill's status first
// decides the outcome exactly:
//
//   - generation during ingestion: the batch read the bill as open, so generation must wait for
//     it and then confirm all 3,001 rewards (no adjustment);
//   - ingestion during generation: generation holds the offer, so the batch must wait and then
//     find the bill generated: its 3,000 purchases are adjustments and only the seed is
//     confirmed.
func TestGenerateDuringIngestOnPostgres(t *testing.T) {
	for _, limits := range []map[string]any{{}, {"budget": 1000000}} {
		t.Run(fmt.Sprint(limits)+"/generate during ingest", func(t *testing.T) {
			testGenerateIngestOrder(t, limits, true)
		})
		t.Run(fmt.Sprint(limits)+"/ingest during generate", func(t *testing.T) {
			testGenerateIngestOrder(t, limits, false)
		})
	}
}

func testGenerateIngestOrder(t *testing.T, limits map[string]any, generateDuringIngest bool) {
	st := storetest.Open(t, store.Postgres)
	f := setup(t, st)
	ctx := context.Background()
	applyOffers(t, f.p, offer("OF-E", "each", map[string]any{"limits": limits}))
	cards := enrolledCards(t, f, 50)
	after := time.Date(2027, 2, 20, 0, 0, 0, 0, time.UTC)
	p1, p2 := newPlatformAt(t, st, after), newPlatformAt(t, storetest.Reopen(t, st), after)
	at := time.Date(2027, 1, 20, 4, 0, 0, 0, time.UTC)
	ingest(t, p1, []platform.TxnInput{purchase("SEED", cards[0], "100", at)})
	bill := billStarting(t, p1, "2027-01-01")
	var rows []platform.TxnInput
	for i := range 3000 {
		rows = append(rows, purchase(fmt.Sprintf("T%d", i), cards[i%len(cards)], "100", at.Add(time.Duration(i)*time.Second)))
	}
	doIngest := func() {
		if _, err := p1.Ingest(ctx, rows, 1); err != nil {
			t.Error(err)
		}
	}
	doGenerate := func() {
		if _, err := p2.GenerateBill(ctx, bill, true); err != nil {
			t.Error(err)
		}
	}
	first, second, wantConfirmed, wantAdjustments := doIngest, doGenerate, 3001, 0
	// Ingestion writes a reward's cards only once it has decided the reward from its bill's
	// status: held at reward_cards, the batch has read the bill as open and not committed.
	hold := `LOCK TABLE reward_cards IN SHARE MODE`
	var holdArgs []any
	if !generateDuringIngest {
		first, second, wantConfirmed, wantAdjustments = doGenerate, doIngest, 1, 3000
		// Generation takes the offer before it moves the bill: held at the bill's row, it holds
		// the offer and has not committed. (NO KEY: the rewards ingestion inserts still take
		// their key share of the bill, as they would beside a generation.)
		hold, holdArgs = `SELECT bill_id FROM bills WHERE bill_id = $1 FOR NO KEY UPDATE`, []any{bill}
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	h := holdLock(t, storetest.Reopen(t, st).DB(), hold, holdArgs...)
	defer h.release() // before wg.Wait, should the test stop early
	firstDone, secondDone := make(chan struct{}), make(chan struct{})
	wg.Go(func() { defer close(firstDone); first() })
	firstPID, blocker := waitBlocked(t, st.DB(), 0, firstDone)
	switch blocker {
	case 0:
		t.Fatal("the first step finished without reaching the held lock: the test no longer stops it half-way")
	case h.pid:
	default:
		t.Fatalf("the first step waits for process %d, not for the test's lock", blocker)
	}
	wg.Go(func() { defer close(secondDone); second() })
	switch _, blocker := waitBlocked(t, st.DB(), firstPID, secondDone); blocker {
	case 0:
		t.Log("the second step finished while the first was held half-way: it did not wait for it")
	case firstPID:
	default:
		t.Fatalf("the second step waits for process %d, not for the first step (%d)", blocker, firstPID)
	}
	h.release()
	wg.Wait()

	rs, _, err := st.AdminRewards(ctx, store.AdminRewardQuery{CampaignID: "CMP-T", Limit: 5000})
	if err != nil {
		t.Fatal(err)
	}
	confirmed, pending := 0, 0
	for _, r := range rs {
		switch {
		case r.Status == 1:
			pending++
		case r.Status == 2 && !r.Voided && r.ConfirmedAmount != nil && *r.ConfirmedAmount == r.CalculatedAmount:
			confirmed++
		}
	}
	b, err := st.BillByID(ctx, bill)
	if err != nil {
		t.Fatal(err)
	}
	if pending > 0 || confirmed+len(b.Adjustments) != 3001 {
		t.Fatalf("%d rewards met but unconfirmed (status 1), %d confirmed, %d otherwise (voided or not met), %d adjustments: "+
			"want every one of the 3,001 purchases either confirmed on the bill or recorded on it as an adjustment",
			pending, confirmed, len(rs)-pending-confirmed, len(b.Adjustments))
	}
	if confirmed != wantConfirmed || len(b.Adjustments) != wantAdjustments {
		t.Fatalf("%d confirmed, %d adjustments: want %d and %d for this order", confirmed, len(b.Adjustments),
			wantConfirmed, wantAdjustments)
	}
}

// heldLock is a transaction, on a connection of its own, that holds a lock until released.
type heldLock struct {
	tx   *sql.Tx
	pid  int // its server process
	once sync.Once
}

// holdLock begins a transaction on db that runs stmt (a statement taking a lock) and keeps it.
func holdLock(t *testing.T, db *sql.DB, stmt string, args ...any) *heldLock {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &heldLock{tx: tx}
	t.Cleanup(h.release)
	if err := tx.QueryRow(`SELECT pg_backend_pid()`).Scan(&h.pid); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(stmt, args...); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	return h
}

func (h *heldLock) release() { h.once.Do(func() { _ = h.tx.Rollback() }) }

// waitBlocked waits until a client of the test's database other than process known waits for
// a lock, and answers that client's process and one that it waits for; blocker is 0 when done
// is closed first. The deadline is long: it only bounds a test that would otherwise hang.
func waitBlocked(t *testing.T, db *sql.DB, known int, done <-chan struct{}) (pid, blocker int) {
	t.Helper()
	const wait = 2 * time.Minute
	deadline := time.Now().Add(wait)
	for {
		err := db.QueryRow(`SELECT pid, blockers[1] FROM (SELECT pid, pg_blocking_pids(pid) AS blockers FROM pg_stat_activity
			WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> $1) AS a
			WHERE cardinality(blockers) > 0 LIMIT 1`, known).Scan(&pid, &blocker)
		switch {
		case err == nil:
			return pid, blocker
		case !errors.Is(err, sql.ErrNoRows):
			t.Fatal(err)
		}
		select {
		case <-done:
			return 0, 0
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no step waited for a lock within %v", wait)
		}
	}
}

// Two refunds of 60.00 of one 100.00 purchase, ingested at once by two processes: one is
// rejected (together they would exceed the original).
func TestConcurrentRefundsOnPostgres(t *testing.T) {
	st := storetest.Open(t, store.Postgres)
	f := setup(t, st)
	ctx := context.Background()
	applyOffers(t, f.p, offer("OF-E", "each", nil))
	card := enrolledCards(t, f, 1)[0]
	ps := []*platform.Platform{newPlatformAt(t, st, testNow.Add(time.Hour)), newPlatformAt(t, storetest.Reopen(t, st), testNow.Add(time.Hour))}
	at := testNow.Add(time.Minute)
	for trial := range 20 {
		orig := fmt.Sprintf("P%d", trial)
		ingest(t, ps[0], []platform.TxnInput{purchase(orig, card, "100", at)})
		accepted := make([]int, 2)
		var wg sync.WaitGroup
		for i, p := range ps {
			wg.Go(func() {
				r := purchase(fmt.Sprintf("R%d-%d", trial, i), card, "60", at.Add(time.Second))
				r.Type, r.OriginalTransactionID = "refund", orig
				s, err := p.Ingest(ctx, []platform.TxnInput{r}, 1)
				if err != nil {
					t.Error(err)
					return
				}
				accepted[i] = s.Accepted
			})
		}
		wg.Wait()
		if accepted[0]+accepted[1] != 1 {
			t.Fatalf("trial %d: %d of two refunds of 60.00 of a 100.00 purchase accepted, want 1", trial, accepted[0]+accepted[1])
		}
	}
}

// billStarting answers the id of CMP-T's bill that starts on the date.
func billStarting(t *testing.T, p *platform.Platform, date string) string {
	t.Helper()
	bills, err := p.Bills(context.Background(), "CMP-T")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bills {
		if b.StartDate == date {
			return b.ID
		}
	}
	t.Fatalf("no bill starts on %s", date)
	return ""
}

// perTotalOffer sets up CMP-T with an each offer (5.00 a purchase) limited to one reward per
// card in total, two enrolled cards, and a platform on 2027-02-20.
func perTotalOffer(t *testing.T, st *store.Store) ([]string, *platform.Platform) {
	t.Helper()
	f := setup(t, st)
	o := offer("OF-L", "each", map[string]any{"reward": map[string]any{"type": "Cash", "amount": 5},
		"limits": map[string]any{"perCardTotal": 1}})
	if _, err := f.p.ApplyCampaign(context.Background(), "CMP-T", rewardCampaign(o), false); err != nil {
		t.Fatal(err)
	}
	return enrolledCards(t, f, 2), newPlatformAt(t, st, time.Date(2027, 2, 20, 0, 0, 0, 0, time.UTC))
}

// paying answers how many of CMP-T's rewards pay something.
func paying(t *testing.T, st *store.Store) (n int) {
	t.Helper()
	rs, _, err := st.AdminRewards(context.Background(), store.AdminRewardQuery{CampaignID: "CMP-T", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if !r.Voided && r.Status >= 1 && r.CalculatedAmount > 0 {
			n++
		}
	}
	return n
}

// After generation nothing is taken back: a refund of a purchase whose bill was generated
// does not free its place under a per-card total limit for a later purchase.
func TestRefundAfterGenerationKeepsTotalLimit(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		cards, p := perTotalOffer(t, st)
		jan, feb := time.Date(2027, 1, 15, 4, 0, 0, 0, time.UTC), time.Date(2027, 2, 5, 4, 0, 0, 0, time.UTC)
		ingest(t, p, []platform.TxnInput{purchase("A", cards[0], "100", jan), purchase("B", cards[0], "100", feb)})
		if n := paying(t, st); n != 1 {
			t.Fatalf("before: %d paying rewards, want 1", n)
		}
		if _, err := p.GenerateBill(context.Background(), billStarting(t, p, "2027-01-01"), true); err != nil {
			t.Fatal(err)
		}
		r := purchase("RA", cards[0], "100", feb.Add(time.Hour))
		r.Type, r.OriginalTransactionID = "refund", "A"
		if s := ingest(t, p, []platform.TxnInput{r}); s.Accepted != 1 {
			t.Fatalf("%+v", s)
		}
		if n := paying(t, st); n != 1 {
			t.Fatalf("after a refund of the generated purchase: %d paying rewards for one card, limit 1 in total", n)
		}
	})
}

// A late purchase for a generated period is an adjustment: it takes no place under a per-card
// total limit from a purchase of an open period.
func TestLatePurchaseForGeneratedBillKeepsTotalLimit(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		cards, p := perTotalOffer(t, st)
		jan, feb := time.Date(2027, 1, 15, 4, 0, 0, 0, time.UTC), time.Date(2027, 2, 5, 4, 0, 0, 0, time.UTC)
		ingest(t, p, []platform.TxnInput{purchase("X", cards[1], "100", jan), purchase("B", cards[0], "100", feb)})
		if _, err := p.GenerateBill(context.Background(), billStarting(t, p, "2027-01-01"), true); err != nil {
			t.Fatal(err)
		}
		if n := paying(t, st); n != 2 {
			t.Fatalf("before: %d paying, want 2", n)
		}
		ingest(t, p, []platform.TxnInput{purchase("L", cards[0], "100", jan.Add(time.Hour))})
		if n := paying(t, st); n != 2 {
			t.Fatalf("after a late purchase for the generated January bill: %d paying rewards, want 2 (B keeps its reward)", n)
		}
	})
}

// A card that enrolls while a batch holding one of its purchases is being evaluated: the batch
// read the card's campaigns before the enrollment committed, and the enrollment looked for the
// card's transactions before the batch committed. Neither saw the other then; the purchase
// (dated after the enrollment) must still earn its reward once both are committed.
//
// The batch is held after it read the campaigns (at reward_cards, which it writes for another
// card's reward), the enrollment runs to its end, and only then does the batch commit.
func TestEnrollDuringIngestOnPostgres(t *testing.T) {
	st := storetest.Open(t, store.Postgres)
	f := setup(t, st)
	ctx := context.Background()
	applyOffers(t, f.p, offer("OF-E", "each", nil))
	other := enrolledCards(t, f, 1)[0]
	late, err := f.p.CardInfo(ctx, f.a, pan("411111115999999"))
	if err != nil {
		t.Fatal(err)
	}
	ingester, enroller := newPlatformAt(t, st, testNow), newPlatformAt(t, storetest.Reopen(t, st), testNow.Add(time.Minute))
	rows := []platform.TxnInput{purchase("OTHER", other, "100", testNow.Add(time.Minute)),
		purchase("LATE", late.ID, "100", testNow.Add(3*time.Minute))} // dated after the enrollment below

	h := holdLock(t, storetest.Reopen(t, st).DB(), `LOCK TABLE reward_cards IN SHARE MODE`)
	defer h.release()
	done := make(chan struct{})
	var sum platform.IngestSummary
	go func() {
		defer close(done)
		var err error
		if sum, err = ingester.Ingest(ctx, rows, 1); err != nil {
			t.Error(err)
		}
	}()
	if _, blocker := waitBlocked(t, st.DB(), 0, done); blocker != h.pid {
		t.Fatalf("the batch waits for process %d, not for the test's lock (%d): it is no longer held after reading the campaigns", blocker, h.pid)
	}
	if _, _, err := enroller.Enroll(ctx, f.a, late.ID, "EG-R", nil); err != nil {
		t.Fatal(err)
	}
	h.release()
	<-done
	if sum.Accepted != 2 {
		t.Fatalf("ingest: %+v", sum)
	}
	page, err := ingester.ListRewards(ctx, f.a, platform.ListRewardsParams{CardID: late.ID})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 1 || page.Rewards[0].EventCount != 1 || page.Rewards[0].Status != 1 {
		t.Fatalf("rewards of the card that enrolled during the batch: %d; want one, met, for its purchase dated after the enrollment", page.Total)
	}
}

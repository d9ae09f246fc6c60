package platform_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// rewardCampaign is a campaign with the given offers and one group open since before the test
// transactions; its dates span 2027.
func rewardCampaign(offers ...map[string]any) []byte {
	doc := map[string]any{
		"campaignId": "CMP-T", "name": "Test", "timezone": "Asia/Shanghai", "startDate": "2027-01-01", "endDate": "2027-12-31",
		"currency": "CNY", "aggregation": "card", "offers": offers,
		"enrollmentGroups": []any{map[string]any{"enrollmentGroupId": "EG-R", "name": "g", "enrollStart": "2026-12-01T00:00:00+08:00",
			"enrollEnd": "2027-06-30T00:00:00+08:00", "capacity": 0, "eligibility": map[string]any{}}},
	}
	b, _ := json.Marshal(doc)
	return b
}

func offer(id, goal string, extra map[string]any) map[string]any {
	o := map[string]any{"offerId": id, "name": id, "billing": map[string]any{"period": "month"}, "match": map[string]any{},
		"goal": map[string]any{"type": goal}, "reward": map[string]any{"type": "Cash", "percent": 10}, "limits": map[string]any{}}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// enrolledCards enrolls n cards (enrollment time: the test clock, 2027-01-10) and answers ids.
func enrolledCards(t *testing.T, f *fixture, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		e, _, err := f.p.Enroll(context.Background(), f.a, pan(fmt.Sprintf("411111115%06d", i)), "EG-R", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = e.CardID
	}
	return ids
}

func purchase(id, card string, amount string, at time.Time) platform.TxnInput {
	return platform.TxnInput{TransactionID: id, Type: "purchase", CardID: card, Amount: vsrp.Decimal(amount), Currency: "CNY",
		TransactionTime: at.Format(time.RFC3339Nano), MerchantID: "M", MerchantName: "Shop", MCC: "5812", MerchantCountry: "CN"}
}

// rewardState is every reward of the campaign as operators see it, keyed by id.
func rewardState(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	rs, _, err := st.AdminRewards(context.Background(), store.AdminRewardQuery{CampaignID: "CMP-T", Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rs {
		out[r.ID] = fmt.Sprintf("status=%d voided=%v amount=%d n=%d total=%d msg=%q", r.Status, r.Voided, r.CalculatedAmount,
			r.EventCount, r.EventTotalAmount, r.CalculateMessage)
	}
	return out
}

func ingest(t *testing.T, p *platform.Platform, rows []platform.TxnInput) platform.IngestSummary {
	t.Helper()
	sum, err := p.Ingest(context.Background(), rows, 1)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestIngestRejections(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(offer("OF-E", "each", nil)), false); err != nil {
			t.Fatal(err)
		}
		card := enrolledCards(t, f, 1)[0]
		at := testNow.Add(-time.Hour)
		good := purchase("T1", card, "100.00", at)
		rows := []platform.TxnInput{good,
			func() platform.TxnInput { x := purchase("T2", "card_nope", "1", at); return x }(),
			func() platform.TxnInput { x := purchase("T3", card, "1.001", at); return x }(),
			func() platform.TxnInput { x := purchase("T4", card, "1", at); x.Currency = "XXX"; return x }(),
			func() platform.TxnInput { x := purchase("T5", card, "1", testNow.Add(6*time.Minute)); return x }(),
			func() platform.TxnInput {
				x := purchase("T6", card, "1", at)
				x.Type, x.OriginalTransactionID = "refund", "T-NONE"
				return x
			}(),
			func() platform.TxnInput {
				x := purchase("T7", card, "100.01", at)
				x.Type, x.OriginalTransactionID = "refund", "T1"
				return x
			}(),
			func() platform.TxnInput { x := purchase("T8", "4111111111111112", "1", at); return x }(),
			func() platform.TxnInput { x := purchase("T9", card, "-5", at); return x }(),
			func() platform.TxnInput {
				x := purchase("T10", card, "1", at.Add(-time.Second))
				x.Type, x.OriginalTransactionID = "refund", "T1"
				return x
			}(),
			func() platform.TxnInput { x := purchase("T11", card, "1", at); x.MerchantName = "a\x00b"; return x }(),
			func() platform.TxnInput { x := purchase("T12", card, "1", at); x.MerchantName = "caf\xe9"; return x }(),
			// Columns swapped: a card number where the amount or the currency goes is not shown back.
			func() platform.TxnInput { x := purchase("T13", card, "4111111111111111.5", at); x.Currency = "JPY"; return x }(),
			func() platform.TxnInput { x := purchase("T14", card, "1", at); x.Currency = "4111 1111 1111 1111"; return x }(),
		}
		sum := ingest(t, f.p, rows)
		want := map[int]string{2: "unknown card", 3: "bad amount", 4: "bad currency", 5: "transactionTime is in the future",
			6: "refund of an unknown transaction", 7: "refund larger than what is left of the original", 8: "bad card number", 9: "bad amount",
			10: "refund dated before its original", 11: "merchantName is not UTF-8 text", 12: "merchantName is not UTF-8 text",
			13: `bad amount "[digits]"`, 14: `bad currency "[digits]"`}
		if sum.Accepted != 1 || sum.Rejected != len(want) {
			t.Fatalf("summary %+v", sum)
		}
		for _, e := range sum.Errors {
			if w := want[e.Row]; w == "" || len(e.Reason) < len(w) || e.Reason[:len(w)] != w {
				t.Errorf("row %d: reason %q, want one starting %q", e.Row, e.Reason, w)
			}
		}
		// Text no database can hold, as a look-up key, is a bad parameter or unknown, never an
		// internal error.
		for _, id := range []string{"rw_\x00", "rw_\xe9"} {
			var ce *vsrp.Error
			if _, err := f.p.ShowReward(ctx, f.a, id); !errors.As(err, &ce) || (ce.Code != vsrp.CodeInvalidParam && ce.Code != vsrp.CodeRewardNotFound) {
				t.Errorf("showReward(%q): %v, want 1003 or 3012", id, err)
			}
		}
		// Resending changes nothing; the same id with other content is a conflict.
		again := ingest(t, f.p, []platform.TxnInput{good})
		changed := purchase("T1", card, "101.00", at)
		conflict := ingest(t, f.p, []platform.TxnInput{changed})
		if again.Duplicates != 1 || again.Accepted != 0 || conflict.Rejected != 1 {
			t.Fatalf("replay %+v, conflict %+v", again, conflict)
		}
	})
}

// Money is exact: amounts that floats get wrong add up to the cent.
func TestMoneyIsExact(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		spend := offer("OF-S", "spend", map[string]any{"goal": map[string]any{"type": "spend", "threshold": 0.3},
			"reward": map[string]any{"type": "Cash", "percent": 33.3333}})
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(spend), false); err != nil {
			t.Fatal(err)
		}
		card := enrolledCards(t, f, 1)[0]
		at := testNow.Add(time.Minute)
		ingest(t, f.p, []platform.TxnInput{purchase("A", card, "0.1", at), purchase("B", card, "0.2", at.Add(time.Second)),
			purchase("C", card, "99999999999.99", at.Add(2*time.Second))})
		rs, _, err := st.AdminRewards(ctx, store.AdminRewardQuery{CampaignID: "CMP-T", Limit: 10})
		if err != nil || len(rs) != 1 {
			t.Fatalf("%v %v", rs, err)
		}
		// 0.10 + 0.20 + 99,999,999,999.99 = 100,000,000,000.29; 33.3333% of it, half-even, is
		// 33,333,300,000.0966… → 33,333,300,000.10.
		if r := rs[0]; r.EventTotalAmount != 10000000000029 || r.CalculatedAmount != 3333330000010 {
			t.Fatalf("total %d, amount %d", r.EventTotalAmount, r.CalculatedAmount)
		}
	})
}

// The property the engine promises: one set of transactions gives one reward state, whatever
// the arrival order, batch split or replays.
func TestIngestOrderIndependence(t *testing.T) {
	// With a budget and limits, every evaluation reads a card's whole history.
	each := offer("OF-E", "each", map[string]any{"match": map[string]any{"minAmount": 20}, "reward": map[string]any{"type": "Cash", "percent": 10, "cap": 15},
		"limits": map[string]any{"perCardPerPeriod": 2, "budget": 60}})
	spend := offer("OF-S", "spend", map[string]any{"goal": map[string]any{"type": "spend", "threshold": 300},
		"reward": map[string]any{"type": "Cash", "amount": 25}, "limits": map[string]any{"budget": 75}})
	storetest.Run(t, func(t *testing.T, st *store.Store) { checkOrderIndependence(t, st, each, spend) })
}

// Without limits across periods, evaluations read only the periods new transactions fall in.
func TestIngestOrderIndependenceWithinPeriods(t *testing.T) {
	each := offer("OF-E", "each", map[string]any{"match": map[string]any{"minAmount": 20}, "reward": map[string]any{"type": "Cash", "percent": 10, "cap": 15},
		"limits": map[string]any{"perCardPerPeriod": 2}})
	spend := offer("OF-S", "spend", map[string]any{"goal": map[string]any{"type": "spend", "threshold": 300},
		"reward": map[string]any{"type": "Cash", "amount": 25}})
	count := offer("OF-C", "count", map[string]any{"billing": map[string]any{"period": "week"}, "goal": map[string]any{"type": "count", "threshold": 3},
		"reward": map[string]any{"type": "Point", "amount": 10}})
	storetest.Run(t, func(t *testing.T, st *store.Store) { checkOrderIndependence(t, st, each, spend, count) })
}

func checkOrderIndependence(t *testing.T, st *store.Store, offers ...map[string]any) {
	{
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(offers...), false); err != nil {
			t.Fatal(err)
		}
		cards := enrolledCards(t, f, 4)
		rng := rand.New(rand.NewPCG(3, 4))
		var set []platform.TxnInput
		for i := range 40 {
			at := time.Date(2027, 1, 10, 12, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(50*24)) * time.Hour)
			at = at.Add(-60 * 24 * time.Hour) // some before the enrollment, most after
			if at.Before(testNow) {
				at = testNow.Add(time.Duration(rng.IntN(3600)) * time.Second)
			}
			p := purchase(fmt.Sprintf("P%02d", i), cards[rng.IntN(len(cards))], fmt.Sprintf("%d.%02d", 5+rng.IntN(200), rng.IntN(100)), at)
			set = append(set, p)
			if rng.IntN(3) == 0 {
				r := p
				r.TransactionID, r.OriginalTransactionID, r.Type = "R"+p.TransactionID, p.TransactionID, []string{"refund", "reversal"}[rng.IntN(2)]
				r.Amount = "1.00"
				set = append(set, r)
			}
		}
		later := testNow.Add(90 * 24 * time.Hour) // a clock after every transaction
		f.p = newPlatformAt(t, st, later)
		var want map[string]int
		for round := range 4 {
			if round > 0 {
				// Start over on a fresh store each round.
				st2 := storetest.Open(t, st.Engine())
				f = setup(t, st2)
				f.p = newPlatformAt(t, st2, later)
				if _, err := f.p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(offers...), false); err != nil {
					t.Fatal(err)
				}
				if got := enrolledCards(t, &fixture{p: newPlatform(t, st2), a: f.a}, 4); !reflect.DeepEqual(got, cards) {
					// cardIds are random per store: map the set onto this store's cards
					m := map[string]string{}
					for i := range cards {
						m[cards[i]] = got[i]
					}
					for i := range set {
						set[i].CardID = m[set[i].CardID]
					}
					cards = got
				}
				st = st2
			}
			order := permuteKeepingRefundsAfter(rng, set)
			// Replays: some rows twice.
			for range 5 {
				order = append(order, order[rng.IntN(len(order))])
			}
			for len(order) > 0 {
				n := 1 + rng.IntN(len(order))
				sum := ingest(t, f.p, order[:n])
				if sum.Rejected != 0 {
					t.Fatalf("rejected rows: %+v", sum.Errors)
				}
				order = order[n:]
			}
			got := canonical(rewardState(t, st), cards)
			if round == 0 {
				want = got
				if len(want) == 0 {
					t.Fatal("no rewards at all")
				}
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d: reward state differs\ngot  %v\nwant %v", round, got, want)
			}
		}
	}
}

// canonical lists reward states without their (store-specific) ids.
func canonical(state map[string]string, _ []string) map[string]int {
	out := map[string]int{}
	for _, s := range state {
		out[s]++
	}
	return out
}

// permuteKeepingRefundsAfter shuffles rows so that every refund still comes after its original.
func permuteKeepingRefundsAfter(rng *rand.Rand, rows []platform.TxnInput) []platform.TxnInput {
	out := append([]platform.TxnInput(nil), rows...)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	for i := 0; i < len(out); i++ {
		r := out[i]
		if r.OriginalTransactionID == "" {
			continue
		}
		for j := i + 1; j < len(out); j++ {
			if out[j].TransactionID == r.OriginalTransactionID {
				out[i], out[j] = out[j], out[i]
				i--
				break
			}
		}
	}
	return out
}

// Limits and the budget hold under concurrent ingestion: several writers at once end in the
// state one writer reaches, and the budget is never exceeded.
func TestConcurrentIngestKeepsLimits(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		p := newPlatformAt(t, st, testNow.Add(60*24*time.Hour))
		concurrentIngest(t, st, func(int) *platform.Platform { return p })
	})
}

// concurrentIngest ingests 120 purchases of 6 cards with 6 writers at once (writer w on the
// platform platformFor(w)) into an offer limited to 3 rewards per card and month, 4 per card,
// and a budget of 100.00, then checks the limits and that the budget is paid exactly.
func concurrentIngest(t *testing.T, st *store.Store, platformFor func(w int) *platform.Platform) {
	t.Helper()
	f := setup(t, st)
	ctx := context.Background()
	each := offer("OF-E", "each", map[string]any{"reward": map[string]any{"type": "Cash", "amount": 5},
		"limits": map[string]any{"perCardPerPeriod": 3, "perCardTotal": 4, "budget": 100}})
	// Evaluated incrementally: concurrent writers must not lose one another's purchases.
	spend := offer("OF-S", "spend", map[string]any{"goal": map[string]any{"type": "spend", "threshold": 300},
		"reward": map[string]any{"type": "Cash", "amount": 25}})
	if _, err := f.p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(each, spend), false); err != nil {
		t.Fatal(err)
	}
	cards := enrolledCards(t, f, 6)
	var rows []platform.TxnInput
	for i := range 120 {
		rows = append(rows, purchase(fmt.Sprintf("C%03d", i), cards[i%len(cards)], "50", testNow.Add(time.Duration(i)*7*time.Hour)))
	}
	// Writer w takes rows [4w, 4w+4), [4w+24, 4w+28)…: with 6 writers that covers every row once.
	var wg sync.WaitGroup
	for w := range 6 {
		p := platformFor(w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w * 4; i < len(rows); i += 6 * 4 {
				if _, err := p.Ingest(ctx, rows[i:min(i+4, len(rows))], i+1); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	rs, _, err := st.AdminRewards(ctx, store.AdminRewardQuery{CampaignID: "CMP-T", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var paid int64
	perCard := map[string]int{}
	spent, counted := map[string]int64{}, map[string]int64{}
	for _, r := range rs {
		if r.OfferID == "OF-S" {
			spent[r.CardIDs[0]] += r.EventTotalAmount
			counted[r.CardIDs[0]] += r.EventCount
			continue
		}
		if r.Status == vsrp.RewardMet && !r.Voided {
			paid += r.CalculatedAmount
			perCard[r.CardIDs[0]]++
		}
	}
	for _, c := range cards {
		if spent[c] != 100000 || counted[c] != 20 {
			t.Fatalf("card %s: spend rewards count %d purchases, %d in total; want all 20, 1000.00", c, counted[c], spent[c])
		}
	}
	if paid != 10000 {
		t.Fatalf("budget: paid %d, want exactly 10000 (100.00)", paid)
	}
	for c, n := range perCard {
		if n > 4 {
			t.Fatalf("card %s earned %d rewards, limit 4 in total", c, n)
		}
	}
}

// Account aggregation (归户): the cards one user bound in the enrolling app earn as one unit.
func TestAccountAggregation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountSpendCampaign(), false); err != nil {
			t.Fatal(err)
		}
		cards := enrolledCards(t, f, 3)
		vuid := bindAll(t, f, "account-user", cards[:2]...) // the third card stays unbound: an account of its own
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		at := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("A1", cards[0], "200", at), purchase("A2", cards[1], "150", at),
			purchase("A3", cards[2], "200", at)})
		page, err := p.ListRewards(ctx, f.a, platform.ListRewardsParams{Vuid: vuid, Status: 0})
		if err != nil || page.Total != 1 {
			t.Fatalf("rewards of the account: %+v %v", page, err)
		}
		r := page.Rewards[0]
		if r.Status != vsrp.RewardMet || r.EventTotalAmount != 35000 || r.CalculatedAmount != 2000 || r.AccountVuid != vuid ||
			!slices.Equal(r.CardIDs, sortedCopy(cards[:2])) {
			t.Fatalf("account reward: status %d total %d amount %d vuid %q cards %v", r.Status, r.EventTotalAmount,
				r.CalculatedAmount, r.AccountVuid, r.CardIDs)
		}
		single, err := p.ListRewards(ctx, f.a, platform.ListRewardsParams{CardID: cards[2], Status: 0})
		if err != nil || single.Total != 1 || single.Rewards[0].Status != vsrp.RewardNotMet || single.Rewards[0].EventTotalAmount != 20000 {
			t.Fatalf("the unbound card's own reward: %+v %v", single, err)
		}
	})
}

// Contract 8: the account is the user to whom the card is bound in the app through which it
// was enrolled. A card enrolled through app C (bound to nobody there) is an account of its
// own; that it is also bound to the user in app A does not pull its purchases into A's
// account as well: each purchase counts once.
func TestAccountLeavesOutCardsEnrolledThroughAnotherApp(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		appC := otherApp(t, f)
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountSpendCampaign(), false); err != nil {
			t.Fatal(err)
		}
		e1, _, err := f.p.Enroll(ctx, f.a, pan("411111115000001"), "EG-R", nil)
		if err != nil {
			t.Fatal(err)
		}
		e2, _, err := f.p.Enroll(ctx, appC, pan("411111115000002"), "EG-R", nil)
		if err != nil {
			t.Fatal(err)
		}
		bindAll(t, f, "user", e1.CardID, e2.CardID)
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		at := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("P2", e2.CardID, "200", at)})
		ingest(t, p, []platform.TxnInput{purchase("P1", e1.CardID, "150", at.Add(time.Second))})
		got := slices.Sorted(maps.Values(rewardState(t, st)))
		want := []string{`status=0 voided=false amount=0 n=1 total=15000 msg="spent 150.00 of 300.00"`,
			`status=0 voided=false amount=0 n=1 total=20000 msg="spent 200.00 of 300.00"`}
		if !slices.Equal(got, want) {
			t.Fatalf("rewards:\ngot  %q\nwant %q (A's account of the first card, the second card's own)", got, want)
		}
	})
}

// Under account aggregation, binding a card moves its transactions into the account's
// rewards (its own reward is voided) and unbinding moves them back, on open bills.
func TestBindingRegroupsAccountRewards(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountSpendCampaign(), false); err != nil {
			t.Fatal(err)
		}
		cards := enrolledCards(t, f, 2)
		vuid := bindAll(t, f, "account-user") // no card yet
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		if err := p.AddCard(ctx, f.a, vuid, cards[0]); err != nil {
			t.Fatal(err)
		}
		at := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("A1", cards[0], "200", at), purchase("A2", cards[1], "150", at)})
		account := `status=0 voided=false amount=0 n=1 total=20000 msg="spent 200.00 of 300.00"`
		own := `status=0 voided=false amount=0 n=1 total=15000 msg="spent 150.00 of 300.00"`
		check := func(when string, want ...string) {
			t.Helper()
			got := slices.Sorted(maps.Values(rewardState(t, st)))
			if slices.Sort(want); !slices.Equal(got, want) {
				t.Fatalf("%s:\ngot  %q\nwant %q", when, got, want)
			}
		}
		check("before the binding", account, own)
		if err := p.AddCard(ctx, f.a, vuid, cards[1]); err != nil {
			t.Fatal(err)
		}
		gone := `status=0 voided=true amount=0 n=0 total=0 msg="the card's transactions count for another account now"`
		check("after binding the second card", `status=1 voided=false amount=2000 n=2 total=35000 msg="goal met: spent 350.00 of 300.00; fixed reward 20.00"`, gone)
		page, err := p.ListRewards(ctx, f.a, platform.ListRewardsParams{Vuid: vuid, Status: 0})
		if err != nil || page.Total != 1 || !slices.Equal(page.Rewards[0].CardIDs, sortedCopy(cards)) {
			t.Fatalf("the account's rewards: %+v %v", page, err)
		}
		if err := p.RemoveCard(ctx, f.a, vuid, cards[1]); err != nil {
			t.Fatal(err)
		}
		check("after unbinding it again", account, own)
		// The card left the account: the account's reward no longer lists it, and listing by
		// the card finds only the card's own reward.
		page, err = p.ListRewards(ctx, f.a, platform.ListRewardsParams{Vuid: vuid, Status: 0})
		if err != nil || page.Total != 1 || !slices.Equal(page.Rewards[0].CardIDs, []string{cards[0]}) {
			t.Fatalf("the account's rewards after unbinding: %+v %v", page, err)
		}
		page, err = p.ListRewards(ctx, f.a, platform.ListRewardsParams{CardID: cards[1], Status: 0})
		if err != nil || page.Total != 1 || page.Rewards[0].EventTotalAmount != 15000 || page.Rewards[0].AccountVuid != "" {
			t.Fatalf("the unbound card's rewards: %+v %v", page, err)
		}
	})
}

// An app that sees an account's reward through one card of it (bound to its own user) is
// shown that card only, not the account's other cards; the account's app sees them all.
func TestAccountRewardShowsOtherAppsOnlyTheirCards(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountSpendCampaign(), false); err != nil {
			t.Fatal(err)
		}
		cards := enrolledCards(t, f, 2)
		bindAll(t, f, "account-user", cards...)
		appC := otherApp(t, f)
		uc, err := f.p.GetVuid(ctx, appC, "c-user")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.p.AddCard(ctx, appC, uc.Vuid, cards[0]); err != nil {
			t.Fatal(err)
		}
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		ingest(t, p, []platform.TxnInput{purchase("A1", cards[0], "200", testNow.Add(time.Minute))})
		for _, c := range []struct {
			app  *vsrp.App
			want []string
		}{{f.a, sortedCopy(cards)}, {appC, cards[:1]}} {
			page, err := p.ListRewards(ctx, c.app, platform.ListRewardsParams{CardID: cards[0], Status: 0})
			if err != nil || page.Total != 1 || !slices.Equal(page.Rewards[0].CardIDs, c.want) {
				t.Fatalf("app %s lists %+v (%v), want the account's reward with cards %v", c.app.ID, page, err, c.want)
			}
			r, err := p.ShowReward(ctx, c.app, page.Rewards[0].ID)
			if err != nil || !slices.Equal(r.CardIDs, c.want) {
				t.Fatalf("app %s shows %+v (%v), want cards %v", c.app.ID, r, err, c.want)
			}
		}
	})
}

// spendOn is a spend offer (300.00 for 25.00) on purchases of one MCC.
func spendOn(mcc string) map[string]any {
	return offer("OF-S", "spend", map[string]any{"match": map[string]any{"mcc": []string{mcc}},
		"goal": map[string]any{"type": "spend", "threshold": 300}, "reward": map[string]any{"type": "Cash", "amount": 25}})
}

// accountSpendCampaign is a campaign under account aggregation with one spend offer (300.00
// for 20.00).
func accountSpendCampaign() []byte {
	doc := rewardCampaign(offer("OF-S", "spend", map[string]any{"goal": map[string]any{"type": "spend", "threshold": 300},
		"reward": map[string]any{"type": "Cash", "amount": 20}}))
	return []byte(strings.Replace(string(doc), `"aggregation":"card"`, `"aggregation":"account"`, 1))
}

// bindAll binds the cards to the app user auid in f.a and answers the user's vuid.
func bindAll(t *testing.T, f *fixture, auid string, cards ...string) string {
	t.Helper()
	u, err := f.p.GetVuid(context.Background(), f.a, auid)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cards {
		if err := f.p.AddCard(context.Background(), f.a, u.Vuid, c); err != nil {
			t.Fatal(err)
		}
	}
	return u.Vuid
}

// otherApp creates a second app, granted CMP-T.
func otherApp(t *testing.T, f *fixture) *vsrp.App {
	t.Helper()
	name, camps := "C", []string{"CMP-T"}
	created, err := f.p.CreateApp(context.Background(), platform.AppSpec{Name: &name, CampaignIDs: &camps, IPWhitelist: &localhost})
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.p.App(context.Background(), created.AppID)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// Changing an offer before its bill is generated recomputes the rewards already given.
func TestOfferChangeReevaluates(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		v1 := offer("OF-E", "each", map[string]any{"match": map[string]any{"mcc": []string{"5812", "5814"}}})
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(v1), false); err != nil {
			t.Fatal(err)
		}
		card := enrolledCards(t, f, 1)[0]
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		a, b := purchase("A", card, "100", testNow.Add(time.Minute)), purchase("B", card, "100", testNow.Add(2*time.Minute))
		b.MCC = "5814"
		ingest(t, p, []platform.TxnInput{a, b})
		v2 := offer("OF-E", "each", map[string]any{"match": map[string]any{"mcc": []string{"5812"}},
			"reward": map[string]any{"type": "Cash", "percent": 20}})
		if _, err := p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(v2), false); err != nil {
			t.Fatal(err)
		}
		page, err := p.ListRewards(ctx, f.a, platform.ListRewardsParams{CardID: card, Status: 0})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 1 || page.Rewards[0].CalculatedAmount != 2000 {
			t.Fatalf("after the change: %d rewards, first %+v; want one of 20.00 (20%% of 100.00; the 5814 purchase no longer counts)",
				page.Total, page.Rewards[0])
		}
	})
}

// A spend reward voided by a change of its offer keeps no running state: the next purchase of
// its period recomputes it from the stored transactions under the current rules.
func TestPurchaseAfterOfferChangeCountsUnderNewRules(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(spendOn("5812")), false); err != nil {
			t.Fatal(err)
		}
		card := enrolledCards(t, f, 1)[0]
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		ingest(t, p, []platform.TxnInput{purchase("A", card, "250", testNow.Add(time.Minute))})
		if _, err := p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(spendOn("5411")), false); err != nil {
			t.Fatal(err)
		}
		b := purchase("B", card, "100", testNow.Add(2*time.Minute))
		b.MCC = "5411"
		ingest(t, p, []platform.TxnInput{b})
		want := `status=0 voided=false amount=0 n=1 total=10000 msg="spent 100.00 of 300.00"`
		if got := rewardState(t, st); len(got) != 1 || slices.Collect(maps.Values(got))[0] != want {
			t.Fatalf("rewards: %v\nwant one: %s (the 5812 purchase no longer counts)", got, want)
		}
	})
}

// A campaign change whose re-evaluation did not run (the process died after storing it) is
// not built upon: ingestion recomputes the campaign's units in full, and the scheduler takes
// the re-evaluation up again.
func TestUnevaluatedChangeIsNotBuiltUpon(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(spendOn("5812")), false); err != nil {
			t.Fatal(err)
		}
		card := enrolledCards(t, f, 1)[0]
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		ingest(t, p, []platform.TxnInput{purchase("A", card, "250", testNow.Add(time.Minute))})
		// The change is stored, its re-evaluation never runs.
		doc := rewardCampaign(spendOn("5411"))
		c, err := vsrp.ParseCampaign(doc)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.ApplyCampaign(ctx, c, doc, testNow); err != nil {
			t.Fatal(err)
		}
		if stale, err := st.UnevaluatedCampaigns(ctx); err != nil || !slices.Equal(stale, []string{"CMP-T"}) {
			t.Fatalf("unevaluated campaigns: %v %v", stale, err)
		}
		b := purchase("B", card, "100", testNow.Add(2*time.Minute))
		b.MCC = "5411"
		ingest(t, p, []platform.TxnInput{b})
		want := `status=0 voided=false amount=0 n=1 total=10000 msg="spent 100.00 of 300.00"`
		if got := rewardState(t, st); len(got) != 1 || slices.Collect(maps.Values(got))[0] != want {
			t.Fatalf("rewards: %v\nwant one: %s (the 5812 purchase no longer counts)", got, want)
		}
		if err := p.RunDueWork(ctx); err != nil {
			t.Fatal(err)
		}
		if stale, err := st.UnevaluatedCampaigns(ctx); err != nil || len(stale) != 0 {
			t.Fatalf("unevaluated campaigns after the scheduler ran: %v %v", stale, err)
		}
	})
}

// On PostgreSQL, writers in several processes (separate connection pools) keep the limits and
// the budget too.
func TestConcurrentIngestAcrossProcessesOnPostgres(t *testing.T) {
	url := storetest.PostgresURL(t)
	var stores []*store.Store
	for range 3 {
		st, err := store.Open(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if err := st.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		stores = append(stores, st)
	}
	concurrentIngest(t, stores[0], func(w int) *platform.Platform {
		return newPlatformAt(t, stores[w%3], testNow.Add(60*24*time.Hour))
	})
}

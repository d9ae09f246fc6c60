package platform_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
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
		applyOffers(t, f.p, offer("OF-E", "each", nil))
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
			func() platform.TxnInput {
				x := purchase("T13", card, "4111111111111111.5", at)
				x.Currency = "JPY"
				return x
			}(),
			func() platform.TxnInput {
				x := purchase("T14", card, "1", at)
				x.Currency = "4111 1111 1111 1111"
				return x
			}(),
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
		applyOffers(t, f.p, spend)
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
// the arrival order, batch split or replays; and that state is what the contract's rules give
// (refModel), so a mistake made the same way in every order is caught too.
func TestIngestOrderIndependence(t *testing.T) {
	// With a budget and limits across periods, every evaluation reads a card's whole history.
	offers := []orderOffer{
		{id: "OF-E", goal: "each", period: "month", rewardType: "Cash", minAmount: 2000, percent: 10, cap: 1500,
			perPeriod: 2, perTotal: 5, budget: 15000},
		{id: "OF-S", goal: "spend", period: "month", rewardType: "Cash", threshold: 30000, amount: 2500, budget: 7500},
		{id: "OF-C", goal: "count", period: "week", rewardType: "Point", threshold: 3, amount: 10, budget: 50},
	}
	storetest.Run(t, func(t *testing.T, st *store.Store) { checkOrderIndependence(t, st, 3, offers) })
}

// Without limits across periods, evaluations read only the periods new transactions fall in.
func TestIngestOrderIndependenceWithinPeriods(t *testing.T) {
	offers := []orderOffer{
		{id: "OF-E", goal: "each", period: "month", rewardType: "Cash", minAmount: 2000, percent: 10, cap: 1500, perPeriod: 2},
		{id: "OF-S", goal: "spend", period: "month", rewardType: "Cash", threshold: 30000, amount: 2500},
		{id: "OF-C", goal: "count", period: "week", rewardType: "Point", threshold: 3, amount: 10},
		{id: "OF-D", goal: "spend", period: "day", rewardType: "Cash", threshold: 10000, percent: 5, cap: 800},
	}
	storetest.Run(t, func(t *testing.T, st *store.Store) { checkOrderIndependence(t, st, 4, offers) })
}

// A small fixed set whose rewards are worked out by hand: the random tests compare rounds with
// one another and with refModel, and this pins refModel itself to the contract.
func TestIngestHandComputed(t *testing.T) {
	offers := []orderOffer{
		{id: "OF-E", goal: "each", period: "month", rewardType: "Cash", minAmount: 2000, percent: 10, cap: 1500, perPeriod: 2},
		{id: "OF-S", goal: "spend", period: "month", rewardType: "Cash", threshold: 30000, amount: 2500},
		{id: "OF-C", goal: "count", period: "week", rewardType: "Point", threshold: 3, amount: 10},
	}
	sh := orderZone
	at := func(month time.Month, day, h, m, s int) time.Time { return time.Date(2027, month, day, h, m, s, 0, sh) }
	// One card, enrolled at 2027-01-10T20:00:00+08:00 (testNow), card index 2 of orderFixture.
	set := []otxn{
		{id: "B0", kind: "purchase", card: 2, amount: 10000, at: at(1, 10, 19, 59, 59)}, // a second before the enrollment
		{id: "B1", kind: "purchase", card: 2, amount: 10000, at: at(1, 10, 20, 0, 0)},   // at the enrollment: counts
		{id: "B2", kind: "purchase", card: 2, amount: 1999, at: at(1, 10, 23, 59, 59)},  // under minAmount: no each reward
		{id: "B3", kind: "purchase", card: 2, amount: 25000, at: at(1, 11, 0, 0, 0)},    // Monday: a new week
		{id: "B4", kind: "purchase", card: 2, amount: 4000, at: at(1, 31, 23, 59, 59)},  // January's third each: over the limit
		{id: "B5", kind: "purchase", card: 2, amount: 12000, at: at(2, 1, 0, 0, 0)},     // February, and a new week
		{id: "R5", kind: "refund", orig: "B5", card: 2, amount: 10000, at: at(2, 2, 9, 0, 0)},
		{id: "B6", kind: "purchase", card: 2, amount: 3500, at: at(2, 3, 10, 0, 0)},
		{id: "R6", kind: "reversal", orig: "B6", card: 2, amount: 3500, at: at(2, 3, 11, 0, 0)},
		{id: "BA", kind: "purchase", card: 2, amount: 5000, at: at(2, 4, 12, 0, 0)},
		{id: "RA", kind: "refund", orig: "BA", card: 2, amount: 3001, at: at(2, 4, 13, 0, 0)}, // leaves 19.99: under minAmount
		{id: "B7", kind: "purchase", card: 2, amount: 3025, at: at(2, 5, 12, 0, 0)},
		{id: "B8", kind: "purchase", card: 2, amount: 100, at: at(2, 7, 23, 59, 59)}, // Sunday: still the week of 1 February
		{id: "B9", kind: "purchase", card: 2, amount: 100, at: at(2, 8, 0, 0, 0)},    // Monday: the next week
	}
	want := map[string]int{
		// each, 10% capped at 15.00, at most 2 a month:
		"OF-E status=1 amount=1000 n=1 total=10000 budgetSpent=false": 1, // B1: 10% of 100.00
		"OF-E status=1 amount=1500 n=1 total=25000 budgetSpent=false": 1, // B3: 10% of 250.00 = 25.00, capped at 15.00
		// B4: January's third: held back by the limit (voided, not shown)
		"OF-E status=1 amount=200 n=1 total=2000 budgetSpent=false": 1, // B5: 120.00 - 100.00 = 20.00, exactly minAmount: 2.00
		// B6 (reversed in full) and BA (refunded to 19.99, under minAmount): voided, and they
		// do not count against February's limit
		"OF-E status=1 amount=302 n=1 total=3025 budgetSpent=false": 1, // B7: 10% of 30.25 = 3.025, half-even: 3.02
		// spend 300.00 a month for 25.00:
		"OF-S status=1 amount=2500 n=4 total=40999 budgetSpent=false": 1, // January: B1+B2+B3+B4 = 100+19.99+250+40
		"OF-S status=0 amount=0 n=5 total=7224 budgetSpent=false":     1, // February: B5 20.00 + BA 19.99 + B7 30.25 + B8 1 + B9 1 (B6 reversed)
		// count 3 a week (Monday to Sunday) for 10 points:
		"OF-C status=0 amount=0 n=2 total=11999 budgetSpent=false": 1, // 4–10 January: B1, B2
		"OF-C status=0 amount=0 n=1 total=25000 budgetSpent=false": 1, // 11–17 January: B3
		"OF-C status=0 amount=0 n=1 total=4000 budgetSpent=false":  1, // 25–31 January: B4
		"OF-C status=1 amount=10 n=4 total=7124 budgetSpent=false": 1, // 1–7 February: B5, BA, B7, B8
		"OF-C status=0 amount=0 n=1 total=100 budgetSpent=false":   1, // 8–14 February: B9
	}
	if got := refModel(offers, set, orderEnrolled); !maps.Equal(got, want) {
		t.Fatalf("refModel disagrees with the hand computation:\ngot  %v\nwant %v", got, want)
	}
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		rng := rand.New(rand.NewPCG(5, 6))
		for round := range 3 {
			if round > 0 {
				st = storetest.Open(t, st.Engine())
			}
			p, cards := orderFixture(t, st, offers)
			order := slices.Clone(set)
			switch round {
			case 1: // newest first, refunds still after their purchases
				slices.Reverse(order)
				order = permuteKeepingRefundsAfter(nil, order)
			case 2:
				order = permuteKeepingRefundsAfter(rng, order)
			}
			for _, x := range order {
				if sum := ingest(t, p, []platform.TxnInput{x.input(cards)}); sum.Rejected != 0 {
					t.Fatalf("round %d: rejected %+v", round, sum.Errors)
				}
			}
			if got := observed(t, st); !maps.Equal(got, want) {
				t.Fatalf("round %d:\ngot  %v\nwant %v", round, got, want)
			}
		}
	})
}

// orderZone is the campaign's zone: Asia/Shanghai, UTC+8 all year (no daylight saving since
// 1991), written out so the expectations do not lean on the code's zone handling.
var orderZone = time.FixedZone("UTC+8", 8*3600)

// orderEnrolled is when orderFixture enrolls its four cards: two before the campaign starts,
// two at testNow (2027-01-10T20:00:00+08:00).
var orderEnrolled = []time.Time{
	time.Date(2026, 12, 20, 12, 0, 0, 0, orderZone), time.Date(2026, 12, 20, 12, 0, 0, 0, orderZone), testNow, testNow,
}

// orderClock is the ingesting platform's clock: after every transaction of the tests.
var orderClock = time.Date(2027, 4, 10, 12, 0, 0, 0, time.UTC)

// orderOffer is an offer of the order tests, described once for the campaign document (doc)
// and for refModel. Amounts are minor units of CNY; Point rewards are whole points.
type orderOffer struct {
	id, goal, period, rewardType string
	minAmount                    int64
	percent                      int64 // whole percent of the amount; 0: a fixed amount
	amount, cap                  int64 // reward units
	threshold                    int64 // spend: minor units; count: purchases
	perPeriod, perTotal, budget  int64
}

func (o orderOffer) value(v int64) json.Number {
	if o.rewardType == "Point" {
		return json.Number(fmt.Sprint(v))
	}
	return json.Number(fmt.Sprintf("%d.%02d", v/100, v%100))
}

func (o orderOffer) doc() map[string]any {
	reward := map[string]any{"type": o.rewardType}
	if o.percent != 0 {
		reward["percent"] = o.percent
	} else {
		reward["amount"] = o.value(o.amount)
	}
	if o.cap != 0 {
		reward["cap"] = o.value(o.cap)
	}
	goal := map[string]any{"type": o.goal}
	switch o.goal {
	case "spend":
		goal["threshold"] = json.Number(fmt.Sprintf("%d.%02d", o.threshold/100, o.threshold%100))
	case "count":
		goal["threshold"] = o.threshold
	}
	match := map[string]any{}
	if o.minAmount != 0 {
		match["minAmount"] = json.Number(fmt.Sprintf("%d.%02d", o.minAmount/100, o.minAmount%100))
	}
	return map[string]any{"offerId": o.id, "name": o.id, "billing": map[string]any{"period": o.period}, "match": match, "goal": goal,
		"reward": reward, "limits": map[string]any{"perCardPerPeriod": o.perPeriod, "perCardTotal": o.perTotal, "budget": o.value(o.budget)}}
}

// otxn is a test transaction on card index card of orderFixture.
type otxn struct {
	id, kind, orig string
	card           int
	amount         int64 // minor units
	at             time.Time
}

func (x otxn) input(cards []string) platform.TxnInput {
	in := purchase(x.id, cards[x.card], fmt.Sprintf("%d.%02d", x.amount/100, x.amount%100), x.at)
	in.Type, in.OriginalTransactionID = x.kind, x.orig
	return in
}

// orderFixture is a fresh campaign with the offers on st and four cards enrolled at
// orderEnrolled; it answers the ingesting platform and the cards.
func orderFixture(t *testing.T, st *store.Store, offers []orderOffer) (*platform.Platform, []string) {
	t.Helper()
	ctx := context.Background()
	f := setup(t, st)
	var docs []map[string]any
	for _, o := range offers {
		docs = append(docs, o.doc())
	}
	if _, err := newPlatformAt(t, st, orderEnrolled[0]).ApplyCampaign(ctx, "CMP-T", rewardCampaign(docs...), false); err != nil {
		t.Fatal(err)
	}
	cards := make([]string, len(orderEnrolled))
	for i, when := range orderEnrolled {
		e, _, err := newPlatformAt(t, st, when).Enroll(ctx, f.a, pan(fmt.Sprintf("411111117%06d", i)), "EG-R", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !e.CreatedAt.Equal(when) {
			t.Fatalf("card %d enrolled at %v, want %v", i, e.CreatedAt, when)
		}
		cards[i] = e.CardID
	}
	return newPlatformAt(t, st, orderClock), cards
}

// orderSet makes n purchases (some refunded or reversed, in part or in full, once or twice)
// of the four cards, spread from before the campaign's start to April and crowded around the
// boundaries of the campaign zone's days, weeks and months and of the enrollments.
func orderSet(rng *rand.Rand, n int) []otxn {
	sh := orderZone
	day := func(m time.Month, d int) time.Time { return time.Date(2027, m, d, 0, 0, 0, 0, sh) }
	bounds := []time.Time{day(1, 1), testNow, day(2, 1), day(3, 1), day(4, 1)} // campaign start, late enrollments, months
	for d := day(1, 4); d.Before(day(4, 8)); d = d.AddDate(0, 0, 7) {          // Mondays
		bounds = append(bounds, d)
	}
	lo, hi := time.Date(2026, 12, 30, 0, 0, 0, 0, sh), day(4, 8)
	var out []otxn
	for i := range n {
		var at time.Time
		b := bounds[rng.IntN(len(bounds))]
		switch rng.IntN(6) {
		case 0, 1:
			at = lo.Add(time.Duration(rng.Int64N(int64(hi.Sub(lo)/time.Second))) * time.Second)
		case 2:
			at = b.Add(time.Duration(rng.IntN(3)-1) * time.Second) // the boundary, or a second either side
		case 3:
			at = b.Add(time.Duration(rng.IntN(6*3600)-3*3600) * time.Second)
		default:
			at = b.Add(time.Duration(rng.IntN(6*86400)-3*86400) * time.Second)
		}
		if at.Before(lo) {
			at = lo
		} else if at.After(hi) {
			at = hi
		}
		var amount int64
		switch rng.IntN(6) {
		case 0:
			amount = 2000 // exactly minAmount
		case 1:
			amount = 1999
		default:
			amount = 500 + rng.Int64N(20000)
		}
		p := otxn{id: fmt.Sprintf("P%02d", i), kind: "purchase", card: rng.IntN(4), amount: amount, at: at}
		out = append(out, p)
		if rng.IntN(3) != 0 {
			continue
		}
		left := amount
		for j := range 1 + rng.IntN(2) {
			var back int64
			switch rng.IntN(4) {
			case 0:
				back = left // what is left, in full
			case 1:
				back = left - 2000 // leaves exactly minAmount
			default:
				back = 1 + rng.Int64N(left)
			}
			if back <= 0 {
				back = 1 + rng.Int64N(left)
			}
			left -= back
			when := at.Add(time.Second + time.Duration(rng.Int64N(int64(20*24*time.Hour))))
			if last := hi.AddDate(0, 0, 1); when.After(last) {
				when = last
			}
			out = append(out, otxn{id: fmt.Sprintf("R%02d%c", i, 'a'+j), kind: []string{"refund", "reversal"}[rng.IntN(2)], orig: p.id,
				card: p.card, amount: back, at: when})
			if left == 0 {
				break
			}
		}
	}
	return out
}

func checkOrderIndependence(t *testing.T, st *store.Store, seed uint64, offers []orderOffer) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 4))
	set := orderSet(rng, 70)
	want := refModel(offers, set, orderEnrolled)
	if len(want) < 10 {
		t.Fatalf("the set earns too little to show anything: %v", want)
	}
	var first map[string]int
	for round := range 4 {
		if round > 0 {
			st = storetest.Open(t, st.Engine()) // start over on a fresh store
		}
		p, cards := orderFixture(t, st, offers)
		var order []platform.TxnInput
		for _, x := range permuteKeepingRefundsAfter(rng, set) {
			order = append(order, x.input(cards))
		}
		// Replays: some rows twice.
		for range 5 {
			order = append(order, order[rng.IntN(len(order))])
		}
		for len(order) > 0 {
			n := 1 + rng.IntN(len(order))
			if sum := ingest(t, p, order[:n]); sum.Rejected != 0 {
				t.Fatalf("round %d: rejected rows: %+v", round, sum.Errors)
			}
			order = order[n:]
		}
		if got := observed(t, st); !maps.Equal(got, want) {
			t.Fatalf("round %d: the rewards shown differ from the contract's rules\n%s", round, diffCounts(got, want))
		}
		// Everything stored, messages and voided rewards included, is the same in every round.
		got := canonical(rewardState(t, st))
		if round == 0 {
			first = got
			continue
		}
		if !maps.Equal(got, first) {
			t.Fatalf("round %d: reward state differs from round 0\n%s", round, diffCounts(got, first))
		}
	}
}

// diffCounts lists the entries of two multisets that differ.
func diffCounts(got, want map[string]int) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			fmt.Fprintf(&b, "  %-70s got %d, want %d\n", k, got[k], want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "  %-70s got %d, want 0\n", k, got[k])
		}
	}
	return b.String()
}

// observed is what users can see of the campaign's rewards: the ones not voided, by offer,
// status, amount, eventCount, eventTotalAmount and whether calculateMessage says the budget
// is spent (a multiset: reward ids differ from store to store).
func observed(t *testing.T, st *store.Store) map[string]int {
	t.Helper()
	rs, _, err := st.AdminRewards(context.Background(), store.AdminRewardQuery{CampaignID: "CMP-T", Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range rs {
		if !r.Voided {
			out[viewKey(r.OfferID, r.Status, r.CalculatedAmount, r.EventCount, r.EventTotalAmount, strings.Contains(r.CalculateMessage, "budget is spent"))]++
		}
	}
	return out
}

func viewKey(offer string, status int, amount, n, total int64, budgetSpent bool) string {
	return fmt.Sprintf("%s status=%d amount=%d n=%d total=%d budgetSpent=%v", offer, status, amount, n, total, budgetSpent)
}

// refModel computes, from the contract's rules (section 8) alone, the rewards users see for the
// transactions (observed's form). Rules: a purchase counts for an offer when its card was
// enrolled at or before it, it falls within the campaign dates (2027, campaign zone) and its
// amount is at least minAmount; refunds and reversals subtract from their purchase, which
// no longer counts below minAmount or at nothing left. each: one reward per counting purchase
// (10% of what is left, half-even, capped); spend/count: one per card and period, met at the
// threshold. Per-card limits and then the budget go to the earliest earn (transaction time,
// then id; for spend/count the purchase that reached the threshold): an each reward held back
// is voided, a spend/count reward stays 0. Voided rewards are not shown.
func refModel(offers []orderOffer, txns []otxn, enrolled []time.Time) map[string]int {
	sh := orderZone
	start, end := time.Date(2027, 1, 1, 0, 0, 0, 0, sh), time.Date(2028, 1, 1, 0, 0, 0, 0, sh)
	net := map[string]int64{}
	for _, x := range txns {
		if x.kind == "purchase" {
			net[x.id] += x.amount
		} else {
			net[x.orig] -= x.amount
		}
	}
	type result struct {
		card              int
		period            string
		met, voided, held bool
		amount, n, total  int64
		earnAt            time.Time
		earnID            string
	}
	earlier := func(a, b *result) int { return cmp.Or(a.earnAt.Compare(b.earnAt), strings.Compare(a.earnID, b.earnID)) }
	out := map[string]int{}
	for _, o := range offers {
		payout := func(base int64) int64 {
			v := o.amount
			if o.percent != 0 {
				q, r := base*o.percent/100, base*o.percent%100
				if r > 50 || (r == 50 && q%2 == 1) {
					q++
				}
				v = q
			}
			if o.cap > 0 && v > o.cap {
				v = o.cap
			}
			return v
		}
		periodOf := func(at time.Time) string {
			d := at.In(sh)
			switch o.period {
			case "day":
				return d.Format(time.DateOnly)
			case "week":
				monday := time.Date(d.Year(), d.Month(), d.Day()-(int(d.Weekday())+6)%7, 0, 0, 0, 0, sh)
				return monday.Format(time.DateOnly)
			}
			return d.Format("2006-01")
		}
		var qualifying []otxn
		for _, x := range txns {
			if x.kind == "purchase" && !x.at.Before(enrolled[x.card]) && !x.at.Before(start) && x.at.Before(end) && x.amount >= o.minAmount {
				qualifying = append(qualifying, x)
			}
		}
		slices.SortFunc(qualifying, func(a, b otxn) int { return cmp.Or(a.at.Compare(b.at), strings.Compare(a.id, b.id)) })
		counts := func(x otxn) bool { return net[x.id] > 0 && net[x.id] >= o.minAmount }
		var rs []*result
		if o.goal == "each" {
			for _, x := range qualifying {
				r := &result{card: x.card, period: periodOf(x.at), earnAt: x.at, earnID: x.id, voided: !counts(x)}
				if counts(x) {
					r.met, r.amount, r.n, r.total = true, payout(net[x.id]), 1, net[x.id]
				}
				rs = append(rs, r)
			}
		} else {
			units := map[string]*result{}
			for _, x := range qualifying {
				key := fmt.Sprint(x.card, periodOf(x.at))
				r := units[key]
				if r == nil {
					r = &result{card: x.card, period: periodOf(x.at)}
					units[key] = r
					rs = append(rs, r)
				}
				if !counts(x) {
					continue
				}
				r.n++
				r.total += net[x.id]
				if !r.met && ((o.goal == "count" && r.n >= o.threshold) || (o.goal == "spend" && r.total >= o.threshold)) {
					r.met, r.earnAt, r.earnID = true, x.at, x.id
				}
			}
			for _, r := range rs {
				if r.met {
					r.amount = payout(r.total)
				}
			}
		}
		holdBack := func(r *result) {
			r.met, r.amount = false, 0
			if o.goal == "each" {
				r.voided = true
			}
		}
		var met []*result
		for _, r := range rs {
			if r.met {
				met = append(met, r)
			}
		}
		slices.SortStableFunc(met, earlier)
		perPeriod, perTotal := map[string]int64{}, map[int]int64{}
		for _, r := range met {
			pk := fmt.Sprint(r.card, r.period)
			if (o.perPeriod > 0 && perPeriod[pk] >= o.perPeriod) || (o.perTotal > 0 && perTotal[r.card] >= o.perTotal) {
				holdBack(r)
				continue
			}
			perPeriod[pk]++
			perTotal[r.card]++
		}
		if o.budget > 0 {
			left := o.budget
			for _, r := range met {
				switch {
				case !r.met:
				case r.amount <= left:
					left -= r.amount
				default:
					holdBack(r)
					r.held = true
				}
			}
		}
		for _, r := range rs {
			if r.voided {
				continue
			}
			status := 0
			if r.met {
				status = 1
			}
			out[viewKey(o.id, status, r.amount, r.n, r.total, r.held && o.goal != "each")]++
		}
	}
	return out
}

// canonical lists reward states without their (store-specific) ids.
func canonical(state map[string]string) map[string]int {
	out := map[string]int{}
	for _, s := range state {
		out[s]++
	}
	return out
}

// permuteKeepingRefundsAfter shuffles rows (rng nil: keeps their order) and then moves every
// refund after its original.
func permuteKeepingRefundsAfter(rng *rand.Rand, rows []otxn) []otxn {
	out := slices.Clone(rows)
	if rng != nil {
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	for i := 0; i < len(out); i++ {
		r := out[i]
		if r.orig == "" {
			continue
		}
		for j := i + 1; j < len(out); j++ {
			if out[j].id == r.orig {
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
	applyOffers(t, f.p, each, spend)
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
		applyOffers(t, f.p, v1)
		card := enrolledCards(t, f, 1)[0]
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		a, b := purchase("A", card, "100", testNow.Add(time.Minute)), purchase("B", card, "100", testNow.Add(2*time.Minute))
		b.MCC = "5814"
		ingest(t, p, []platform.TxnInput{a, b})
		v2 := offer("OF-E", "each", map[string]any{"match": map[string]any{"mcc": []string{"5812"}},
			"reward": map[string]any{"type": "Cash", "percent": 20}})
		applyOffers(t, p, v2)
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
		applyOffers(t, f.p, spendOn("5812"))
		card := enrolledCards(t, f, 1)[0]
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		ingest(t, p, []platform.TxnInput{purchase("A", card, "250", testNow.Add(time.Minute))})
		applyOffers(t, p, spendOn("5411"))
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
		applyOffers(t, f.p, spendOn("5812"))
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

// applyOffers applies the test campaign (rewardCampaign) with the offers.
func applyOffers(t *testing.T, p *platform.Platform, offers ...map[string]any) {
	t.Helper()
	if _, err := p.ApplyCampaign(context.Background(), "CMP-T", rewardCampaign(offers...), false); err != nil {
		t.Fatal(err)
	}
}

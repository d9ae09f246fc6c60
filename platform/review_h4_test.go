package platform_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/engine"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// h4Clock is when the h4 tests ingest and change campaigns: mid-March 2027, so that January
// and February are over and their bills may be generated.
var h4Clock = time.Date(2027, 3, 20, 0, 0, 0, 0, time.UTC)

// h4Purchases are purchases of two cards over January to March 2027 on two MCCs and two
// merchants, of various amounts (each at a distinct time).
func h4Purchases(cards []string) []platform.TxnInput {
	var rows []platform.TxnInput
	day := time.Date(2027, 1, 11, 4, 0, 0, 0, time.UTC)
	amounts := []string{"120", "80", "250", "40", "300", "95.5", "180", "60", "20", "410", "75", "130"}
	for i := range 24 {
		card := cards[i%len(cards)]
		at := day.Add(time.Duration(i) * 3 * 24 * time.Hour).Add(time.Duration(i) * 37 * time.Minute)
		p := purchase(fmt.Sprintf("P%02d", i), card, amounts[i%len(amounts)], at)
		if i%3 == 1 {
			p.MCC = "5411"
		}
		if i%4 == 2 {
			p.MerchantID = "M2"
		}
		rows = append(rows, p)
	}
	// Refunds (one partial, one whole) and a purchase arriving late, dated before others.
	at := func(i int) time.Time {
		return day.Add(time.Duration(i) * 3 * 24 * time.Hour).Add(time.Duration(i)*37*time.Minute + time.Hour)
	}
	rows = append(rows, refund("R02", "P02", cards[0], "100", at(2)), refund("R09", "P09", cards[1], "410", at(9)),
		purchase("LATE", cards[1], "333", day.Add(-2*time.Hour)))
	return rows
}

// h4State is every live reward of CMP-T and every bill holding one, in words that do not
// depend on the store's random ids (cards, users).
func h4State(t *testing.T, p *platform.Platform, st *store.Store) []string {
	t.Helper()
	var out []string
	for _, r := range liveRewards(t, st) {
		out = append(out, fmt.Sprintf("reward %s %s..%s account=%v cards=%d status=%d amount=%d n=%d total=%d msg=%q name=%q claim=%v",
			r.OfferID, r.Bill.StartDate, r.Bill.EndDate, r.AccountVuid != "", len(r.CardIDs), r.Status, r.CalculatedAmount,
			r.EventCount, r.EventTotalAmount, r.CalculateMessage, r.Name, r.ClaimRequired))
	}
	for _, b := range mustBills(t, p) {
		if b.RewardCount == 0 && b.TotalAmount == 0 {
			continue // only voided rewards, or none met (generated): such bills may differ
		}
		out = append(out, fmt.Sprintf("bill %s %s..%s due %s status=%d rewards=%d total=%d name=%q", b.OfferID, b.StartDate, b.EndDate,
			b.SettlementDate, b.Status, b.RewardCount, b.TotalAmount, b.Name))
	}
	slices.Sort(out)
	return out
}

// h4World is a platform with CMP-T applied as doc, two enrolled cards bound to one user of
// app A, and its platform at h4Clock.
type h4World struct {
	f     *fixture
	p     *platform.Platform
	st    *store.Store
	cards []string
}

func newH4World(t *testing.T, st *store.Store, doc []byte) *h4World {
	t.Helper()
	f := setup(t, st)
	if _, err := f.p.ApplyCampaign(context.Background(), "CMP-T", doc, false); err != nil {
		t.Fatal(err)
	}
	cards := enrolledCards(t, f, 2)
	bindAll(t, f, "h4-user", cards...)
	return &h4World{f: f, p: newPlatformAt(t, st, h4Clock), st: st, cards: cards}
}

func (w *h4World) apply(t *testing.T, doc []byte) {
	t.Helper()
	if _, err := w.p.ApplyCampaign(context.Background(), "CMP-T", doc, false); err != nil {
		t.Fatalf("applying the change: %v", err)
	}
}

// sameAsIngestedUnder checks contract 8 for a change before generation: once doc v2 replaced
// v1 (two thirds of the transactions ingested before, the rest after, refunds and a late
// purchase among them), the rewards and bills are those the transactions would have given had
// they been ingested under v2 from the start.
func sameAsIngestedUnder(t *testing.T, st *store.Store, v1, v2 []byte) {
	t.Helper()
	changed := newH4World(t, st, v1)
	rows := h4Purchases(changed.cards)
	ingest(t, changed.p, rows[:16])
	changed.apply(t, v2)
	ingest(t, changed.p, rows[16:]) // built upon what the change left
	fresh := newH4World(t, storetest.Open(t, st.Engine()), v2)
	ingest(t, fresh.p, h4Purchases(fresh.cards))
	got, want := h4State(t, changed.p, changed.st), h4State(t, fresh.p, fresh.st)
	if !slices.Equal(got, want) {
		t.Fatalf("after the change:\n  %s\nas if ingested under the new document:\n  %s", strings.Join(got, "\n  "),
			strings.Join(want, "\n  "))
	}
	periodsCutBy(t, changed.p, v2)
}

// periodsCutBy checks contract 8 for every open bill of CMP-T, voided rewards or not: its
// StartDate, EndDate and SettlementDate are those of a billing period of its offer in doc (one
// bill per offer per period; none for a period the document no longer cuts).
func periodsCutBy(t *testing.T, p *platform.Platform, doc []byte) {
	t.Helper()
	c, err := vsrp.ParseCampaign(doc)
	if err != nil {
		t.Fatal(err)
	}
	offers := map[string]*engine.Offer{}
	for i := range c.Offers {
		o, err := engine.Compile(c, &c.Offers[i])
		if err != nil {
			t.Fatal(err)
		}
		offers[o.OfferID] = o
	}
	for _, b := range mustBills(t, p) {
		if b.Status != vsrp.BillOpen {
			continue
		}
		per, err := offers[b.OfferID].PeriodOfDay(b.StartDate)
		if err != nil {
			t.Fatal(err)
		}
		if got := (engine.Period{Start: b.StartDate, End: b.EndDate, Settlement: b.SettlementDate}); got != per {
			t.Errorf("open bill %s of %s (%d live rewards) is for %+v; the offer's period of that day is %+v", b.ID, b.OfferID,
				b.RewardCount, got, per)
		}
	}
}

func withAggregation(doc []byte, aggregation string) []byte {
	return []byte(strings.Replace(string(doc), `"aggregation":"card"`, `"aggregation":"`+aggregation+`"`, 1))
}

// h4Offers are an each offer (10%, at most 2 a month) and a spend offer (300.00 for 20.00).
func h4Offers() []map[string]any {
	each := offer("OF-E", "each", map[string]any{"limits": map[string]any{"perCardPerPeriod": 2}})
	spend := offer("OF-S", "spend", map[string]any{"goal": map[string]any{"type": "spend", "threshold": 300},
		"reward": map[string]any{"type": "Cash", "amount": 20}})
	return []map[string]any{each, spend}
}

// Contract 8: aggregation says whose transactions make one reward (归卡 per card, 归户 per
// account). Changing it before generation must leave the rewards the transactions give under
// the new aggregation, and no others: the units of the old aggregation no longer exist, so
// their rewards of open bills are voided (docs/decisions.md, "Changing a campaign before
// generation": rewards the rules no longer give are voided).
func TestAggregationChangeBeforeGeneration(t *testing.T) {
	for _, c := range []struct{ from, to string }{{"card", "account"}, {"account", "card"}} {
		t.Run(c.from+" to "+c.to, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, st *store.Store) {
				doc := rewardCampaign(h4Offers()...)
				sameAsIngestedUnder(t, st, withAggregation(doc, c.from), withAggregation(doc, c.to))
			})
		})
	}
}

// An account's each reward stored under its purchase's key alone (before account rewards were
// keyed apart from their cards') has the id of the card's own reward of the purchase: after
// the campaign changes to per-card aggregation it is that reward, recomputed in place (one
// reward that pays), not a second insert of the same id.
func TestAggregationChangeOfLegacyAccountEachReward(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		each := offer("OF-E", "each", nil)
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountCampaign(each), false); err != nil {
			t.Fatal(err)
		}
		card := enrolledCards(t, f, 1)[0]
		bindAll(t, f, "legacy-user", card)
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		ingest(t, p, []platform.TxnInput{purchase("A1", card, "100", testNow.Add(time.Minute))})
		giveLegacyEachID(t, st, "A1")
		if _, err := p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(each), false); err != nil {
			t.Fatalf("changing the aggregation to card: %v", err)
		}
		own := `OF-E 2027-01-01..2027-01-31 vuid="" cards=1 status=1 amount=1000 n=1 total=10000`
		if got := describe(t, st); !slices.Equal(got, []string{own}) {
			t.Fatalf("after the change: %q\nwant the card's own reward only: %q", got, own)
		}
	})
}

// h4Doc is CMP-T with the h4 offers, each changed by its function, and then the whole
// document by edit (string replacements, old then new).
func h4Doc(each, spend func(o map[string]any), edit ...string) []byte {
	offers := h4Offers()
	if each != nil {
		each(offers[0])
	}
	if spend != nil {
		spend(offers[1])
	}
	doc := string(rewardCampaign(offers...))
	for i := 0; i+1 < len(edit); i += 2 {
		doc = strings.Replace(doc, edit[i], edit[i+1], 1)
	}
	return []byte(doc)
}

func set(path string, v any) func(o map[string]any) {
	return func(o map[string]any) {
		keys := strings.Split(path, ".")
		m := o
		for _, k := range keys[:len(keys)-1] {
			if m[k] == nil {
				m[k] = map[string]any{}
			}
			m = m[k].(map[string]any)
		}
		m[keys[len(keys)-1]] = v
	}
}

func both(fs ...func(o map[string]any)) func(o map[string]any) {
	return func(o map[string]any) {
		for _, f := range fs {
			f(o)
		}
	}
}

// Contract 8 and docs/decisions.md ("Changing a campaign before generation"): whatever changes
// in a campaign document before its bills are generated, the rewards of open bills follow the
// new document exactly as if the transactions had been ingested under it.
func TestEveryChangeBeforeGeneration(t *testing.T) {
	base := h4Doc(nil, nil)
	for _, c := range []struct {
		name string
		v2   []byte
	}{
		{"threshold up", h4Doc(nil, set("goal.threshold", 500))},
		{"threshold down", h4Doc(nil, set("goal.threshold", 100))},
		{"goal spend to count", h4Doc(nil, set("goal", map[string]any{"type": "count", "threshold": 3}))},
		{"goal each to spend", h4Doc(set("goal", map[string]any{"type": "spend", "threshold": 200}), nil)},
		{"fixed amount", h4Doc(nil, set("reward.amount", 35.5))},
		{"percent", h4Doc(set("reward.percent", 12.5), nil)},
		{"percent to amount", h4Doc(set("reward", map[string]any{"type": "Cash", "amount": 3}), nil)},
		{"cap", h4Doc(set("reward.cap", 10), nil)},
		{"points", h4Doc(set("reward.type", "Point"), set("reward.type", "Point"))},
		{"mcc", h4Doc(set("match.mcc", []string{"5411"}), set("match.mcc", []string{"5812"}))},
		{"merchant", h4Doc(set("match.merchantIds", []string{"M2"}), set("match.merchantIds", []string{"M"}))},
		{"merchant country", h4Doc(set("match.merchantCountries", []string{"HK"}), nil)},
		{"minAmount", h4Doc(set("match.minAmount", 100), set("match.minAmount", 90))},
		{"currencies", h4Doc(set("match.currencies", []string{"USD"}), nil)},
		{"per card per period up", h4Doc(set("limits.perCardPerPeriod", 3), set("limits.perCardPerPeriod", 1))},
		{"per card per period off", h4Doc(set("limits.perCardPerPeriod", 0), nil)},
		{"per card total", h4Doc(set("limits.perCardTotal", 5), set("limits.perCardTotal", 2))},
		{"budget", h4Doc(set("limits.budget", 60), set("limits.budget", 50))},
		{"week", h4Doc(set("billing.period", "week"), set("billing.period", "week"))},
		{"day", h4Doc(set("billing.period", "day"), set("billing.period", "day"))},
		{"campaign period", h4Doc(set("billing.period", "campaign"), set("billing.period", "campaign"))},
		{"settlement delay", h4Doc(set("billing.settlementDelayDays", 5), nil)},
		{"start later", h4Doc(nil, nil, `"startDate":"2027-01-01"`, `"startDate":"2027-01-20"`)},
		{"end earlier", h4Doc(nil, nil, `"endDate":"2027-12-31"`, `"endDate":"2027-02-20"`)},
		{"timezone", h4Doc(nil, nil, `"timezone":"Asia/Shanghai"`, `"timezone":"America/Los_Angeles"`)},
		{"currency", h4Doc(nil, nil, `"currency":"CNY"`, `"currency":"HKD"`)},
		{"name and claim", h4Doc(both(set("name", "new each"), set("reward.claimRequired", true)), set("name", "new spend"))},
		{"everything at once", h4Doc(both(set("billing.period", "week"), set("limits.perCardTotal", 4), set("match.minAmount", 50)),
			both(set("limits.budget", 40), set("goal.threshold", 250)), `"timezone":"Asia/Shanghai"`, `"timezone":"UTC"`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, st *store.Store) {
				sameAsIngestedUnder(t, st, base, c.v2)
			})
		})
	}
}

// Contract 8: StartDate and EndDate are the period's first and last day, SettlementDate the
// day it falls due, and bills are generated once the period has ended plus the delay. When a
// change of the billing period (week to month) leaves a week's bill holding only rewards the
// new rules void, that bill (whose id is the month's: both start on the 1st) must take the
// month's dates. It kept the week's, fell due after the first week, and the scheduler
// generated February's bill on the 10th: a purchase of the 9th then earned nothing.
func TestPeriodChangeLeavesNoBillFallingDueEarly(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		weekly := offer("OF-E", "each", map[string]any{"billing": map[string]any{"period": "week"},
			"match": map[string]any{"mcc": []string{"5812", "5411"}}})
		monthly := offer("OF-E", "each", map[string]any{"match": map[string]any{"mcc": []string{"5812"}}})
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(weekly), false); err != nil {
			t.Fatal(err)
		}
		card := enrolledCards(t, f, 1)[0]
		p := newPlatformAt(t, st, time.Date(2027, 2, 8, 12, 0, 0, 0, time.UTC))
		grocery := purchase("FEB3", card, "100", time.Date(2027, 2, 3, 4, 0, 0, 0, time.UTC))
		grocery.MCC = "5411"
		ingest(t, p, []platform.TxnInput{grocery})
		if _, err := p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(monthly), false); err != nil {
			t.Fatal(err)
		}
		later := newPlatformAt(t, st, time.Date(2027, 2, 10, 12, 0, 0, 0, time.UTC))
		if err := later.RunDueWork(ctx); err != nil {
			t.Fatal(err)
		}
		ingest(t, later, []platform.TxnInput{purchase("FEB9", card, "100", time.Date(2027, 2, 9, 4, 0, 0, 0, time.UTC))})
		want := []string{`OF-E 2027-02-01..2027-02-28 vuid="" cards=1 status=1 amount=1000 n=1 total=10000`}
		if got := describe(t, st); !slices.Equal(got, want) {
			t.Fatalf("rewards: %q\nwant February's purchase of the 9th rewarded on the open February bill: %q (bills %+v)", got, want,
				mustBills(t, later)[0].Bill)
		}
	})
}

// storeOnly stores a campaign document as its next version without re-evaluating it: a process
// that stopped after applying the change (docs/decisions.md, "A campaign change").
func storeOnly(t *testing.T, st *store.Store, doc []byte) {
	t.Helper()
	c, err := vsrp.ParseCampaign(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.ApplyCampaign(context.Background(), c, doc, testNow); err != nil {
		t.Fatal(err)
	}
}

// A change applied before a bill's generation decides that bill's rewards (contract 8: after
// generation the offer's reward can no longer change; before, the rewards of open bills follow
// the document). When the change's re-evaluation was interrupted, the scheduler takes it up
// again (docs/decisions.md, "A campaign change"); it must do so before it generates the bills
// that fall due, else January's bill is generated with the old rewards and can never follow
// the document stored before it. An operator's generation meanwhile is refused (409) rather
// than confirming rewards of the old document.
func TestInterruptedChangeIsEvaluatedBeforeGeneration(t *testing.T) {
	for _, operator := range []bool{false, true} {
		t.Run(fmt.Sprintf("operator generates first: %v", operator), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, st *store.Store) {
				f := setup(t, st)
				ctx := context.Background()
				applyOffers(t, f.p, offer("OF-E", "each", nil))
				card := enrolledCards(t, f, 1)[0]
				p := newPlatformAt(t, st, testNow.Add(time.Hour))
				ingest(t, p, []platform.TxnInput{purchase("A", card, "100", testNow.Add(time.Minute))})
				storeOnly(t, st, rewardCampaign(offer("OF-E", "each", map[string]any{"reward": map[string]any{"type": "Cash", "percent": 20}})))
				due := newPlatformAt(t, st, time.Date(2027, 2, 5, 0, 0, 0, 0, time.UTC))
				if operator {
					bill := mustBills(t, due)[0]
					if _, err := due.GenerateBill(ctx, bill.ID, false); !errors.Is(err, vsrp.ErrConflict) {
						t.Errorf("generating while the change is not re-evaluated: %v, want a conflict", err)
					}
				}
				if err := due.RunDueWork(ctx); err != nil {
					t.Fatal(err)
				}
				r := rewardOfCard(t, due, f.a, card)
				if r.Bill.Status != vsrp.BillGenerated || r.ConfirmedAmount == nil || *r.ConfirmedAmount != 2000 {
					t.Fatalf("after the due work: bill status %d, confirmed %v; want generated with 2000 (20%% of 100.00, the document's reward)",
						r.Bill.Status, fmtAmount(r.ConfirmedAmount))
				}
			})
		})
	}
}

func fmtAmount(a *int64) string {
	if a == nil {
		return "null"
	}
	return fmt.Sprint(*a)
}

// generated is every reward of CMP-T's generated bills and those bills, as operators see them
// (voided rewards included), in words that do not depend on the store's random ids.
func generated(t *testing.T, p *platform.Platform, st *store.Store) []string {
	t.Helper()
	rs, _, err := st.AdminRewards(context.Background(), store.AdminRewardQuery{CampaignID: "CMP-T", Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		if r.Bill.Status == vsrp.BillOpen {
			continue
		}
		out = append(out, fmt.Sprintf("reward %s %s..%s voided=%v account=%v cards=%d status=%d amount=%d confirmed=%s n=%d total=%d msg=%q name=%q claim=%v",
			r.OfferID, r.Bill.StartDate, r.Bill.EndDate, r.Voided, r.AccountVuid != "", len(r.CardIDs), r.Status, r.CalculatedAmount,
			fmtAmount(r.ConfirmedAmount), r.EventCount, r.EventTotalAmount, r.CalculateMessage, r.Name, r.ClaimRequired))
	}
	for _, b := range mustBills(t, p) {
		if b.Status != vsrp.BillOpen {
			out = append(out, fmt.Sprintf("bill %s %s..%s due %s status=%d rewards=%d total=%d name=%q adjustments=%d", b.OfferID,
				b.StartDate, b.EndDate, b.SettlementDate, b.Status, b.RewardCount, b.TotalAmount, b.Name, len(b.Adjustments)))
		}
	}
	slices.Sort(out)
	return out
}

// generateJanuary generates every January bill of CMP-T (due since February).
func generateJanuary(t *testing.T, p *platform.Platform) {
	t.Helper()
	for _, b := range mustBills(t, p) {
		if b.StartDate < "2027-02-01" && b.Status == vsrp.BillOpen {
			if _, err := p.GenerateBill(context.Background(), b.ID, false); err != nil {
				t.Fatalf("generating %s..%s of %s: %v", b.StartDate, b.EndDate, b.OfferID, err)
			}
		}
	}
}

// Contract 8: after generation nothing is taken back, and limits and budget are never
// exceeded. A change applied once January's bills are generated either answers 409 and
// changes nothing, or leaves January's bills exactly as they were while the open bills follow
// the new document, as if the later transactions had been ingested under it.
func TestEveryChangeAfterGeneration(t *testing.T) {
	base := h4Doc(set("limits.perCardTotal", 5), set("limits.budget", 100))
	for _, c := range []struct {
		name    string
		v2      []byte
		refused bool
	}{
		{"per card per period", h4Doc(both(set("limits.perCardTotal", 5), set("limits.perCardPerPeriod", 1)), set("limits.budget", 100)), false},
		{"per card total down", h4Doc(set("limits.perCardTotal", 2), set("limits.budget", 100)), false},
		{"per card total up", h4Doc(set("limits.perCardTotal", 7), set("limits.budget", 100)), false},
		{"budget down", h4Doc(set("limits.perCardTotal", 5), set("limits.budget", 50)), false},
		{"budget up", h4Doc(set("limits.perCardTotal", 5), set("limits.budget", 150)), false},
		{"budget off", h4Doc(set("limits.perCardTotal", 5), nil), false},
		{"name", h4Doc(both(set("limits.perCardTotal", 5), set("name", "renamed")), both(set("limits.budget", 100), set("name", "renamed"))), false},
		{"settlement delay", h4Doc(both(set("limits.perCardTotal", 5), set("billing.settlementDelayDays", 3)), set("limits.budget", 100)), false},
		{"end earlier", h4Doc(set("limits.perCardTotal", 5), set("limits.budget", 100), `"endDate":"2027-12-31"`, `"endDate":"2027-03-10"`), false},
		{"start earlier", h4Doc(set("limits.perCardTotal", 5), set("limits.budget", 100), `"startDate":"2027-01-01"`, `"startDate":"2026-12-01"`), false},
		{"added offer", []byte(strings.Replace(string(base), `"offers":[`, `"offers":[{"offerId":"OF-N","name":"new","billing":{"period":"month"},"match":{},"goal":{"type":"count","threshold":2},"reward":{"type":"Point","amount":7},"limits":{}},`, 1)), false},
		{"aggregation", withAggregation(base, "account"), false},
		{"claim required", h4Doc(both(set("limits.perCardTotal", 5), set("reward.claimRequired", true)), set("limits.budget", 100)), true},
		{"reward", h4Doc(both(set("limits.perCardTotal", 5), set("reward.percent", 11)), set("limits.budget", 100)), true},
		{"match", h4Doc(set("limits.perCardTotal", 5), both(set("limits.budget", 100), set("match.minAmount", 50))), true},
		{"goal", h4Doc(set("limits.perCardTotal", 5), both(set("limits.budget", 100), set("goal.threshold", 301))), true},
		{"period", h4Doc(both(set("limits.perCardTotal", 5), set("billing.period", "week")), set("limits.budget", 100)), true},
		{"timezone", h4Doc(set("limits.perCardTotal", 5), set("limits.budget", 100), `"timezone":"Asia/Shanghai"`, `"timezone":"Asia/Tokyo"`), true},
		{"start later", h4Doc(set("limits.perCardTotal", 5), set("limits.budget", 100), `"startDate":"2027-01-01"`, `"startDate":"2027-01-12"`), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, st *store.Store) {
				ctx := context.Background()
				w := newH4World(t, st, base)
				rows := h4Purchases(w.cards)[:24] // no transaction for January after its generation
				ingest(t, w.p, rows)
				generateJanuary(t, w.p)
				before, open := generated(t, w.p, w.st), h4State(t, w.p, w.st)
				_, err := w.p.ApplyCampaign(ctx, "CMP-T", c.v2, false)
				if c.refused {
					if !errors.Is(err, vsrp.ErrConflict) {
						t.Fatalf("applying the change after generation: %v, want a conflict", err)
					}
					if got := h4State(t, w.p, w.st); !slices.Equal(got, open) {
						t.Fatalf("a refused change changed the rewards:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(open, "\n  "))
					}
					return
				}
				if err != nil {
					t.Fatalf("applying the change after generation: %v", err)
				}
				if got := generated(t, w.p, w.st); !slices.Equal(got, before) {
					t.Fatalf("generated bills changed:\n  %s\nwere\n  %s", strings.Join(got, "\n  "), strings.Join(before, "\n  "))
				}
				fresh := newH4World(t, storetest.Open(t, st.Engine()), base)
				rows = h4Purchases(fresh.cards)[:24]
				split := slices.IndexFunc(rows, func(r platform.TxnInput) bool { return r.TransactionTime >= "2027-02" })
				ingest(t, fresh.p, rows[:split])
				generateJanuary(t, fresh.p)
				fresh.apply(t, c.v2)
				ingest(t, fresh.p, rows[split:])
				got, want := h4State(t, w.p, w.st), h4State(t, fresh.p, fresh.st)
				if !slices.Equal(got, want) {
					t.Fatalf("after the change:\n  %s\nas if February's and March's transactions had been ingested under it:\n  %s",
						strings.Join(got, "\n  "), strings.Join(want, "\n  "))
				}
				periodsCutBy(t, w.p, c.v2)
			})
		})
	}
}

// Contract 8 (rewards follow the applied document; results do not depend on the order of
// arrival) and docs/decisions.md ("A campaign change is re-evaluated ... before the campaign's
// rewards are built upon again"), on PostgreSQL: a batch that read the campaign before a change
// was applied and evaluates it only after the change's re-evaluation is done must evaluate
// under the change, not build its purchases upon the new rewards by the old rules.
//
// The interleaving is forced: the batch holds one purchase of a card of CMP-T (per-card) and one
// of a card, sorting after it, of an account-aggregated campaign; a third connection locks the
// bindings table, so the batch waits there after it read CMP-T and before it locks the offers.
// Meanwhile the change is applied and re-evaluated (it reads no binding), then the lock goes.
func TestChangeDuringBatchOnPostgres(t *testing.T) {
	st := storetest.Open(t, store.Postgres)
	f := setup(t, st)
	ctx := context.Background()
	applyOffers(t, f.p, offer("OF-E", "each", nil))
	other := strings.NewReplacer(`"CMP-T"`, `"CMP-Y"`, `"EG-R"`, `"EG-Y"`, `"OF-S"`, `"OF-Y"`).Replace(string(accountSpendCampaign()))
	if _, err := f.p.ApplyCampaign(ctx, "CMP-Y", []byte(other), false); err != nil {
		t.Fatal(err)
	}
	granted := []string{"CMP-T", "CMP-Y"}
	a, err := f.p.UpdateApp(ctx, f.a.ID, platform.AppSpec{CampaignIDs: &granted})
	if err != nil {
		t.Fatal(err)
	}
	first := enrolledCards(t, f, 1)[0]
	var second string
	for i := 0; second == ""; i++ {
		e, _, err := f.p.Enroll(ctx, a, pan(fmt.Sprintf("411111116%06d", i)), "EG-Y", nil)
		if err != nil {
			t.Fatal(err)
		}
		if e.CardID > first {
			second = e.CardID
		}
	}
	p := newPlatformAt(t, st, testNow.Add(time.Hour))
	lock := holdLock(t, st.DB(), `LOCK TABLE bindings IN ACCESS EXCLUSIVE MODE`)
	done := make(chan struct{})
	var sum platform.IngestSummary
	var ingestErr error
	go func() {
		defer close(done)
		sum, ingestErr = p.Ingest(ctx, []platform.TxnInput{purchase("A", first, "100", testNow.Add(time.Minute)),
			purchase("B", second, "100", testNow.Add(time.Minute))}, 1)
	}()
	if pid, _ := waitBlocked(t, st.DB(), lock.pid, done); pid == 0 {
		t.Fatal("the batch finished without waiting for the bindings")
	}
	applied := newPlatformAt(t, st, testNow.Add(time.Hour))
	if _, err := applied.ApplyCampaign(ctx, "CMP-T", rewardCampaign(offer("OF-E", "each",
		map[string]any{"reward": map[string]any{"type": "Cash", "percent": 20}})), false); err != nil {
		t.Fatal(err)
	}
	lock.release()
	<-done
	if ingestErr != nil || sum.Accepted != 2 {
		t.Fatalf("ingest: %+v %v", sum, ingestErr)
	}
	want := `OF-E 2027-01-01..2027-01-31 vuid="" cards=1 status=1 amount=2000 n=1 total=10000`
	if got := describe(t, st); !slices.Equal(got, []string{want}) {
		t.Fatalf("CMP-T's rewards: %q\nwant %q (20%% of 100.00, the document applied before the batch was evaluated)", got, want)
	}
}

// Contract 8: after generation the offer's reward can no longer change (409). A bill generated
// while a change of the reward is being applied (checked, not yet stored) must still make the
// change answer 409, on PostgreSQL where the two run at once: a third connection holds the
// campaign's row, so the apply waits there after its checks, and the bill is generated then.
func TestGenerationDuringApplyOnPostgres(t *testing.T) {
	st := storetest.Open(t, store.Postgres)
	f := setup(t, st)
	ctx := context.Background()
	applyOffers(t, f.p, offer("OF-E", "each", nil))
	card := enrolledCards(t, f, 1)[0]
	p := newPlatformAt(t, st, time.Date(2027, 2, 5, 0, 0, 0, 0, time.UTC))
	ingest(t, p, []platform.TxnInput{purchase("A", card, "100", testNow.Add(time.Minute))})
	bill := mustBills(t, p)[0]
	lock := holdLock(t, st.DB(), `SELECT campaign_id FROM campaigns WHERE campaign_id = 'CMP-T' FOR UPDATE`)
	done := make(chan struct{})
	var applyErr error
	go func() {
		defer close(done)
		_, applyErr = p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(offer("OF-E", "each",
			map[string]any{"reward": map[string]any{"type": "Cash", "percent": 20}})), false)
	}()
	if pid, _ := waitBlocked(t, st.DB(), lock.pid, done); pid == 0 {
		t.Fatalf("the change was applied without waiting for the campaign: %v", applyErr)
	}
	if _, err := p.GenerateBill(ctx, bill.ID, false); err != nil {
		t.Fatal(err)
	}
	lock.release()
	<-done
	if !errors.Is(applyErr, vsrp.ErrConflict) {
		t.Errorf("changing the reward of an offer whose bill was generated meanwhile: %v, want a conflict", applyErr)
	}
	doc, err := p.Campaign(ctx, "CMP-T", 0)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Version != 1 {
		t.Errorf("campaign version %d after the change, want 1 (the generated bill's rewards are 10%%: so is the offer)", doc.Version)
	}
}

// A dry run changes nothing (no version, no reward, no bill), and a change applied after a
// bill was settled writes no notification (contract 7 notifies a reward reaching 4; a change
// moves no reward there, and leaves the settled bill as it was).
func TestDryRunAndChangesAfterSettlementNotifyNothing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		w := newH4World(t, st, h4Doc(nil, nil))
		url := hookURL("A")
		if _, err := hookPlatform(t, st).UpdateApp(ctx, w.f.a.ID, platform.AppSpec{NotifyURL: &url}); err != nil {
			t.Fatal(err)
		}
		ingest(t, w.p, h4Purchases(w.cards))
		generateJanuary(t, w.p)
		for _, b := range mustBills(t, w.p) {
			if b.Status == vsrp.BillGenerated {
				if _, err := w.p.ApproveBill(ctx, b.ID); err != nil {
					t.Fatal(err)
				}
				if _, err := w.p.SettleBill(ctx, b.ID, nil, vsrp.RewardSettled); err != nil {
					t.Fatal(err)
				}
			}
		}
		_, notified, err := w.p.Notifications(ctx, "", 100, 0)
		if err != nil || notified == 0 {
			t.Fatalf("notifications after settlement: %d %v", notified, err)
		}
		state, settled := h4State(t, w.p, st), generated(t, w.p, st)
		for _, doc := range [][]byte{
			h4Doc(set("limits.perCardPerPeriod", 1), set("goal.threshold", 100)), // would change open bills
			h4Doc(set("reward.percent", 30), nil),                                // refused: January is generated
			withAggregation(h4Doc(nil, nil), "account"),
		} {
			res, err := w.p.ApplyCampaign(ctx, "CMP-T", doc, true)
			if err == nil && (!res.Changed || res.Version != 2) {
				t.Errorf("dry run: %+v", res)
			}
			if got := h4State(t, w.p, st); !slices.Equal(got, state) {
				t.Fatalf("a dry run changed the rewards:\n  %s", strings.Join(got, "\n  "))
			}
			if cur, err := w.p.Campaign(ctx, "CMP-T", 0); err != nil || cur.Version != 1 || cur.EvaluatedVersion != 1 {
				t.Fatalf("after a dry run: %+v %v", cur, err)
			}
		}
		w.apply(t, h4Doc(both(set("limits.perCardPerPeriod", 1), set("name", "renamed")), set("limits.budget", 40)))
		w.apply(t, withAggregation(h4Doc(both(set("limits.perCardPerPeriod", 1), set("name", "renamed")), set("limits.budget", 40)), "account"))
		if got := generated(t, w.p, st); !slices.Equal(got, settled) {
			t.Fatalf("the settled bills changed:\n  %s\nwere\n  %s", strings.Join(got, "\n  "), strings.Join(settled, "\n  "))
		}
		if _, n, err := w.p.Notifications(ctx, "", 100, 0); err != nil || n != notified {
			t.Fatalf("notifications after the changes: %d %v, want the %d of the settlement", n, err, notified)
		}
	})
}

// docs/decisions.md ("A campaign change"): the change is re-evaluated in chunks of 1,000
// cards, each in one transaction; one interrupted half way (here: its second chunk waits for a
// reward's row and its request is cancelled) leaves the change unevaluated, purchases ingested
// meanwhile are evaluated under the change, and the scheduler takes the re-evaluation up again:
// the end state is the one the transactions would have given under the new document.
func TestInterruptedReevaluationOnPostgres(t *testing.T) {
	st := storetest.Open(t, store.Postgres)
	ctx := context.Background()
	v1 := h4Doc(nil, nil)
	v2 := h4Doc(both(set("billing.period", "week"), set("limits.budget", 60)), both(set("goal.threshold", 250), set("limits.perCardTotal", 2)))
	f := setup(t, st)
	if _, err := f.p.ApplyCampaign(ctx, "CMP-T", v1, false); err != nil {
		t.Fatal(err)
	}
	cards := enrolledCards(t, f, 1001)
	slices.Sort(cards)
	ends := []string{cards[0], cards[1000]} // one card in each chunk
	p := newPlatformAt(t, st, h4Clock)
	rows := h4Purchases(ends)
	split := len(rows) - 4
	ingest(t, p, rows[:split])
	var held string
	if err := st.DB().QueryRow(`SELECT r.reward_id FROM rewards r JOIN reward_cards c ON c.reward_id = r.reward_id
		WHERE c.card_id = $1 LIMIT 1`, ends[1]).Scan(&held); err != nil {
		t.Fatal(err)
	}
	lock := holdLock(t, st.DB(), `SELECT reward_id FROM rewards WHERE reward_id = $1 FOR UPDATE`, held)
	applyCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var applyErr error
	go func() {
		defer close(done)
		_, applyErr = p.ApplyCampaign(applyCtx, "CMP-T", v2, false)
	}()
	if pid, _ := waitBlocked(t, st.DB(), lock.pid, done); pid == 0 {
		t.Fatalf("the re-evaluation ran through without waiting: %v", applyErr)
	}
	cancel()
	<-done
	lock.release()
	if applyErr == nil {
		t.Fatal("the interrupted change answered no error")
	}
	if stale, err := st.UnevaluatedCampaigns(ctx); err != nil || !slices.Equal(stale, []string{"CMP-T"}) {
		t.Fatalf("unevaluated campaigns: %v %v", stale, err)
	}
	ingest(t, p, rows[split:])
	if err := p.RunDueWork(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := setup(t, storetest.Open(t, store.Postgres))
	if _, err := fresh.p.ApplyCampaign(ctx, "CMP-T", v2, false); err != nil {
		t.Fatal(err)
	}
	freshP := newPlatformAt(t, fresh.p.Store(), h4Clock)
	ingest(t, freshP, h4Purchases(enrolledCards(t, fresh, 2)))
	if err := freshP.RunDueWork(ctx); err != nil {
		t.Fatal(err)
	}
	got, want := h4State(t, p, st), h4State(t, freshP, fresh.p.Store())
	if !slices.Equal(got, want) {
		t.Fatalf("after the interrupted change was taken up:\n  %s\nas if ingested under the new document:\n  %s",
			strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	periodsCutBy(t, p, v2)
}

// Contract 8 (results do not depend on arrival order; limits and budget never exceeded) with a
// change applied while an import runs in small batches, on another platform (process): once
// both are done, the rewards are those of the transactions ingested under the new document.
func TestChangeWhileImporting(t *testing.T) {
	for _, c := range []struct {
		name string
		v2   []byte
	}{
		{"limits and budget", h4Doc(set("limits.perCardTotal", 3), both(set("limits.budget", 60), set("goal.threshold", 200)))},
		{"aggregation and period", withAggregation(h4Doc(set("billing.period", "week"), set("match.minAmount", 70)), "account")},
	} {
		t.Run(c.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, st *store.Store) {
				ctx := context.Background()
				for trial := range 3 {
					w := newH4World(t, st, h4Doc(nil, nil))
					if trial > 0 { // a store of its own per trial: the card PANs repeat
						w = newH4World(t, storetest.Open(t, st.Engine()), h4Doc(nil, nil))
					}
					rows := h4Purchases(w.cards)
					other := newPlatformAt(t, storetest.Reopen(t, w.st), h4Clock)
					var wg sync.WaitGroup
					var applyErr error
					wg.Add(1)
					go func() {
						defer wg.Done()
						time.Sleep(time.Duration(trial) * 15 * time.Millisecond)
						_, applyErr = other.ApplyCampaign(ctx, "CMP-T", c.v2, false)
					}()
					for i := 0; i < len(rows); i += 3 {
						ingest(t, w.p, rows[i:min(i+3, len(rows))])
					}
					wg.Wait()
					if applyErr != nil {
						t.Fatal(applyErr)
					}
					fresh := newH4World(t, storetest.Open(t, st.Engine()), c.v2)
					ingest(t, fresh.p, h4Purchases(fresh.cards))
					got, want := h4State(t, w.p, w.st), h4State(t, fresh.p, fresh.st)
					if !slices.Equal(got, want) {
						t.Fatalf("trial %d: after the change and the import:\n  %s\nas if ingested under the new document:\n  %s", trial,
							strings.Join(got, "\n  "), strings.Join(want, "\n  "))
					}
				}
			})
		})
	}
}

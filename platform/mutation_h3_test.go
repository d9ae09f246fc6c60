package platform_test

// Tests added by a mutation-testing review of the reward engine as ingestion applies it
// (contract section 8): each one kills a deliberate mutation of the money logic that the
// existing tests let through, asserting what users see of rewards.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/httpapi"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// h3Listed answers the card's rewards of the offer as app a lists them (voided ones are not).
func h3Listed(t *testing.T, p *platform.Platform, a *vsrp.App, card, offerID string) []*vsrp.Reward {
	t.Helper()
	page, err := p.ListRewards(context.Background(), a, platform.ListRewardsParams{CardID: card})
	if err != nil {
		t.Fatal(err)
	}
	var out []*vsrp.Reward
	for _, r := range page.Rewards {
		if r.OfferID == offerID {
			out = append(out, r)
		}
	}
	return out
}

// Where the budget lets only one spend reward earn, the earliest earns: the reward whose goal
// was met by the earliest transaction, transactions of one time taken in transactionId order
// (contract 8, "ties by transactionId"). Card X's two purchases share their time with card Y's
// one: X reaches 300.00 only with its second purchase in id order (Z1), Y with M1, and M1 < Z1,
// so Y's reward is paid and X's stays 0 with calculateMessage saying the budget is spent.
func TestH3BudgetTieOfTimesGoesByTransactionID(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		applyOffers(t, f.p, offer("OF-S", "spend", map[string]any{"goal": map[string]any{"type": "spend", "threshold": 300},
			"reward": map[string]any{"type": "Cash", "amount": 25}, "limits": map[string]any{"budget": 25}}))
		cards := enrolledCards(t, f, 2)
		x, y := cards[0], cards[1]
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		at := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("A1", x, "200", at), purchase("Z1", x, "200", at), purchase("M1", y, "300", at)})
		rx, ry := h3Listed(t, p, f.a, x, "OF-S"), h3Listed(t, p, f.a, y, "OF-S")
		if len(rx) != 1 || len(ry) != 1 {
			t.Fatalf("rewards: card X %d, card Y %d; want one each", len(rx), len(ry))
		}
		if ry[0].Status != vsrp.RewardMet || ry[0].CalculatedAmount != 2500 {
			t.Errorf("card Y (met by M1): status %d amount %d; want 1 and 25.00", ry[0].Status, ry[0].CalculatedAmount)
		}
		if rx[0].Status != vsrp.RewardNotMet || rx[0].CalculatedAmount != 0 || !strings.Contains(rx[0].CalculateMessage, "budget is spent") {
			t.Errorf("card X (met by Z1): status %d amount %d message %q; want 0, 0 and the budget spent",
				rx[0].Status, rx[0].CalculatedAmount, rx[0].CalculateMessage)
		}
	})
}

// Periods begin at midnight in the campaign's zone, also where ingestion reads a unit's stored
// purchases to evaluate it again (account aggregation evaluates from the stored history): a
// purchase at 01:00 Shanghai time (17:00 UTC the day before) belongs to that Shanghai day and
// counts with a later purchase of the day, ingested in another batch.
func TestH3DayStartsAtMidnightInTheCampaignZoneWhenHistoryIsRead(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		spend := offer("OF-S", "spend", map[string]any{"billing": map[string]any{"period": "day"},
			"goal": map[string]any{"type": "spend", "threshold": 300}, "reward": map[string]any{"type": "Cash", "amount": 20}})
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountCampaign(spend), false); err != nil {
			t.Fatal(err)
		}
		card := enrolledCards(t, f, 1)[0]
		bindAll(t, f, "day-user", card)
		sh := time.FixedZone("UTC+8", 8*3600)
		p := newPlatformAt(t, st, time.Date(2027, 1, 13, 0, 0, 0, 0, time.UTC))
		ingest(t, p, []platform.TxnInput{purchase("EARLY", card, "100", time.Date(2027, 1, 12, 1, 0, 0, 0, sh))})
		ingest(t, p, []platform.TxnInput{purchase("NOON", card, "250", time.Date(2027, 1, 12, 12, 0, 0, 0, sh))})
		rs := h3Listed(t, p, f.a, card, "OF-S")
		if len(rs) != 1 {
			t.Fatalf("%d rewards, want one for 12 January", len(rs))
		}
		r := rs[0]
		if r.Bill.StartDate != "2027-01-12" || r.Status != vsrp.RewardMet || r.EventCount != 2 || r.EventTotalAmount != 35000 || r.CalculatedAmount != 2000 {
			t.Fatalf("reward of %s: status %d n=%d total=%d amount=%d; want 12 January met with both purchases (350.00) paying 20.00",
				r.Bill.StartDate, r.Status, r.EventCount, r.EventTotalAmount, r.CalculatedAmount)
		}
	})
}

func TestH3FutureSkewBoundary(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		applyOffers(t, f.p, offer("OF-E", "each", nil))
		card := enrolledCards(t, f, 1)[0]
		now := testNow.Add(time.Hour)
		p := newPlatformAt(t, st, now)
		sum := ingest(t, p, []platform.TxnInput{purchase("AT5", card, "100", now.Add(5*time.Minute)),
			purchase("PAST5", card, "100", now.Add(5*time.Minute+time.Millisecond))})
		if sum.Accepted != 1 || sum.Rejected != 1 || len(sum.Errors) != 1 || sum.Errors[0].TransactionID != "PAST5" {
			t.Fatalf("summary %+v; want AT5 (exactly 5 minutes ahead) accepted and PAST5 rejected", sum)
		}
		if rs := h3Listed(t, p, f.a, card, "OF-E"); len(rs) != 1 || rs[0].CalculatedAmount != 1000 {
			t.Fatalf("rewards %d; want AT5's reward of 10.00", len(rs))
		}
	})
}

// Money is computed exactly; a float rounding error is a bug (contract 2). A campaign applied
// as YAML through the admin API must pay what its document says: a fixed reward of
// 99,999,999,999,999.99 (16 significant digits, which a float64 does not hold) pays exactly
// that, as the same document in JSON does. (Decoded the usual way, the YAML number passed
// through a float64 and paid 99,999,999,999,999.98.)
func TestH3YAMLCampaignAmountsAreExact(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		api := httpapi.New(f.p, httpapi.Config{AdminToken: "h3-admin"}, slog.New(slog.NewJSONHandler(io.Discard, nil)), prometheus.NewRegistry())
		doc := `campaignId: CMP-T
name: Test
timezone: Asia/Shanghai
startDate: 2027-01-01
endDate: 2027-12-31
currency: CNY
aggregation: card
enrollmentGroups:
  - enrollmentGroupId: EG-R
    name: g
    enrollStart: 2026-12-01T00:00:00+08:00
    enrollEnd: 2027-06-30T00:00:00+08:00
    capacity: 0
    eligibility: {}
offers:
  - offerId: OF-E
    name: big
    billing: {period: month}
    match: {}
    goal: {type: each}
    reward: {type: Cash, amount: 99999999999999.99}
    limits: {}
`
		req := httptest.NewRequest(http.MethodPut, "/admin/v1/campaigns/CMP-T", strings.NewReader(doc))
		req.Header.Set("Content-Type", "application/yaml")
		req.Header.Set("Authorization", "Bearer h3-admin")
		rec := httptest.NewRecorder()
		api.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("PUT campaign as YAML: %d %s", rec.Code, rec.Body)
		}
		card := enrolledCards(t, f, 1)[0]
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		ingest(t, p, []platform.TxnInput{purchase("A", card, "10", testNow.Add(time.Minute))})
		rs := h3Listed(t, p, f.a, card, "OF-E")
		if len(rs) != 1 || rs[0].CalculatedAmount != 9999999999999999 {
			var got []int64
			for _, r := range rs {
				got = append(got, r.CalculatedAmount)
			}
			t.Fatalf("calculatedAmount %v (minor units); want exactly 9999999999999999 (99,999,999,999,999.99)", got)
		}
	})
}

// amount is positive for every type (contract 8): a purchase, refund or reversal of 0 is
// rejected and changes no reward.
func TestH3ZeroAmountIsRejected(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		applyOffers(t, f.p, offer("OF-E", "each", nil))
		card := enrolledCards(t, f, 1)[0]
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		at := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("A", card, "100", at)})
		zero := purchase("Z", card, "0.00", at)
		rev := refund("R0", "A", card, "0", at.Add(time.Second))
		rev.Type = "reversal"
		sum := ingest(t, p, []platform.TxnInput{zero, refund("F0", "A", card, "0", at.Add(time.Second)), rev})
		if sum.Accepted != 0 || sum.Rejected != 3 {
			t.Fatalf("summary %+v; want the three zero amounts rejected", sum)
		}
		for _, e := range sum.Errors {
			if !strings.HasPrefix(e.Reason, "bad amount") {
				t.Errorf("row %d (%s): %q, want a bad amount", e.Row, e.TransactionID, e.Reason)
			}
		}
		if rs := h3Listed(t, p, f.a, card, "OF-E"); len(rs) != 1 || rs[0].CalculatedAmount != 1000 || rs[0].EventCount != 1 {
			t.Fatalf("rewards: %d; want only A's, of 10.00", len(rs))
		}
	})
}

// Another listed currency counts at face value, never converted (contract 8): JPY 500 in a
// CNY campaign listing JPY counts as 500.00, also when a spend reward is brought up to date
// from its stored running totals (a card's purchases, no limit across periods: incremental).
func TestH3ListedCurrencyCountsAtFaceValueInARunningSpend(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		applyOffers(t, f.p, offer("OF-S", "spend", map[string]any{"match": map[string]any{"currencies": []string{"CNY", "JPY"}},
			"goal": map[string]any{"type": "spend", "threshold": 300}, "reward": map[string]any{"type": "Cash", "amount": 25}}))
		card := enrolledCards(t, f, 1)[0]
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		at := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("C1", card, "1", at)})
		yen := purchase("J1", card, "500", at.Add(time.Second))
		yen.Currency = "JPY"
		if sum := ingest(t, p, []platform.TxnInput{yen}); sum.Accepted != 1 {
			t.Fatalf("ingest: %+v", sum)
		}
		rs := h3Listed(t, p, f.a, card, "OF-S")
		if len(rs) != 1 || rs[0].Status != vsrp.RewardMet || rs[0].EventCount != 2 || rs[0].EventTotalAmount != 50100 || rs[0].CalculatedAmount != 2500 {
			t.Fatalf("spend reward %+v; want met with 2 purchases, 501.00 (JPY 500 as 500.00), paying 25.00", rs)
		}
	})
}

// After bill generation nothing is taken back or added (contract 8): a late purchase for the
// generated period, alone in its batch, is recorded on the bill as an adjustment and changes
// no reward, for a spend reward brought up to date from its running totals and for an each
// offer (no reward for the late purchase).
func TestH3LatePurchaseForGeneratedBillChangesNoReward(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		applyOffers(t, f.p,
			offer("OF-S", "spend", map[string]any{"goal": map[string]any{"type": "spend", "threshold": 300},
				"reward": map[string]any{"type": "Cash", "amount": 25}}),
			offer("OF-E", "each", nil))
		card := enrolledCards(t, f, 1)[0]
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		at := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("A", card, "300", at)})
		bills := map[string]string{}
		for _, o := range []string{"OF-S", "OF-E"} {
			rs := h3Listed(t, p, f.a, card, o)
			if len(rs) != 1 {
				t.Fatalf("%s: %d rewards before generation, want 1", o, len(rs))
			}
			bills[o] = rs[0].Bill.ID
			if _, err := p.GenerateBill(ctx, rs[0].Bill.ID, true); err != nil {
				t.Fatal(err)
			}
		}
		if sum := ingest(t, p, []platform.TxnInput{purchase("LATE", card, "200", at.Add(time.Minute))}); sum.Accepted != 1 {
			t.Fatalf("late purchase: %+v", sum)
		}
		spend := h3Listed(t, p, f.a, card, "OF-S")
		if len(spend) != 1 || spend[0].Status != vsrp.RewardToSettle || spend[0].EventCount != 1 || spend[0].EventTotalAmount != 30000 ||
			spend[0].ConfirmedAmount == nil || *spend[0].ConfirmedAmount != 2500 {
			t.Fatalf("spend reward after a late purchase: %+v; want it as generated: status 2, 1 purchase, 300.00, confirmed 25.00", spend)
		}
		if each := h3Listed(t, p, f.a, card, "OF-E"); len(each) != 1 || each[0].EventTotalAmount != 30000 {
			t.Fatalf("each rewards after a late purchase: %d; want only A's", len(each))
		}
		for o, id := range bills {
			b, err := st.BillByID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Adjustments) != 1 || b.Adjustments[0].TxnID != "LATE" || b.Adjustments[0].Amount != 20000 {
				t.Errorf("%s bill adjustments %+v; want LATE (200.00)", o, b.Adjustments)
			}
		}
	})
}

// A refund larger than what is left of its original is rejected (contract 8), also when it
// is no larger than the original itself: 100.00 less 60.00 leaves 40.00, so 40.01 is refused
// and 40.00 taken, which voids the each reward.
func TestH3RefundLargerThanWhatIsLeftIsRejected(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		applyOffers(t, f.p, offer("OF-E", "each", nil))
		card := enrolledCards(t, f, 1)[0]
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		at := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("A", card, "100", at), refund("R1", "A", card, "60", at.Add(time.Second))})
		sum := ingest(t, p, []platform.TxnInput{refund("R2", "A", card, "40.01", at.Add(2*time.Second))})
		if sum.Accepted != 0 || sum.Rejected != 1 || sum.Errors[0].Reason != "refund larger than what is left of the original" {
			t.Fatalf("refund of 40.01 with 40.00 left: %+v; want it rejected", sum)
		}
		if rs := h3Listed(t, p, f.a, card, "OF-E"); len(rs) != 1 || rs[0].EventTotalAmount != 4000 || rs[0].CalculatedAmount != 400 {
			t.Fatalf("rewards %d; want A's, recomputed from the 40.00 left: 4.00", len(rs))
		}
		if sum := ingest(t, p, []platform.TxnInput{refund("R3", "A", card, "40", at.Add(3*time.Second))}); sum.Accepted != 1 {
			t.Fatalf("refund of exactly what is left: %+v; want it accepted", sum)
		}
		if rs := h3Listed(t, p, f.a, card, "OF-E"); len(rs) != 0 {
			t.Fatalf("%d rewards listed; want none: A was refunded in full, its reward voided", len(rs))
		}
	})
}

// Under a per-card total limit, a late-arriving earlier purchase takes a later one's place
// while the bill is open (contract 8), even when the later one is of another period: the
// February purchase earns until the January one arrives; then January's earns and February's
// no longer does (voided, not listed). The limit is never exceeded.
func TestH3LateEarlierPurchaseTakesThePlaceOfAnotherPeriod(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		applyOffers(t, f.p, offer("OF-E", "each", map[string]any{"limits": map[string]any{"perCardTotal": 1}}))
		card := enrolledCards(t, f, 1)[0]
		p := newPlatformAt(t, st, testNow.Add(60*24*time.Hour))
		sh := time.FixedZone("UTC+8", 8*3600)
		ingest(t, p, []platform.TxnInput{purchase("FEB", card, "200", time.Date(2027, 2, 5, 12, 0, 0, 0, sh))})
		if rs := h3Listed(t, p, f.a, card, "OF-E"); len(rs) != 1 || rs[0].CalculatedAmount != 2000 {
			t.Fatalf("before January's purchase: %d rewards; want February's, of 20.00", len(rs))
		}
		ingest(t, p, []platform.TxnInput{purchase("JAN", card, "100", time.Date(2027, 1, 20, 12, 0, 0, 0, sh))})
		rs := h3Listed(t, p, f.a, card, "OF-E")
		if len(rs) != 1 || rs[0].Bill.StartDate != "2027-01-01" || rs[0].CalculatedAmount != 1000 || rs[0].Status != vsrp.RewardMet {
			var got []string
			for _, r := range rs {
				got = append(got, fmt.Sprintf("%s status=%d amount=%d", r.Bill.StartDate, r.Status, r.CalculatedAmount))
			}
			t.Fatalf("rewards %v; want only January's (10.00): the limit is 1 per card in total", got)
		}
	})
}

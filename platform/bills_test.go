package platform_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
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

// billFixture has a campaign with a cash "each" offer and a claim-required coupon offer,
// enrolled cards bound to a user of app A, and a platform whose clock is after the purchases.
type billFixture struct {
	*fixture
	st    *store.Store
	cards []string
	vuid  string
}

func newBillFixture(t *testing.T, st *store.Store, cards int) *billFixture {
	t.Helper()
	ctx := context.Background()
	f := setup(t, st)
	cash := offer("OF-CASH", "each", map[string]any{"reward": map[string]any{"type": "Cash", "amount": 5, "validityDays": 30}})
	coupon := offer("OF-COUPON", "each", map[string]any{"match": map[string]any{"mcc": []string{"5499"}},
		"reward": map[string]any{"type": "Coupon", "amount": 1, "claimRequired": true, "claimDays": 30, "validityDays": 90}})
	applyOffers(t, f.p, cash, coupon)
	ids := enrolledCards(t, f, cards)
	u, err := f.p.GetVuid(ctx, f.a, "user-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ids {
		if err := f.p.AddCard(ctx, f.a, u.Vuid, c); err != nil {
			t.Fatal(err)
		}
	}
	f.p = newPlatformAt(t, st, testNow.Add(time.Hour))
	return &billFixture{fixture: f, st: st, cards: ids, vuid: u.Vuid}
}

func (b *billFixture) buy(t *testing.T, id, card, mcc string) {
	t.Helper()
	p := purchase(id, card, "50", testNow.Add(time.Minute))
	p.MCC = mcc
	if sum := ingest(t, b.p, []platform.TxnInput{p}); sum.Accepted != 1 {
		t.Fatalf("ingest %s: %+v", id, sum)
	}
}

func (b *billFixture) bill(t *testing.T, offerID string) *store.BillSummary {
	t.Helper()
	bills, err := b.p.Bills(context.Background(), "CMP-T")
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range bills {
		if x.OfferID == offerID {
			return x
		}
	}
	t.Fatalf("no bill for %s", offerID)
	return nil
}

func (b *billFixture) reward(t *testing.T, card, offerID string) *vsrp.Reward {
	t.Helper()
	page, err := b.p.ListRewards(context.Background(), b.a, platform.ListRewardsParams{CardID: card, Status: 0, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range page.Rewards {
		if r.OfferID == offerID {
			return r
		}
	}
	t.Fatalf("no reward of %s for %s", offerID, card)
	return nil
}

func TestBillStateMachine(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		b := newBillFixture(t, st, 2)
		ctx := context.Background()
		b.buy(t, "T1", b.cards[0], "5812")
		b.buy(t, "T2", b.cards[1], "5812")
		id := b.bill(t, "OF-CASH").ID
		conflict := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, vsrp.ErrConflict) {
				t.Fatalf("%s: %v, want a conflict", what, err)
			}
		}
		_, err := b.p.ApproveBill(ctx, id)
		conflict("approve an open bill", err)
		_, err = b.p.SettleBill(ctx, id, nil, 4)
		conflict("settle an open bill", err)
		_, err = b.p.GenerateBill(ctx, id, false)
		conflict("generate before the period ends", err)
		g, err := b.p.GenerateBill(ctx, id, true)
		if err != nil || g.Status != vsrp.BillGenerated || g.RewardCount != 2 || g.TotalAmount != 1000 {
			t.Fatalf("generate: %+v %v", g, err)
		}
		if r := b.reward(t, b.cards[0], "OF-CASH"); r.Status != vsrp.RewardToSettle || r.ConfirmedAmount == nil || *r.ConfirmedAmount != 500 {
			t.Fatalf("after generate: status %d confirmed %v", r.Status, r.ConfirmedAmount)
		}
		_, err = b.p.GenerateBill(ctx, id, true)
		conflict("generate twice", err)
		_, err = b.p.SettleBill(ctx, id, nil, 4)
		conflict("settle a generated bill", err)
		if a, err := b.p.ApproveBill(ctx, id); err != nil || a.Status != vsrp.BillApproved {
			t.Fatalf("approve: %+v %v", a, err)
		}
		_, err = b.p.ApproveBill(ctx, id)
		conflict("approve twice", err)
		r0, r1 := b.reward(t, b.cards[0], "OF-CASH"), b.reward(t, b.cards[1], "OF-CASH")
		if r0.Status != vsrp.RewardSettling {
			t.Fatalf("after approve: status %d, want 3", r0.Status)
		}
		s, err := b.p.SettleBill(ctx, id, []platform.SettleResult{{RewardID: r0.ID, Status: 4, Message: "paid"}}, 0)
		if err != nil || s.Status != vsrp.BillApproved {
			t.Fatalf("settle one: %+v %v; the bill stays approved while a reward settles", s, err)
		}
		_, err = b.p.SettleBill(ctx, id, []platform.SettleResult{{RewardID: r0.ID, Status: 5}}, 0)
		var ve *vsrp.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("settling a settled reward again: %v, want a validation problem", err)
		}
		s, err = b.p.SettleBill(ctx, id, []platform.SettleResult{{RewardID: r1.ID, Status: 5, Message: "account closed"}}, 0)
		if err != nil || s.Status != vsrp.BillException {
			t.Fatalf("settle with a failure: %+v %v, want status 4", s, err)
		}
		// Settled by b.p, whose clock stands at testNow+1h: expiredAt is that plus validityDays (30).
		settled := testNow.Add(time.Hour)
		if r := b.reward(t, b.cards[0], "OF-CASH"); r.Status != vsrp.RewardSettled || !r.SettledAt.Equal(settled) || r.SettleMessage != "paid" ||
			!r.ExpiredAt.Equal(settled.Add(30*24*time.Hour)) {
			t.Fatalf("settled reward: status %d settledAt %v message %q expiredAt %v; want 4, %v, \"paid\", %v", r.Status, r.SettledAt,
				r.SettleMessage, r.ExpiredAt, settled, settled.Add(30*24*time.Hour))
		}
		if r := b.reward(t, b.cards[1], "OF-CASH"); r.Status != vsrp.RewardFailed || r.SettleMessage != "account closed" || !r.SettledAt.IsZero() || !r.ExpiredAt.IsZero() {
			t.Fatalf("failed reward: status %d message %q settledAt %v expiredAt %v; want 5, \"account closed\", never settled, no expiry",
				r.Status, r.SettleMessage, r.SettledAt, r.ExpiredAt)
		}
		_, err = b.p.SettleBill(ctx, id, nil, 4)
		conflict("settle a settled bill", err)
		// A step out of order says where the bill stands, before any other reason (not due yet).
		for what, err := range map[string]error{
			"settle needs an approved bill":  err,
			"generate needs an open bill":    func() error { _, err := b.p.GenerateBill(ctx, id, false); return err }(),
			"approve needs a generated bill": func() error { _, err := b.p.ApproveBill(ctx, id); return err }(),
		} {
			if err == nil || !strings.Contains(err.Error(), "the bill is settled with failures; "+what) {
				t.Errorf("%s: %v", what, err)
			}
		}
		// After generation a refund is an adjustment on the bill and changes no reward.
		ref := purchase("T1R", b.cards[0], "50", testNow.Add(2*time.Minute))
		ref.Type, ref.OriginalTransactionID = "refund", "T1"
		// A late purchase for the generated period is one too; it earned no stored reward and
		// names none (a refund names the reward it concerns).
		late := purchase("T9", b.cards[0], "50", testNow.Add(3*time.Minute))
		ingest(t, b.p, []platform.TxnInput{ref, late})
		bill := b.bill(t, "OF-CASH")
		slices.SortFunc(bill.Adjustments, func(x, y store.Adjustment) int { return strings.Compare(x.TxnID, y.TxnID) })
		if len(bill.Adjustments) != 2 || bill.Adjustments[0].TxnID != "T1R" || bill.Adjustments[0].RewardID != r0.ID ||
			bill.Adjustments[1].TxnID != "T9" || bill.Adjustments[1].RewardID != "" {
			t.Fatalf("adjustments: %+v, want T1R on %s and T9 on no reward", bill.Adjustments, r0.ID)
		}
		if r := b.reward(t, b.cards[0], "OF-CASH"); r.Status != vsrp.RewardSettled {
			t.Fatalf("a late refund changed a settled reward: status %d", r.Status)
		}
	})
}

// updateRewardStatus moves a reward an app fulfils 3→4, 3→5 and 4→6, stores the app's message as
// settleMessage or redeemMessage with the step's time, and accepts the same status again
// without changing anything; every other change is 3013.
func TestUpdateRewardStatusTransitions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		b := newBillFixture(t, st, 2)
		ctx := context.Background()
		b.buy(t, "T1", b.cards[0], "5812")
		b.buy(t, "T2", b.cards[1], "5812")
		id := b.bill(t, "OF-CASH").ID
		if _, err := b.p.GenerateBill(ctx, id, true); err != nil {
			t.Fatal(err)
		}
		r := b.reward(t, b.cards[0], "OF-CASH")
		other := b.reward(t, b.cards[1], "OF-CASH")
		if err := b.p.UpdateRewardStatus(ctx, b.a, r.ID, 4, ""); code(err) != vsrp.CodeStatusChange {
			t.Fatalf("2 → 4: %v, want 3013", err)
		}
		if _, err := b.p.ApproveBill(ctx, id); err != nil {
			t.Fatal(err)
		}
		// Each step on a clock of its own, so each time read back is the step's.
		issuedAt, repeatAt, redeemedAt := testNow.Add(2*time.Hour), testNow.Add(3*time.Hour), testNow.Add(4*time.Hour)
		for _, step := range []struct {
			when time.Time
			to   int
			msg  string
			want vsrp.Code
		}{
			{issuedAt, 6, "too early", vsrp.CodeStatusChange},
			{issuedAt, 4, "paid to the wallet", vsrp.OK},
			{repeatAt, 4, "paid again", vsrp.OK},
			{repeatAt, 5, "bounced", vsrp.CodeStatusChange},
			{redeemedAt, 6, "spent at the counter", vsrp.OK},
			{redeemedAt.Add(time.Hour), 6, "spent twice", vsrp.OK},
			{redeemedAt.Add(time.Hour), 4, "", vsrp.CodeStatusChange},
			{redeemedAt.Add(time.Hour), 2, "", vsrp.CodeStatusChange},
			{redeemedAt.Add(time.Hour), 7, "", vsrp.CodeStatusChange},
		} {
			if err := newPlatformAt(t, st, step.when).UpdateRewardStatus(ctx, b.a, r.ID, step.to, step.msg); code(err) != step.want {
				t.Fatalf("→ %d (%q): %v, want %d", step.to, step.msg, err, step.want)
			}
		}
		got, err := b.p.ShowReward(ctx, b.a, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		// The first report of each status is what stays: a repeat changes nothing. expiredAt is
		// the settlement plus the offer's validityDays (30).
		if got.Status != vsrp.RewardRedeemed || got.SettleMessage != "paid to the wallet" || !got.SettledAt.Equal(issuedAt) ||
			!got.ExpiredAt.Equal(issuedAt.Add(30*24*time.Hour)) || got.RedeemMessage != "spent at the counter" || !got.RedeemedAt.Equal(redeemedAt) {
			t.Fatalf("after 3→4→6: status %d settleMessage %q settledAt %v expiredAt %v redeemMessage %q redeemedAt %v", got.Status,
				got.SettleMessage, got.SettledAt, got.ExpiredAt, got.RedeemMessage, got.RedeemedAt)
		}
		// 3 → 5: the failure's reason is the settleMessage; the reward was never settled.
		if err := newPlatformAt(t, st, issuedAt).UpdateRewardStatus(ctx, b.a, other.ID, 5, "card closed"); err != nil {
			t.Fatalf("3 → 5: %v", err)
		}
		if got, err := b.p.ShowReward(ctx, b.a, other.ID); err != nil || got.Status != vsrp.RewardFailed ||
			got.SettleMessage != "card closed" || !got.SettledAt.IsZero() || !got.ExpiredAt.IsZero() {
			t.Fatalf("after 3→5: %+v %v; want status 5 with the message, no settledAt, no expiredAt", got, err)
		}
		if s := b.bill(t, "OF-CASH").Status; s != vsrp.BillException {
			t.Fatalf("bill status %d once one reward failed and the other is final, want 4", s)
		}
		if err := b.p.UpdateRewardStatus(ctx, b.b, r.ID, 6, ""); code(err) != vsrp.CodeRewardNotFound {
			t.Fatalf("another app: %v, want 3012", err)
		}
	})
}

// A coupon reported redeemed (4 → 6) has its items marked REDEEMED at that time.
func TestRedeemMarksCouponItems(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		b := newBillFixture(t, st, 1)
		ctx := context.Background()
		b.buy(t, "C1", b.cards[0], "5499")
		id := b.bill(t, "OF-COUPON").ID
		if _, err := b.p.GenerateBill(ctx, id, true); err != nil {
			t.Fatal(err)
		}
		if _, err := b.p.ApproveBill(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := b.p.AddCodes(ctx, "CMP-T", "OF-COUPON", []vsrp.RewardItem{{Type: "barcode", Code: "BC-1"}}); err != nil {
			t.Fatal(err)
		}
		r := b.reward(t, b.cards[0], "OF-COUPON")
		claimedAt := testNow.Add(2 * time.Hour)
		if _, _, err := newPlatformAt(t, st, claimedAt).ClaimReward(ctx, b.a, r.ID); err != nil {
			t.Fatal(err)
		}
		issued := b.reward(t, b.cards[0], "OF-COUPON")
		if issued.Status != vsrp.RewardSettled || len(issued.Items) != 1 || issued.Items[0].Code != "BC-1" ||
			issued.Items[0].Status != vsrp.ItemIssued || !issued.Items[0].RedeemedAt.IsZero() || !issued.Items[0].SettledAt.Equal(claimedAt) {
			t.Fatalf("claimed coupon: status %d items %+v; want 4 with BC-1 ISSUED at %v", issued.Status, issued.Items, claimedAt)
		}
		redeemedAt := testNow.Add(5 * time.Hour)
		if err := newPlatformAt(t, st, redeemedAt).UpdateRewardStatus(ctx, b.a, r.ID, 6, "scanned at till 3"); err != nil {
			t.Fatal(err)
		}
		got := b.reward(t, b.cards[0], "OF-COUPON")
		if got.Status != vsrp.RewardRedeemed || got.RedeemMessage != "scanned at till 3" || !got.RedeemedAt.Equal(redeemedAt) {
			t.Fatalf("redeemed coupon: status %d redeemMessage %q redeemedAt %v", got.Status, got.RedeemMessage, got.RedeemedAt)
		}
		if len(got.Items) != 1 || got.Items[0].Status != vsrp.ItemRedeemed || !got.Items[0].RedeemedAt.Equal(redeemedAt) || got.Items[0].Code != "BC-1" {
			t.Fatalf("items after 4 → 6: %+v; want BC-1 REDEEMED at %v", got.Items, redeemedAt)
		}
	})
}

func TestClaimConcurrency(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		b := newBillFixture(t, st, 6)
		ctx := context.Background()
		for i, c := range b.cards {
			b.buy(t, fmt.Sprintf("C%d", i), c, "5499")
		}
		id := b.bill(t, "OF-COUPON").ID
		if _, err := b.p.GenerateBill(ctx, id, true); err != nil {
			t.Fatal(err)
		}
		first := b.reward(t, b.cards[0], "OF-COUPON")
		if _, _, err := b.p.ClaimReward(ctx, b.a, first.ID); code(err) != vsrp.CodeNotClaimable {
			t.Fatalf("claim before approval: %v, want code 1", err)
		}
		if _, err := b.p.ApproveBill(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.p.ClaimReward(ctx, b.a, first.ID); code(err) != vsrp.CodeNotClaimable {
			t.Fatalf("claim with an empty pool: %v, want code 1", err)
		}
		var codes []vsrp.RewardItem
		for i := range 5 {
			codes = append(codes, vsrp.RewardItem{Type: "QR", Code: fmt.Sprintf("Q%d", i)})
		}
		if n, err := b.p.AddCodes(ctx, "CMP-T", "OF-COUPON", append(codes, codes[0])); err != nil || n != 5 {
			t.Fatalf("add codes: %d %v", n, err)
		}
		// 50 concurrent claims of one reward: one winner.
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := b.p.ClaimReward(ctx, b.a, first.ID)
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if code(err) != vsrp.CodeNotClaimable {
					t.Errorf("claim: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d claims of one reward succeeded, want 1", wins)
		}
		// The other five rewards claimed at once share the four codes left: never one code twice.
		results := make([]error, len(b.cards)-1)
		for i, c := range b.cards[1:] {
			r := b.reward(t, c, "OF-COUPON")
			wg.Add(1)
			go func() { defer wg.Done(); _, _, results[i] = b.p.ClaimReward(ctx, b.a, r.ID) }()
		}
		wg.Wait()
		seen := map[string]string{}
		issued := 0
		for _, c := range b.cards {
			r := b.reward(t, c, "OF-COUPON")
			for _, it := range r.Items {
				if other, dup := seen[it.Code]; dup {
					t.Fatalf("code %s given to %s and %s", it.Code, other, r.ID)
				}
				seen[it.Code] = r.ID
			}
			if r.Status == vsrp.RewardSettled {
				issued++
				if len(r.Items) != 1 {
					t.Fatalf("issued reward with %d items", len(r.Items))
				}
			} else if r.Status != vsrp.RewardToSettle {
				t.Fatalf("a reward left without codes must stay claimable (2), got %d", r.Status)
			}
		}
		if issued != 5 || len(seen) != 5 {
			t.Fatalf("%d rewards issued with %d codes, want 5 and 5", issued, len(seen))
		}
		if s := b.bill(t, "OF-COUPON").Status; s != vsrp.BillApproved {
			t.Fatalf("bill status %d while one reward waits for a code, want 2", s)
		}
		if _, err := b.p.AddCodes(ctx, "CMP-T", "OF-COUPON", []vsrp.RewardItem{{Type: "QR", Code: "Q-LAST"}}); err != nil {
			t.Fatal(err)
		}
		for _, c := range b.cards {
			if r := b.reward(t, c, "OF-COUPON"); r.Status == vsrp.RewardToSettle {
				if _, _, err := b.p.ClaimReward(ctx, b.a, r.ID); err != nil {
					t.Fatalf("claim once a code was added: %v", err)
				}
			}
		}
		if s := b.bill(t, "OF-COUPON").Status; s != vsrp.BillSettled {
			t.Fatalf("bill status %d once every coupon is issued, want 3", s)
		}
	})
}

// After a bill of an offer was generated, its match, goal and reward can no longer change, and
// an offer with rewards cannot be removed.
func TestCampaignHistoryGuardAfterGeneration(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		b := newBillFixture(t, st, 1)
		ctx := context.Background()
		b.buy(t, "T1", b.cards[0], "5812")
		cash := offer("OF-CASH", "each", map[string]any{"reward": map[string]any{"type": "Cash", "amount": 5, "validityDays": 30}})
		coupon := offer("OF-COUPON", "each", map[string]any{"match": map[string]any{"mcc": []string{"5499"}},
			"reward": map[string]any{"type": "Coupon", "amount": 1, "claimRequired": true, "claimDays": 30, "validityDays": 90}})
		// Before generation the reward may still change.
		changed := offer("OF-CASH", "each", map[string]any{"reward": map[string]any{"type": "Cash", "amount": 6, "validityDays": 30}})
		if _, err := b.p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(changed, coupon), false); err != nil {
			t.Fatalf("changing an offer before generation: %v", err)
		}
		if _, err := b.p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(coupon), false); !errors.Is(err, vsrp.ErrConflict) {
			t.Fatalf("removing an offer with rewards: %v, want a conflict", err)
		}
		if _, err := b.p.GenerateBill(ctx, b.bill(t, "OF-CASH").ID, true); err != nil {
			t.Fatal(err)
		}
		_, err := b.p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(cash, coupon), false)
		if !errors.Is(err, vsrp.ErrConflict) {
			t.Fatalf("changing the reward after generation: %v, want a conflict", err)
		}
		renamed := offer("OF-CASH", "each", map[string]any{"name": "new name", "reward": map[string]any{"type": "Cash", "amount": 6, "validityDays": 30}})
		if _, err := b.p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(renamed, coupon), false); err != nil {
			t.Fatalf("renaming the offer after generation: %v", err)
		}
		// What the generated bills were cut by: the zone, the currency, the billing period.
		weekly := offer("OF-CASH", "each", map[string]any{"name": "new name", "billing": map[string]any{"period": "week"},
			"reward": map[string]any{"type": "Cash", "amount": 6, "validityDays": 30}})
		for what, doc := range map[string][]byte{
			"the timezone":       []byte(strings.Replace(string(rewardCampaign(renamed, coupon)), "Asia/Shanghai", "UTC", 1)),
			"the currency":       []byte(strings.Replace(string(rewardCampaign(renamed, coupon)), `"currency":"CNY"`, `"currency":"HKD"`, 1)),
			"the billing period": rewardCampaign(weekly, coupon),
		} {
			if _, err := b.p.ApplyCampaign(ctx, "CMP-T", doc, false); !errors.Is(err, vsrp.ErrConflict) {
				t.Errorf("changing %s after generation: %v, want a conflict", what, err)
			}
		}
	})
}

// The scheduler generates bills once they fall due in their campaign's zone, and expires
// claimable rewards past claimBefore.
func TestRunDueWork(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		b := newBillFixture(t, st, 1)
		ctx := context.Background()
		b.buy(t, "T1", b.cards[0], "5812")
		b.buy(t, "T2", b.cards[0], "5499")
		// January's bills fall due on 1 February (no settlement delay) at 00:00 in Shanghai.
		early := newPlatformAt(t, st, time.Date(2027, 1, 31, 15, 59, 0, 0, time.UTC)) // 23:59 in Shanghai
		if err := early.RunDueWork(ctx); err != nil {
			t.Fatal(err)
		}
		if s := b.bill(t, "OF-CASH").Status; s != vsrp.BillOpen {
			t.Fatalf("generated before it fell due: status %d", s)
		}
		due := newPlatformAt(t, st, time.Date(2027, 1, 31, 16, 0, 0, 0, time.UTC))
		if err := due.RunDueWork(ctx); err != nil {
			t.Fatal(err)
		}
		for _, o := range []string{"OF-CASH", "OF-COUPON"} {
			if s := b.bill(t, o).Status; s != vsrp.BillGenerated {
				t.Fatalf("%s: status %d after it fell due, want 1", o, s)
			}
		}
		// Generated by the scheduler at 2027-01-31T16:00Z: claimBefore is that plus claimDays (30).
		deadline := time.Date(2027, 3, 2, 16, 0, 0, 0, time.UTC)
		claim := b.reward(t, b.cards[0], "OF-COUPON")
		if claim.Status != vsrp.RewardToSettle || !claim.ClaimBefore.Equal(deadline) {
			t.Fatalf("claimable reward: status %d claimBefore %v, want 2 and %v", claim.Status, claim.ClaimBefore, deadline)
		}
		if r := b.reward(t, b.cards[0], "OF-CASH"); !r.ClaimBefore.IsZero() {
			t.Fatalf("a reward that needs no claim has claimBefore %v", r.ClaimBefore)
		}
		if err := newPlatformAt(t, st, deadline).RunDueWork(ctx); err != nil {
			t.Fatal(err)
		}
		if r := b.reward(t, b.cards[0], "OF-COUPON"); r.Status != vsrp.RewardToSettle {
			t.Fatalf("at claimBefore itself: status %d, want 2 (not yet past)", r.Status)
		}
		late := newPlatformAt(t, st, deadline.Add(time.Second))
		if err := late.RunDueWork(ctx); err != nil {
			t.Fatal(err)
		}
		if r := b.reward(t, b.cards[0], "OF-COUPON"); r.Status != vsrp.RewardExpired {
			t.Fatalf("past claimBefore: status %d, want 7", r.Status)
		}
		if r := b.reward(t, b.cards[0], "OF-CASH"); r.Status != vsrp.RewardToSettle {
			t.Fatalf("a reward that needs no claim expired: status %d", r.Status)
		}
	})
}

// Issued points and coupons expire once their validity ends (expiredAt = settlement or claim
// + validityDays): the scheduler moves them to 7 and the coupon's items to EXPIRED. Settled
// cash stays 4.
func TestRunDueWorkExpiresIssuedPointsAndCoupons(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		points := offer("OF-PTS", "each", map[string]any{"reward": map[string]any{"type": "Point", "amount": 10, "validityDays": 30}})
		cash := offer("OF-CASH", "each", map[string]any{"reward": map[string]any{"type": "Cash", "amount": 5, "validityDays": 30}})
		coupon := offer("OF-CPN", "each", map[string]any{"reward": map[string]any{"type": "Coupon", "amount": 1, "claimRequired": true,
			"claimDays": 10, "validityDays": 30}})
		applyOffers(t, f.p, points, cash, coupon)
		card := enrolledCards(t, f, 1)[0]
		bindAll(t, f, "user", card)
		f.p = newPlatformAt(t, st, testNow.Add(time.Hour))
		b := &billFixture{fixture: f, st: st, cards: []string{card}}
		b.buy(t, "T1", card, "5812")
		settledAt := testNow.Add(2 * time.Hour)
		later := newPlatformAt(t, st, settledAt)
		for _, o := range []string{"OF-PTS", "OF-CASH", "OF-CPN"} {
			id := b.bill(t, o).ID
			if _, err := f.p.GenerateBill(ctx, id, true); err != nil {
				t.Fatal(err)
			}
			if _, err := f.p.ApproveBill(ctx, id); err != nil {
				t.Fatal(err)
			}
			if o != "OF-CPN" {
				if _, err := later.SettleBill(ctx, id, nil, vsrp.RewardSettled); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := f.p.AddCodes(ctx, "CMP-T", "OF-CPN", []vsrp.RewardItem{{Type: "text", Code: "TXT-1"}}); err != nil {
			t.Fatal(err)
		}
		// The coupon is claimed (and so issued) an hour after the others were settled.
		claimedAt := settledAt.Add(time.Hour)
		if _, _, err := newPlatformAt(t, st, claimedAt).ClaimReward(ctx, f.a, b.reward(t, card, "OF-CPN").ID); err != nil {
			t.Fatal(err)
		}
		validity := 30 * 24 * time.Hour
		for o, want := range map[string]time.Time{"OF-PTS": settledAt.Add(validity), "OF-CASH": settledAt.Add(validity), "OF-CPN": claimedAt.Add(validity)} {
			if r := b.reward(t, card, o); r.Status != vsrp.RewardSettled || !r.ExpiredAt.Equal(want) {
				t.Fatalf("%s issued: status %d expiredAt %v, want 4 and %v", o, r.Status, r.ExpiredAt, want)
			}
		}
		status := func() map[string]int {
			return map[string]int{"OF-PTS": b.reward(t, card, "OF-PTS").Status, "OF-CASH": b.reward(t, card, "OF-CASH").Status,
				"OF-CPN": b.reward(t, card, "OF-CPN").Status}
		}
		if err := newPlatformAt(t, st, settledAt.Add(validity)).RunDueWork(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := status(), map[string]int{"OF-PTS": 4, "OF-CASH": 4, "OF-CPN": 4}; !maps.Equal(got, want) {
			t.Fatalf("at the points' expiredAt itself: %v, want %v", got, want)
		}
		if err := newPlatformAt(t, st, settledAt.Add(validity+time.Second)).RunDueWork(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := status(), map[string]int{"OF-PTS": 7, "OF-CASH": 4, "OF-CPN": 4}; !maps.Equal(got, want) {
			t.Fatalf("after the points' validity ended: %v, want %v (settled cash stays 4; the coupon was issued an hour later)", got, want)
		}
		if err := newPlatformAt(t, st, claimedAt.Add(validity+time.Second)).RunDueWork(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := status(), map[string]int{"OF-PTS": 7, "OF-CASH": 4, "OF-CPN": 7}; !maps.Equal(got, want) {
			t.Fatalf("after the coupon's validity ended: %v, want %v", got, want)
		}
		if items := b.reward(t, card, "OF-CPN").Items; len(items) != 1 || items[0].Status != vsrp.ItemExpired {
			t.Fatalf("expired coupon's items: %+v, want one EXPIRED", items)
		}
		if s := b.bill(t, "OF-CASH").Status; s != vsrp.BillSettled {
			t.Fatalf("cash bill status %d, want 3 (settled)", s)
		}
	})
}

func TestListRewardsFilters(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		b := newBillFixture(t, st, 1)
		ctx := context.Background()
		card := b.cards[0]
		jan := purchase("JAN", card, "50", testNow.Add(time.Minute))
		feb := purchase("FEB", card, "50", time.Date(2027, 2, 3, 12, 0, 0, 0, time.UTC))
		// February's purchase arrives first, January's an hour later: newest first is by when
		// the reward was created, so January's reward leads.
		later := newPlatformAt(t, st, time.Date(2027, 2, 4, 0, 0, 0, 0, time.UTC))
		ingest(t, later, []platform.TxnInput{feb})
		ingest(t, newPlatformAt(t, st, time.Date(2027, 2, 4, 1, 0, 0, 0, time.UTC)), []platform.TxnInput{jan})
		list := func(p platform.ListRewardsParams) *platform.RewardPage {
			t.Helper()
			page, err := later.ListRewards(ctx, b.a, p)
			if err != nil {
				t.Fatalf("%+v: %v", p, err)
			}
			return page
		}
		all := list(platform.ListRewardsParams{CardID: card})
		if all.Total != 2 || all.Rewards[0].Bill.StartDate != "2027-01-01" || all.Rewards[1].Bill.StartDate != "2027-02-01" ||
			!all.Rewards[0].CreatedAt.Equal(time.Date(2027, 2, 4, 1, 0, 0, 0, time.UTC)) {
			t.Fatalf("all: total %d, first %+v; want 2, the newest (January's, created last) first", all.Total, all.Rewards[0].Bill)
		}
		if p := list(platform.ListRewardsParams{CardID: card, BillStartDate: "2027-02-01"}); p.Total != 1 || p.Rewards[0].Bill.StartDate != "2027-02-01" {
			t.Fatalf("billStartDate: %+v", p)
		}
		if p := list(platform.ListRewardsParams{CardID: card, BillEndDate: "2027-01-31"}); p.Total != 1 || p.Rewards[0].Bill.EndDate != "2027-01-31" {
			t.Fatalf("billEndDate: %+v", p)
		}
		if p := list(platform.ListRewardsParams{Vuid: b.vuid, PageSize: 1, Page: 1}); p.Total != 2 || len(p.Rewards) != 1 || p.Rewards[0].ID != all.Rewards[1].ID {
			t.Fatalf("page 1 of size 1: %+v", p)
		}
		if p := list(platform.ListRewardsParams{CardID: card, Status: 2}); p.Total != 0 {
			t.Fatalf("status ≥ 2 before generation: %d", p.Total)
		}
		if _, err := later.GenerateBill(ctx, all.Rewards[0].Bill.ID, true); err != nil { // January's
			t.Fatal(err)
		}
		if p := list(platform.ListRewardsParams{CardID: card, Status: 2}); p.Total != 1 {
			t.Fatalf("status ≥ 2 after generating January: %d", p.Total)
		}
		for _, c := range []struct {
			p    platform.ListRewardsParams
			want vsrp.Code
		}{
			{platform.ListRewardsParams{CardID: card, Status: 3}, vsrp.CodeInvalidParam},
			{platform.ListRewardsParams{CardID: card, PageSize: 101}, vsrp.CodeInvalidParam},
			{platform.ListRewardsParams{CardID: card, Page: -1}, vsrp.CodeInvalidParam},
			{platform.ListRewardsParams{CardID: card, BillStartDate: "2027/01/01"}, vsrp.CodeInvalidParam},
			{platform.ListRewardsParams{}, vsrp.CodeMissingParam},
			{platform.ListRewardsParams{CardID: card, CampaignID: "CMP-OTHER"}, vsrp.CodeCampaignNone},
			{platform.ListRewardsParams{Vuid: "vu_nope"}, vsrp.CodeVuidNotFound},
		} {
			if _, err := later.ListRewards(ctx, b.a, c.p); code(err) != c.want {
				t.Errorf("%+v: %v, want %d", c.p, err, c.want)
			}
		}
		// App B is granted nothing: the card's rewards are not its to see.
		if _, err := later.ShowReward(ctx, b.b, all.Rewards[0].ID); code(err) != vsrp.CodeRewardNotFound {
			t.Fatalf("B showReward: %v, want 3012", err)
		}
	})
}

// A reward that needs a claim, of an offer without claimDays, has no deadline: it can be
// claimed after approval, and the scheduler does not expire it.
func TestClaimWithoutClaimDaysHasNoDeadline(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		cp := offer("OF-CP", "each", map[string]any{"reward": map[string]any{"type": "Cash", "amount": 5, "claimRequired": true}})
		applyOffers(t, f.p, cp)
		card := enrolledCards(t, f, 1)[0]
		u, err := f.p.GetVuid(ctx, f.a, "u")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.p.AddCard(ctx, f.a, u.Vuid, card); err != nil {
			t.Fatal(err)
		}
		f.p = newPlatformAt(t, st, testNow.Add(time.Hour))
		b := &billFixture{fixture: f, st: st, cards: []string{card}}
		b.buy(t, "T1", card, "5812")
		id := b.bill(t, "OF-CP").ID
		if _, err := f.p.GenerateBill(ctx, id, true); err != nil {
			t.Fatal(err)
		}
		later := newPlatformAt(t, st, testNow.Add(48*time.Hour))
		if _, err := later.ApproveBill(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := later.RunDueWork(ctx); err != nil {
			t.Fatal(err)
		}
		r := b.reward(t, card, "OF-CP")
		if r.Status != vsrp.RewardToSettle || !r.ClaimBefore.IsZero() {
			t.Fatalf("after approval and the scheduler: status %d, claimBefore %v; want 2 with no deadline", r.Status, r.ClaimBefore)
		}
		if _, _, err := later.ClaimReward(ctx, f.a, r.ID); err != nil {
			t.Fatalf("claim: %v", err)
		}
	})
}

// Settling a bill with "all" while apps report rewards settled themselves (PostgreSQL: the
// reports commit between the listing and the moves) succeeds, and every reward ends settled.
func TestSettleAllWhileAppsReport(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		b := newBillFixture(t, st, 1)
		ctx := context.Background()
		for i := range 300 {
			if sum := ingest(t, b.p, []platform.TxnInput{purchase(fmt.Sprintf("T%d", i), b.cards[0], "50", testNow.Add(time.Minute))}); sum.Accepted != 1 {
				t.Fatal(sum)
			}
		}
		id := b.bill(t, "OF-CASH").ID
		if _, err := b.p.GenerateBill(ctx, id, true); err != nil {
			t.Fatal(err)
		}
		if _, err := b.p.ApproveBill(ctx, id); err != nil {
			t.Fatal(err)
		}
		page, err := b.p.ListRewards(ctx, b.a, platform.ListRewardsParams{CardID: b.cards[0], PageSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, r := range page.Rewards {
			wg.Go(func() {
				if err := b.p.UpdateRewardStatus(ctx, b.a, r.ID, vsrp.RewardSettled, "paid by the app"); err != nil {
					t.Error(err)
				}
			})
		}
		bill, err := b.p.SettleBill(ctx, id, nil, vsrp.RewardSettled)
		wg.Wait()
		if err != nil {
			t.Fatalf("settle all while apps report: %v", err)
		}
		if bill.Status != vsrp.BillSettled {
			t.Fatalf("bill status %d, want settled", bill.Status)
		}
	})
}

package platform_test

import (
	"context"
	"errors"
	"maps"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// A bill's settledAt is when it became final: a reward redeemed or expired afterwards changes
// the reward, not the time the bill was settled.
func TestBillSettledAtStaysAfterLaterRewardChanges(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		points := offer("OF-PTS", "each", map[string]any{"reward": map[string]any{"type": "Point", "amount": 10, "validityDays": 1}})
		applyOffers(t, f.p, points)
		cards := enrolledCards(t, f, 2)
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		buyAt(t, p, "T1", cards[0], "50", "5812", testNow.Add(time.Minute))
		buyAt(t, p, "T2", cards[1], "50", "5812", testNow.Add(time.Minute))
		r0 := rewardOfCard(t, p, f.a, cards[0])
		generateAndApprove(t, p, r0.Bill.ID)
		settledAt := testNow.Add(2 * time.Hour)
		bill, err := newPlatformAt(t, st, settledAt).SettleBill(ctx, r0.Bill.ID, nil, vsrp.RewardSettled)
		if err != nil || bill.Status != vsrp.BillSettled || !bill.SettledAt.Equal(settledAt) {
			t.Fatalf("settle: %+v %v; want status 3 settled at %v", bill, err, settledAt)
		}
		// One reward is redeemed three hours later, the other expires two days later.
		if err := newPlatformAt(t, st, testNow.Add(5*time.Hour)).UpdateRewardStatus(ctx, f.a, r0.ID, vsrp.RewardRedeemed, "used"); err != nil {
			t.Fatal(err)
		}
		if err := newPlatformAt(t, st, testNow.Add(72*time.Hour)).RunDueWork(ctx); err != nil {
			t.Fatal(err)
		}
		if r := rewardOfCard(t, p, f.a, cards[1]); r.Status != vsrp.RewardExpired {
			t.Fatalf("points past expiredAt: status %d, want 7", r.Status)
		}
		got, err := st.BillByID(ctx, r0.Bill.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != vsrp.BillSettled || !got.SettledAt.Equal(settledAt) {
			t.Fatalf("bill after a redemption and an expiry: status %d settledAt %v; want 3 and still %v", got.Status, got.SettledAt, settledAt)
		}
	})
}

// rewardOfCard answers the card's only reward as app a sees it.
func rewardOfCard(t *testing.T, p *platform.Platform, a *vsrp.App, card string) *vsrp.Reward {
	t.Helper()
	page, err := p.ListRewards(context.Background(), a, platform.ListRewardsParams{CardID: card})
	if err != nil || page.Total != 1 {
		t.Fatalf("rewards of %s: %+v %v", card, page, err)
	}
	return page.Rewards[0]
}

// claimBefore is the last instant a claim is taken: a claim at it exactly succeeds, and the
// scheduler running at that same instant leaves the reward alone.
func TestClaimExactlyAtClaimBefore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		b := newBillFixture(t, st, 1)
		ctx := context.Background()
		b.buy(t, "C1", b.cards[0], "5499")
		generatedAt := time.Date(2027, 2, 1, 9, 30, 0, 0, time.UTC)
		generateAndApprove(t, newPlatformAt(t, st, generatedAt), b.bill(t, "OF-COUPON").ID)
		if _, err := b.p.AddCodes(ctx, "CMP-T", "OF-COUPON", []vsrp.RewardItem{{Type: "QR", Code: "Q1"}}); err != nil {
			t.Fatal(err)
		}
		deadline := generatedAt.AddDate(0, 0, 30)
		at := newPlatformAt(t, st, deadline)
		if err := at.RunDueWork(ctx); err != nil {
			t.Fatal(err)
		}
		r := b.reward(t, b.cards[0], "OF-COUPON")
		if _, confirmed, err := at.ClaimReward(ctx, b.a, r.ID); err != nil || confirmed != 1 {
			t.Fatalf("claim at claimBefore exactly: %d %v, want 1 coupon", confirmed, err)
		}
		if r := b.reward(t, b.cards[0], "OF-COUPON"); r.Status != vsrp.RewardSettled || len(r.Items) != 1 {
			t.Fatalf("after the claim: status %d items %v; want 4 with one code", r.Status, r.Items)
		}
	})
}

// A page far past the end is an empty page, on both databases, whatever its number: the offset
// (page × pageSize) must not wrap around to the first rows or to a database error.
func TestListRewardsPageFarPastTheEnd(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		b := newBillFixture(t, st, 1)
		b.buy(t, "T1", b.cards[0], "5812")
		for _, c := range []struct{ page, size int }{{1, 20}, {math.MaxInt / 20, 20}, {math.MaxInt/100 + 1, 100}, {math.MaxInt, 1}, {math.MaxInt, 100}} {
			got, err := b.p.ListRewards(context.Background(), b.a, platform.ListRewardsParams{CardID: b.cards[0], Page: c.page, PageSize: c.size})
			if err != nil {
				t.Errorf("page %d of %d: %v, want an empty page", c.page, c.size, err)
				continue
			}
			if got.Total != 1 || len(got.Rewards) != 0 || got.Page != c.page {
				t.Errorf("page %d of %d: total %d, %d rewards, page %d; want 1, none, %d", c.page, c.size, got.Total, len(got.Rewards), got.Page, c.page)
			}
		}
	})
}

// claimReward's code 1 says why: a claim-required reward that did not meet its goal, on a bill
// already approved, is refused for that reason, not because "the bill is not approved yet".
func TestClaimOfUnmetRewardSaysWhy(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		spend := offer("OF-S", "spend", map[string]any{"goal": map[string]any{"type": "spend", "threshold": 300},
			"reward": map[string]any{"type": "Cash", "amount": 25, "claimRequired": true, "claimDays": 30}})
		applyOffers(t, f.p, spend)
		cards := enrolledCards(t, f, 2)
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		buyAt(t, p, "MET", cards[0], "300", "5812", testNow.Add(time.Minute))
		buyAt(t, p, "SHORT", cards[1], "10", "5812", testNow.Add(time.Minute))
		short := rewardOfCard(t, p, f.a, cards[1])
		generateAndApprove(t, p, short.Bill.ID)
		_, _, err := p.ClaimReward(ctx, f.a, short.ID)
		var ce *vsrp.Error
		if code(err) != vsrp.CodeNotClaimable || !errors.As(err, &ce) || strings.Contains(ce.Detail, "not approved") {
			t.Fatalf("claim of an unmet reward on an approved bill: %v; want code 1 that does not blame the bill's approval", err)
		}
		if _, _, err := p.ClaimReward(ctx, f.a, rewardOfCard(t, p, f.a, cards[0]).ID); err != nil {
			t.Fatalf("claim of the met reward: %v", err)
		}
	})
}

// A reward reaching 4 is notified once: not again when the app reports the same status, nor
// when the operator settles "all" afterwards, nor when it is redeemed or expires.
func TestIssuedRewardNotifiedOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		hooks := hookPlatform(t, st)
		urlA := hookURL("A")
		if _, err := hooks.UpdateApp(ctx, f.a.ID, platform.AppSpec{NotifyURL: &urlA}); err != nil {
			t.Fatal(err)
		}
		pts := offer("OF-PTS", "each", map[string]any{"reward": map[string]any{"type": "Point", "amount": 10, "validityDays": 1}})
		applyOffers(t, f.p, pts)
		cards := enrolledCards(t, f, 2)
		bindAll(t, f, "u", cards...)
		appC := hookApp(t, hooks, "C", []string{"CMP-T"})
		u, err := f.p.GetVuid(ctx, appC, "c-user")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.p.AddCard(ctx, appC, u.Vuid, cards[0]); err != nil {
			t.Fatal(err)
		}
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		buyAt(t, p, "T0", cards[0], "50", "5812", testNow.Add(time.Minute))
		buyAt(t, p, "T1", cards[1], "50", "5812", testNow.Add(time.Minute))
		r0, r1 := rewardOfCard(t, p, f.a, cards[0]), rewardOfCard(t, p, f.a, cards[1])
		generateAndApprove(t, p, r0.Bill.ID)
		// C reports r0 issued (A is told), twice; the operator then settles all (r1: A is told).
		for range 2 {
			if err := p.UpdateRewardStatus(ctx, appC, r0.ID, vsrp.RewardSettled, "issued by C"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.SettleBill(ctx, r0.Bill.ID, nil, vsrp.RewardSettled); err != nil {
			t.Fatal(err)
		}
		if err := p.UpdateRewardStatus(ctx, f.a, r1.ID, vsrp.RewardSettled, "again"); err != nil {
			t.Fatal(err)
		}
		if err := p.UpdateRewardStatus(ctx, f.a, r0.ID, vsrp.RewardRedeemed, "used"); err != nil {
			t.Fatal(err)
		}
		if err := newPlatformAt(t, st, testNow.Add(72*time.Hour)).RunDueWork(ctx); err != nil {
			t.Fatal(err)
		}
		ns, _, err := p.Notifications(ctx, "", 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, n := range ns {
			got[n.RewardID+" to "+n.AppID]++
		}
		want := map[string]int{r0.ID + " to " + f.a.ID: 1, r1.ID + " to " + f.a.ID: 1}
		if !maps.Equal(got, want) {
			t.Fatalf("notifications %v, want %v", got, want)
		}
	})
}

// A code of the pool whose own expiredAt has passed is not handed out at a claim: the claim
// takes the next code that is still good, and with none left the reward stays claimable.
func TestClaimSkipsExpiredCodes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		b := newBillFixture(t, st, 1)
		ctx := context.Background()
		b.buy(t, "C1", b.cards[0], "5499")
		generatedAt := time.Date(2027, 2, 1, 9, 30, 0, 0, time.UTC)
		generateAndApprove(t, newPlatformAt(t, st, generatedAt), b.bill(t, "OF-COUPON").ID)
		claimAt := generatedAt.Add(24 * time.Hour)
		if _, err := b.p.AddCodes(ctx, "CMP-T", "OF-COUPON", []vsrp.RewardItem{
			{Type: "QR", Code: "Q-STALE", ExpiredAt: claimAt.Add(-time.Second)},
			{Type: "QR", Code: "Q-AT", ExpiredAt: claimAt}}); err != nil {
			t.Fatal(err)
		}
		p := newPlatformAt(t, st, claimAt)
		r := b.reward(t, b.cards[0], "OF-COUPON")
		if _, _, err := p.ClaimReward(ctx, b.a, r.ID); code(err) != vsrp.CodeNotClaimable {
			t.Fatalf("claim with only expired codes: %v, want code 1 (no code left)", err)
		}
		if _, err := b.p.AddCodes(ctx, "CMP-T", "OF-COUPON", []vsrp.RewardItem{{Type: "QR", Code: "Q-GOOD"}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.ClaimReward(ctx, b.a, r.ID); err != nil {
			t.Fatal(err)
		}
		if r := b.reward(t, b.cards[0], "OF-COUPON"); len(r.Items) != 1 || r.Items[0].Code != "Q-GOOD" {
			t.Fatalf("items %+v, want the one code still good (Q-GOOD)", r.Items)
		}
	})
}

// A message with a NUL character (or bytes that are not UTF-8) is refused the same way on both
// databases, by the app (1003) and by the operator (a validation error), and nothing moves.
func TestMessagesMustBePlainText(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		applyOffers(t, f.p, offer("OF-PTS", "each", map[string]any{"reward": map[string]any{"type": "Point", "amount": 10}}))
		cards := enrolledCards(t, f, 1)
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		buyAt(t, p, "T1", cards[0], "50", "5812", testNow.Add(time.Minute))
		r := rewardOfCard(t, p, f.a, cards[0])
		generateAndApprove(t, p, r.Bill.ID)
		for _, msg := range []string{"issued\x00", "issued \xff"} {
			if err := p.UpdateRewardStatus(ctx, f.a, r.ID, vsrp.RewardSettled, msg); code(err) != vsrp.CodeInvalidParam {
				t.Errorf("updateRewardStatus with message %q: %v, want 1003", msg, err)
			}
			var ve *vsrp.ValidationError
			_, err := p.SettleBill(ctx, r.Bill.ID, []platform.SettleResult{{RewardID: r.ID, Status: vsrp.RewardSettled, Message: msg}}, 0)
			if !errors.As(err, &ve) || ve.Problems[0].Field != "results[0].message" {
				t.Errorf("settle with message %q: %v, want a validation error on results[0].message", msg, err)
			}
		}
		if got := rewardOfCard(t, p, f.a, cards[0]); got.Status != vsrp.RewardSettling {
			t.Fatalf("status %d after the refused messages, want still 3", got.Status)
		}
		if err := p.UpdateRewardStatus(ctx, f.a, r.ID, vsrp.RewardSettled, "issued 已发放"); err != nil {
			t.Fatal(err)
		}
	})
}

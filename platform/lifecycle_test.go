package platform_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
	"github.com/vsrp-dev/vsrp/vault"
)

// buyAt ingests one purchase of amount on the platform p (whose clock must be after when).
func buyAt(t *testing.T, p *platform.Platform, id, card, amount, mcc string, when time.Time) {
	t.Helper()
	x := purchase(id, card, amount, when)
	x.MCC = mcc
	if sum := ingest(t, p, []platform.TxnInput{x}); sum.Accepted != 1 {
		t.Fatalf("ingest %s: %+v", id, sum)
	}
}

// generateAndApprove generates (forced) and approves a bill on p.
func generateAndApprove(t *testing.T, p *platform.Platform, billID string) {
	t.Helper()
	if _, err := p.GenerateBill(context.Background(), billID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ApproveBill(context.Background(), billID); err != nil {
		t.Fatal(err)
	}
}

// Generation confirms met rewards (1 → 2, confirmedAmount = the amount) and leaves rewards
// that did not meet their goal at 0 for good, with 0 confirmed; approval and settlement move
// only the confirmed ones.
func TestGenerateConfirmsOnlyMetRewards(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		spend := offer("OF-S", "spend", map[string]any{"goal": map[string]any{"type": "spend", "threshold": 300},
			"reward": map[string]any{"type": "Cash", "amount": 25}})
		applyOffers(t, f.p, spend)
		cards := enrolledCards(t, f, 2)
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		buyAt(t, p, "MET-1", cards[0], "200", "5812", testNow.Add(time.Minute))
		buyAt(t, p, "MET-2", cards[0], "100", "5812", testNow.Add(2*time.Minute)) // 300.00: met exactly
		buyAt(t, p, "SHORT", cards[1], "299.99", "5812", testNow.Add(time.Minute))
		rewardOf := func(card string) *vsrp.Reward {
			t.Helper()
			page, err := p.ListRewards(ctx, f.a, platform.ListRewardsParams{CardID: card})
			if err != nil || page.Total != 1 {
				t.Fatalf("rewards of %s: %+v %v", card, page, err)
			}
			return page.Rewards[0]
		}
		met, short := rewardOf(cards[0]), rewardOf(cards[1])
		if met.Status != vsrp.RewardMet || met.CalculatedAmount != 2500 || met.ConfirmedAmount != nil ||
			short.Status != vsrp.RewardNotMet || short.CalculatedAmount != 0 || short.ConfirmedAmount != nil {
			t.Fatalf("before generation: met %d/%d/%v, short %d/%d/%v", met.Status, met.CalculatedAmount, met.ConfirmedAmount,
				short.Status, short.CalculatedAmount, short.ConfirmedAmount)
		}
		billID := met.Bill.ID
		g, err := p.GenerateBill(ctx, billID, true)
		if err != nil {
			t.Fatal(err)
		}
		if g.TotalAmount != 2500 {
			t.Fatalf("generated bill total %d, want 2500 (only the met reward)", g.TotalAmount)
		}
		met, short = rewardOf(cards[0]), rewardOf(cards[1])
		if met.Status != vsrp.RewardToSettle || met.ConfirmedAmount == nil || *met.ConfirmedAmount != 2500 {
			t.Fatalf("met reward after generation: status %d confirmed %v, want 2 and 2500", met.Status, met.ConfirmedAmount)
		}
		if short.Status != vsrp.RewardNotMet || short.ConfirmedAmount == nil || *short.ConfirmedAmount != 0 {
			t.Fatalf("unmet reward after generation: status %d confirmed %v, want 0 and 0", short.Status, short.ConfirmedAmount)
		}
		if _, err := p.ApproveBill(ctx, billID); err != nil {
			t.Fatal(err)
		}
		if s := rewardOf(cards[1]).Status; s != vsrp.RewardNotMet {
			t.Fatalf("unmet reward after approval: status %d, want 0", s)
		}
		bill, err := p.SettleBill(ctx, billID, nil, vsrp.RewardSettled)
		if err != nil {
			t.Fatal(err)
		}
		if met, short := rewardOf(cards[0]), rewardOf(cards[1]); met.Status != vsrp.RewardSettled || short.Status != vsrp.RewardNotMet ||
			bill.Status != vsrp.BillSettled {
			t.Fatalf("after settling all: met %d, unmet %d, bill %d; want 4, 0, 3", met.Status, short.Status, bill.Status)
		}
	})
}

// claimBefore is the generation time plus claimDays; a claim after it is refused (code 1) and
// leaves the reward claimable-looking but unclaimed, a claim before it succeeds.
func TestClaimDeadline(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		b := newBillFixture(t, st, 2)
		ctx := context.Background()
		b.buy(t, "C1", b.cards[0], "5499")
		b.buy(t, "C2", b.cards[1], "5499")
		billID := b.bill(t, "OF-COUPON").ID
		generatedAt := time.Date(2027, 2, 1, 9, 30, 0, 0, time.UTC)
		gen := newPlatformAt(t, st, generatedAt)
		generateAndApprove(t, gen, billID)
		if _, err := b.p.AddCodes(ctx, "CMP-T", "OF-COUPON", []vsrp.RewardItem{{Type: "QR", Code: "Q1"}, {Type: "QR", Code: "Q2"}}); err != nil {
			t.Fatal(err)
		}
		deadline := generatedAt.Add(30 * 24 * time.Hour) // claimDays: 30
		late, early := b.reward(t, b.cards[0], "OF-COUPON"), b.reward(t, b.cards[1], "OF-COUPON")
		for _, r := range []*vsrp.Reward{late, early} {
			if r.Status != vsrp.RewardToSettle || !r.ClaimBefore.Equal(deadline) {
				t.Fatalf("claimable reward: status %d claimBefore %v; want 2 and %v", r.Status, r.ClaimBefore, deadline)
			}
		}
		if _, _, err := newPlatformAt(t, st, deadline.Add(time.Second)).ClaimReward(ctx, b.a, late.ID); code(err) != vsrp.CodeNotClaimable {
			t.Fatalf("claim one second past claimBefore: %v, want code 1", err)
		}
		if r := b.reward(t, b.cards[0], "OF-COUPON"); r.Status != vsrp.RewardToSettle || !r.ClaimedAt.IsZero() || len(r.Items) != 0 {
			t.Fatalf("after a refused claim: status %d claimedAt %v items %v; want 2, never claimed, no codes", r.Status, r.ClaimedAt, r.Items)
		}
		claimedAt := deadline.Add(-time.Second)
		_, confirmed, err := newPlatformAt(t, st, claimedAt).ClaimReward(ctx, b.a, early.ID)
		if err != nil || confirmed != 1 {
			t.Fatalf("claim one second before claimBefore: %d %v, want 1 coupon", confirmed, err)
		}
		r := b.reward(t, b.cards[1], "OF-COUPON")
		// The coupon is issued at the claim: expiredAt is the claim plus validityDays (90).
		if r.Status != vsrp.RewardSettled || !r.ClaimedAt.Equal(claimedAt) || !r.SettledAt.Equal(claimedAt) ||
			!r.ExpiredAt.Equal(claimedAt.Add(90*24*time.Hour)) || len(r.Items) != 1 {
			t.Fatalf("claimed coupon: status %d claimedAt %v settledAt %v expiredAt %v items %v", r.Status, r.ClaimedAt, r.SettledAt,
				r.ExpiredAt, r.Items)
		}
	})
}

// A coupon reward worth n coupons gets n codes at its claim, never one twice; with fewer left
// in the pool it takes none and stays claimable.
func TestClaimTakesOneCodePerUnit(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		coupons := offer("OF-3", "each", map[string]any{"reward": map[string]any{"type": "Coupon", "amount": 3, "claimRequired": true}})
		applyOffers(t, f.p, coupons)
		cards := enrolledCards(t, f, 2)
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		buyAt(t, p, "A", cards[0], "10", "5812", testNow.Add(time.Minute))
		buyAt(t, p, "B", cards[1], "10", "5812", testNow.Add(time.Minute))
		rewardOf := func(card string) *vsrp.Reward {
			t.Helper()
			page, err := p.ListRewards(ctx, f.a, platform.ListRewardsParams{CardID: card})
			if err != nil || page.Total != 1 {
				t.Fatalf("rewards of %s: %+v %v", card, page, err)
			}
			return page.Rewards[0]
		}
		generateAndApprove(t, p, rewardOf(cards[0]).Bill.ID)
		var pool []vsrp.RewardItem
		for i := range 5 {
			pool = append(pool, vsrp.RewardItem{Type: "text", Code: fmt.Sprintf("CODE-%d", i)})
		}
		if _, err := p.AddCodes(ctx, "CMP-T", "OF-3", pool); err != nil {
			t.Fatal(err)
		}
		_, confirmed, err := p.ClaimReward(ctx, f.a, rewardOf(cards[0]).ID)
		if err != nil || confirmed != 3 {
			t.Fatalf("claim of a 3-coupon reward: %d %v", confirmed, err)
		}
		first := rewardOf(cards[0])
		codes := map[string]bool{}
		for _, it := range first.Items {
			codes[it.Code] = true
			if it.Status != vsrp.ItemIssued || it.Type != "text" {
				t.Fatalf("issued item %+v, want a text code ISSUED", it)
			}
		}
		if first.Status != vsrp.RewardSettled || len(first.Items) != 3 || len(codes) != 3 {
			t.Fatalf("3-coupon reward after its claim: status %d items %+v; want 4 with 3 different codes", first.Status, first.Items)
		}
		// Two codes are left for a reward worth three: the claim is refused and takes none.
		if _, _, err := p.ClaimReward(ctx, f.a, rewardOf(cards[1]).ID); code(err) != vsrp.CodeNotClaimable {
			t.Fatalf("claim with 2 codes left for 3 coupons: %v, want code 1", err)
		}
		if r := rewardOf(cards[1]); r.Status != vsrp.RewardToSettle || len(r.Items) != 0 {
			t.Fatalf("after the refused claim: status %d items %v; want 2 and none", r.Status, r.Items)
		}
		if _, err := p.AddCodes(ctx, "CMP-T", "OF-3", []vsrp.RewardItem{{Type: "url", Code: "https://c.example/6"}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.ClaimReward(ctx, f.a, rewardOf(cards[1]).ID); err != nil {
			t.Fatalf("claim once a third code is in the pool: %v", err)
		}
		second := rewardOf(cards[1])
		if second.Status != vsrp.RewardSettled || len(second.Items) != 3 {
			t.Fatalf("second reward: status %d items %+v, want 4 with 3 codes", second.Status, second.Items)
		}
		for _, it := range second.Items {
			if codes[it.Code] {
				t.Fatalf("code %s given to both rewards", it.Code)
			}
			codes[it.Code] = true
		}
		if len(codes) != 6 {
			t.Fatalf("%d different codes issued, want all 6", len(codes))
		}
	})
}

// Settlement results name rewards of the bill being settled: a reward of another bill is a
// validation problem, and neither that reward nor the bill moves.
func TestSettleRefusesRewardsOfAnotherBill(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		b := newBillFixture(t, st, 1)
		ctx := context.Background()
		card := b.cards[0]
		p := newPlatformAt(t, st, time.Date(2027, 2, 10, 0, 0, 0, 0, time.UTC))
		buyAt(t, p, "JAN", card, "50", "5812", testNow.Add(time.Minute))
		buyAt(t, p, "FEB", card, "50", "5812", time.Date(2027, 2, 5, 0, 0, 0, 0, time.UTC))
		var jan, feb *vsrp.Reward
		page, err := p.ListRewards(ctx, b.a, platform.ListRewardsParams{CardID: card})
		if err != nil || page.Total != 2 {
			t.Fatalf("%+v %v", page, err)
		}
		for _, r := range page.Rewards {
			if r.Bill.StartDate == "2027-01-01" {
				jan = r
			} else {
				feb = r
			}
		}
		if jan == nil || feb == nil || jan.Bill.ID == feb.Bill.ID {
			t.Fatalf("want a January and a February reward on two bills: %+v", page.Rewards)
		}
		generateAndApprove(t, p, jan.Bill.ID)
		generateAndApprove(t, p, feb.Bill.ID)
		_, err = p.SettleBill(ctx, jan.Bill.ID, []platform.SettleResult{{RewardID: feb.ID, Status: vsrp.RewardSettled, Message: "paid"}}, 0)
		var ve *vsrp.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("settling February's reward on January's bill: %v, want a validation problem", err)
		}
		got, err := p.ShowReward(ctx, b.a, feb.ID)
		if err != nil || got.Status != vsrp.RewardSettling || !got.SettledAt.IsZero() || got.SettleMessage != "" {
			t.Fatalf("February's reward after the refused settlement: %+v %v; want still 3", got, err)
		}
		for _, id := range []string{jan.Bill.ID, feb.Bill.ID} {
			if bill, err := p.Store().BillByID(ctx, id); err != nil || bill.Status != vsrp.BillApproved {
				t.Fatalf("bill %s after the refused settlement: %+v %v; want still approved", id, bill, err)
			}
		}
		// The right bill takes it.
		if _, err := p.SettleBill(ctx, feb.Bill.ID, []platform.SettleResult{{RewardID: feb.ID, Status: vsrp.RewardSettled, Message: "paid"}}, 0); err != nil {
			t.Fatalf("settling February's reward on its own bill: %v", err)
		}
	})
}

// GET bills: by StartDate, then offerId, whatever order the bills were created in.
func TestBillsOrder(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		week := func(id string) map[string]any {
			return offer(id, "each", map[string]any{"billing": map[string]any{"period": "week"}})
		}
		month := func(id string) map[string]any { return offer(id, "each", nil) }
		applyOffers(t, f.p, week("OF-A"), month("OF-B"), week("OF-C"))
		card := enrolledCards(t, f, 1)[0]
		p := newPlatformAt(t, st, time.Date(2027, 2, 10, 0, 0, 0, 0, time.UTC))
		// February first, then January: bills are created in that order.
		buyAt(t, p, "FEB", card, "10", "5812", time.Date(2027, 2, 2, 4, 0, 0, 0, time.UTC))  // Tuesday 2 February, Shanghai
		buyAt(t, p, "JAN", card, "10", "5812", time.Date(2027, 1, 13, 4, 0, 0, 0, time.UTC)) // Wednesday 13 January
		bills, err := p.Bills(ctx, "CMP-T")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, b := range bills {
			got = append(got, b.StartDate+" "+b.OfferID)
		}
		want := []string{"2027-01-01 OF-B", "2027-01-11 OF-A", "2027-01-11 OF-C", "2027-02-01 OF-A", "2027-02-01 OF-B", "2027-02-01 OF-C"}
		if !slices.Equal(got, want) {
			t.Fatalf("bills:\ngot  %q\nwant %q", got, want)
		}
	})
}

// hookPlatform is a platform that accepts loopback notification URLs, to give the test apps
// one: an app without a notifyUrl gets no notification at all, so only apps with one show
// who is notified.
func hookPlatform(t *testing.T, st *store.Store) *platform.Platform {
	t.Helper()
	v, err := vault.New(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return platform.New(st, v, platform.Config{AllowPrivateHooks: true}, func() time.Time { return testNow },
		slog.New(slog.NewJSONHandler(io.Discard, nil)))
}

func hookURL(name string) string { return "http://127.0.0.1:9/" + name + "/api/v1/reward/notification" }

// hookApp creates an app with a notification URL and the campaigns.
func hookApp(t *testing.T, hooks *platform.Platform, name string, campaigns []string) *vsrp.App {
	t.Helper()
	u := hookURL(name)
	c, err := hooks.CreateApp(context.Background(), platform.AppSpec{Name: &name, CampaignIDs: &campaigns, IPWhitelist: &localhost, NotifyURL: &u})
	if err != nil {
		t.Fatal(err)
	}
	a, err := hooks.App(context.Background(), c.AppID)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A reward reaching 4 notifies, through the outbox, every app granted its campaign with one of
// its cards bound to a user, except the app that reported the 4 itself; an app that only
// enrolled the card, or is not granted the campaign, is not notified.
func TestIssuedRewardNotifiesOtherAppsNotTheReporter(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		hooks := hookPlatform(t, st)
		urlA := hookURL("A")
		if _, err := hooks.UpdateApp(ctx, f.a.ID, platform.AppSpec{NotifyURL: &urlA}); err != nil {
			t.Fatal(err)
		}
		appC := hookApp(t, hooks, "C", []string{"CMP-T"})
		appE := hookApp(t, hooks, "E", []string{"CMP-T"})
		appN := hookApp(t, hooks, "N", []string{"CMP-OTHER"})
		applyOffers(t, f.p, offer("OF-CASH", "each", map[string]any{
			"reward": map[string]any{"type": "Cash", "amount": 5}}))
		cards := enrolledCards(t, f, 2)
		viaE, _, err := f.p.Enroll(ctx, appE, pan("411111116000001"), "EG-R", nil)
		if err != nil {
			t.Fatal(err)
		}
		all := append(slices.Clone(cards), viaE.CardID)
		bindAll(t, f, "a-user", all...)
		for _, app := range []*vsrp.App{appC, appN} {
			u, err := f.p.GetVuid(ctx, app, "user-of-"+app.Name)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range all {
				if err := f.p.AddCard(ctx, app, u.Vuid, c); err != nil {
					t.Fatal(err)
				}
			}
		}
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		for i, c := range all {
			buyAt(t, p, fmt.Sprintf("P%d", i), c, "10", "5812", testNow.Add(time.Minute))
		}
		rewardOf := func(card string) string {
			t.Helper()
			page, err := p.ListRewards(ctx, f.a, platform.ListRewardsParams{CardID: card})
			if err != nil || page.Total != 1 {
				t.Fatalf("rewards of %s: %+v %v", card, page, err)
			}
			return page.Rewards[0].ID
		}
		r0, r1, rE := rewardOf(all[0]), rewardOf(all[1]), rewardOf(all[2])
		billID := func() string {
			r, err := p.ShowReward(ctx, f.a, r0)
			if err != nil {
				t.Fatal(err)
			}
			return r.Bill.ID
		}()
		generateAndApprove(t, p, billID)
		if ns, _, err := p.Notifications(ctx, "", 100, 0); err != nil || len(ns) != 0 {
			t.Fatalf("notifications before any reward reached 4: %v %v", ns, err)
		}
		if err := p.UpdateRewardStatus(ctx, f.a, r0, vsrp.RewardSettled, "issued by A"); err != nil {
			t.Fatal(err)
		}
		if err := p.UpdateRewardStatus(ctx, appC, r1, vsrp.RewardSettled, "issued by C"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.SettleBill(ctx, billID, []platform.SettleResult{{RewardID: rE, Status: vsrp.RewardSettled}}, 0); err != nil {
			t.Fatal(err)
		}
		ns, _, err := p.Notifications(ctx, "", 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		urls := map[string]string{f.a.ID: urlA, appC.ID: hookURL("C"), appE.ID: hookURL("E"), appN.ID: hookURL("N")}
		names := map[string]string{f.a.ID: "A", appC.ID: "C", appE.ID: "E", appN.ID: "N"}
		got := map[string][]string{}
		for _, n := range ns {
			got[n.RewardID] = append(got[n.RewardID], names[n.AppID])
			if n.URL != urls[n.AppID] || n.Body != fmt.Sprintf(`{"rewardId":%q}`, n.RewardID) {
				t.Errorf("notification to %s: url %q body %s", names[n.AppID], n.URL, n.Body)
			}
		}
		for _, apps := range got {
			slices.Sort(apps)
		}
		want := map[string][]string{
			r0: {"C"},      // A reported it: only C is told
			r1: {"A"},      // C reported it: only A is told
			rE: {"A", "C"}, // the operator settled it: both apps with the card bound; not E (only enrolled it), not N (not granted)
		}
		for _, r := range []string{r0, r1, rE} {
			if !slices.Equal(got[r], want[r]) {
				t.Errorf("reward %s notified %v, want %v", r, got[r], want[r])
			}
		}
		if len(ns) != 4 {
			t.Errorf("%d notifications, want 4", len(ns))
		}
	})
}

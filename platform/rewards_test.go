package platform_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// listIDs answers the ids of one listRewards page, in order.
func listIDs(t *testing.T, p *platform.Platform, a *vsrp.App, q platform.ListRewardsParams) ([]string, *platform.RewardPage) {
	t.Helper()
	page, err := p.ListRewards(context.Background(), a, q)
	if err != nil {
		t.Fatalf("listRewards %+v: %v", q, err)
	}
	var ids []string
	for _, r := range page.Rewards {
		ids = append(ids, r.ID)
	}
	return ids, page
}

// rewardByTotal finds a card's reward (as operators see it) by its eventTotalAmount: the
// tests give every purchase of an each offer its own amount to tell their rewards apart.
func rewardByTotal(t *testing.T, st *store.Store, card string, total int64) *vsrp.Reward {
	t.Helper()
	rs, _, err := st.AdminRewards(context.Background(), store.AdminRewardQuery{CardID: card, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.EventTotalAmount == total {
			return r
		}
	}
	t.Fatalf("no reward of %s with total %d", card, total)
	return nil
}

// listRewards orders by createdAt, newest first: the reward created last leads, whatever its
// transaction's time or its bill. Pages follow that order.
func TestListRewardsNewestFirst(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		applyOffers(t, f.p, offer("OF-E", "each", nil))
		card := enrolledCards(t, f, 1)[0]
		vuid := bindAll(t, f, "user", card)
		// They arrive X, Y, Z (so are created in that order), but by transaction time Y comes
		// first, then Z, then X; X's bill is February's, the others' January's.
		arrivals := []struct {
			id, amount string
			txn, at    time.Time
		}{
			{"X", "10.00", time.Date(2027, 2, 2, 0, 0, 0, 0, time.UTC), time.Date(2027, 2, 3, 0, 0, 0, 0, time.UTC)},
			{"Y", "20.00", time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC), time.Date(2027, 2, 3, 0, 0, 5, 0, time.UTC)},
			{"Z", "30.00", time.Date(2027, 1, 20, 0, 0, 0, 0, time.UTC), time.Date(2027, 2, 3, 1, 0, 0, 0, time.UTC)},
		}
		ids := map[string]string{}
		for _, a := range arrivals {
			buyAt(t, newPlatformAt(t, st, a.at), a.id, card, a.amount, "5812", a.txn)
			total := map[string]int64{"X": 1000, "Y": 2000, "Z": 3000}[a.id]
			r := rewardByTotal(t, st, card, total)
			if !r.CreatedAt.Equal(a.at) {
				t.Fatalf("reward of %s created at %v, want its arrival %v", a.id, r.CreatedAt, a.at)
			}
			ids[a.id] = r.ID
		}
		want := []string{ids["Z"], ids["Y"], ids["X"]}
		for _, q := range []platform.ListRewardsParams{{CardID: card}, {Vuid: vuid}} {
			if got, _ := listIDs(t, f.p, f.a, q); !slices.Equal(got, want) {
				t.Fatalf("listRewards %+v: %v, want %v (Z, Y, X: newest first)", q, got, want)
			}
		}
		for i, id := range want {
			got, page := listIDs(t, f.p, f.a, platform.ListRewardsParams{CardID: card, Page: i, PageSize: 1})
			if !slices.Equal(got, []string{id}) || page.Total != 3 {
				t.Fatalf("page %d of size 1: %v of %d, want [%s] of 3", i, got, page.Total, id)
			}
		}
	})
}

// pageSize defaults to 20; the pages then cover the rewards once each.
func TestListRewardsDefaultPageSize(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		applyOffers(t, f.p, offer("OF-E", "each", nil))
		card := enrolledCards(t, f, 1)[0]
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		var rows []platform.TxnInput
		for i := range 25 {
			rows = append(rows, purchase(fmt.Sprintf("T%02d", i), card, "10", testNow.Add(time.Duration(i+1)*time.Second)))
		}
		if sum := ingest(t, p, rows); sum.Accepted != 25 {
			t.Fatalf("%+v", sum)
		}
		first, page := listIDs(t, p, f.a, platform.ListRewardsParams{CardID: card})
		if page.PageSize != 20 || page.Page != 0 || page.Total != 25 || len(first) != 20 {
			t.Fatalf("no pageSize: page %d size %d total %d with %d rewards; want 0, 20, 25, 20", page.Page, page.PageSize, page.Total, len(first))
		}
		second, page := listIDs(t, p, f.a, platform.ListRewardsParams{CardID: card, Page: 1})
		if page.PageSize != 20 || len(second) != 5 {
			t.Fatalf("page 1 without pageSize: size %d with %d rewards; want 20 and the last 5", page.PageSize, len(second))
		}
		seen := map[string]bool{}
		for _, id := range append(first, second...) {
			seen[id] = true
		}
		if len(seen) != 25 {
			t.Fatalf("two default pages cover %d rewards, want all 25", len(seen))
		}
	})
}

// status 0 lists every reward, 2 those in 2 or later, 4 those in 4 or later.
func TestListRewardsStatusFilter(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		b := newBillFixture(t, st, 1)
		ctx := context.Background()
		card := b.cards[0]
		p := newPlatformAt(t, st, time.Date(2027, 2, 10, 0, 0, 0, 0, time.UTC))
		// January: four cash rewards (5812) and two coupon rewards (5499, each also a cash
		// reward), told apart by amount. February: one more cash reward, left open (1).
		amounts := map[string]string{"S3": "11", "S4": "12", "S5": "13", "S6": "14", "K2": "15", "K4": "16"}
		for _, id := range slices.Sorted(maps.Keys(amounts)) {
			mcc := "5812"
			if id[0] == 'K' {
				mcc = "5499"
			}
			buyAt(t, p, id, card, amounts[id], mcc, testNow.Add(time.Minute))
		}
		buyAt(t, p, "F1", card, "17", "5812", time.Date(2027, 2, 5, 0, 0, 0, 0, time.UTC))
		rewardOf := func(offerID string, amount int64) string {
			rs, _, err := st.AdminRewards(ctx, store.AdminRewardQuery{CardID: card, OfferID: offerID, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				if r.EventTotalAmount == amount {
					return r.ID
				}
			}
			t.Fatalf("no %s reward of %d", offerID, amount)
			return ""
		}
		cash := func(amount int64) string { return rewardOf("OF-CASH", amount) }
		coupon := func(amount int64) string { return rewardOf("OF-COUPON", amount) }
		janCash, janCoupon := b.bill(t, "OF-CASH"), b.bill(t, "OF-COUPON") // the first bill of each offer: January
		generateAndApprove(t, p, janCash.ID)
		generateAndApprove(t, p, janCoupon.ID)
		if _, err := p.SettleBill(ctx, janCash.ID, []platform.SettleResult{{RewardID: cash(1200), Status: 4}, {RewardID: cash(1400), Status: 4},
			{RewardID: cash(1300), Status: 5}, {RewardID: cash(1500), Status: 4}, {RewardID: cash(1600), Status: 4}}, 0); err != nil {
			t.Fatal(err)
		}
		if err := p.UpdateRewardStatus(ctx, b.a, cash(1400), vsrp.RewardRedeemed, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := p.AddCodes(ctx, "CMP-T", "OF-COUPON", []vsrp.RewardItem{{Type: "QR", Code: "Q"}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.ClaimReward(ctx, b.a, coupon(1600)); err != nil {
			t.Fatal(err)
		}
		// Statuses now: cash 1100 → 3, 1200 → 4, 1300 → 5, 1400 → 6, 1500 → 4, 1600 → 4;
		// coupons 1500 → 2 (unclaimed), 1600 → 4; February's cash 1700 → 1.
		byStatus := map[int][]string{
			1: {cash(1700)},
			2: {coupon(1500)},
			3: {cash(1100)},
			4: {cash(1200), cash(1500), cash(1600), coupon(1600)},
			5: {cash(1300)},
			6: {cash(1400)},
		}
		atLeast := func(min int) []string {
			var out []string
			for s, ids := range byStatus {
				if s >= min {
					out = append(out, ids...)
				}
			}
			slices.Sort(out)
			return out
		}
		for _, status := range []int{0, 2, 4} {
			got, page := listIDs(t, p, b.a, platform.ListRewardsParams{CardID: card, Status: status, PageSize: 100})
			slices.Sort(got)
			if want := atLeast(status); !slices.Equal(got, want) || page.Total != len(want) {
				t.Errorf("status %d: %d rewards %v, want %d: %v", status, page.Total, got, len(want), want)
			}
		}
	})
}

// listRewards and showReward show an app only the rewards of campaigns granted to it, even
// of a card bound to its own user: another campaign's reward is absent from its lists and
// answers 3012 to showReward, claimReward and updateRewardStatus.
func TestRewardsOfCampaignsNotGrantedAreInvisible(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		applyOffers(t, f.p, offer("OF-T", "each", nil))
		docU := strings.NewReplacer("CMP-T", "CMP-U", "EG-R", "EG-U").Replace(string(rewardCampaign(offer("OF-U", "each",
			map[string]any{"reward": map[string]any{"type": "Cash", "amount": 1, "claimRequired": true}}))))
		if _, err := f.p.ApplyCampaign(ctx, "CMP-U", []byte(docU), false); err != nil {
			t.Fatal(err)
		}
		appU := otherApp(t, f)
		if _, err := f.p.UpdateApp(ctx, appU.ID, platform.AppSpec{CampaignIDs: &[]string{"CMP-U"}}); err != nil {
			t.Fatal(err)
		}
		appU, err := f.p.App(ctx, appU.ID)
		if err != nil {
			t.Fatal(err)
		}
		// One card, enrolled in CMP-T through A and in CMP-U through U, bound to a user in both.
		card := enrolledCards(t, f, 1)[0]
		if _, _, err := f.p.Enroll(ctx, appU, card, "EG-U", nil); err != nil {
			t.Fatal(err)
		}
		vuidA := bindAll(t, f, "a-user", card)
		uu, err := f.p.GetVuid(ctx, appU, "u-user")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.p.AddCard(ctx, appU, uu.Vuid, card); err != nil {
			t.Fatal(err)
		}
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		buyAt(t, p, "P", card, "10", "5812", testNow.Add(time.Minute))
		rs, _, err := st.AdminRewards(ctx, store.AdminRewardQuery{CardID: card, Limit: 10})
		if err != nil || len(rs) != 2 {
			t.Fatalf("want one reward in each campaign: %v %v", rs, err)
		}
		of := map[string]string{}
		for _, r := range rs {
			of[r.CampaignID] = r.ID
		}
		for _, c := range []struct {
			app         *vsrp.App
			vuid        string
			mine, not   string
			notCampaign string
		}{{f.a, vuidA, of["CMP-T"], of["CMP-U"], "CMP-U"}, {appU, uu.Vuid, of["CMP-U"], of["CMP-T"], "CMP-T"}} {
			for _, q := range []platform.ListRewardsParams{{CardID: card}, {Vuid: c.vuid}} {
				if got, _ := listIDs(t, p, c.app, q); !slices.Equal(got, []string{c.mine}) {
					t.Errorf("app %s lists %v, want only %s (its own campaign's)", c.app.Name, got, c.mine)
				}
			}
			if _, err := p.ListRewards(ctx, c.app, platform.ListRewardsParams{CardID: card, CampaignID: c.notCampaign}); code(err) != vsrp.CodeCampaignNone {
				t.Errorf("app %s lists campaign %s: %v, want 3011", c.app.Name, c.notCampaign, err)
			}
			if r, err := p.ShowReward(ctx, c.app, c.mine); err != nil || r.ID != c.mine {
				t.Errorf("app %s shows its campaign's reward: %v", c.app.Name, err)
			}
			if _, err := p.ShowReward(ctx, c.app, c.not); code(err) != vsrp.CodeRewardNotFound {
				t.Errorf("app %s shows the other campaign's reward: %v, want 3012", c.app.Name, err)
			}
			if _, _, err := p.ClaimReward(ctx, c.app, c.not); code(err) != vsrp.CodeRewardNotFound {
				t.Errorf("app %s claims the other campaign's reward: %v, want 3012", c.app.Name, err)
			}
			if err := p.UpdateRewardStatus(ctx, c.app, c.not, vsrp.RewardSettled, ""); code(err) != vsrp.CodeRewardNotFound {
				t.Errorf("app %s updates the other campaign's reward: %v, want 3012", c.app.Name, err)
			}
		}
	})
}

// A spend or count reward that meets its goal after the budget is spent stays 0, with a
// calculateMessage saying so, and is listed like any other; an each purchase past the budget
// earns nothing (its reward is not shown). The earliest earn, by transaction time, get the
// budget, whatever the arrival order.
func TestBudgetSpent(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		spend := offer("OF-S", "spend", map[string]any{"match": map[string]any{"mcc": []string{"5411"}},
			"goal": map[string]any{"type": "spend", "threshold": 100}, "reward": map[string]any{"type": "Cash", "amount": 25},
			"limits": map[string]any{"budget": 50}})
		count := offer("OF-C", "count", map[string]any{"match": map[string]any{"mcc": []string{"5411"}},
			"goal": map[string]any{"type": "count", "threshold": 1}, "reward": map[string]any{"type": "Point", "amount": 7},
			"limits": map[string]any{"budget": 7}})
		each := offer("OF-E", "each", map[string]any{"match": map[string]any{"mcc": []string{"5812"}},
			"reward": map[string]any{"type": "Cash", "amount": 4}, "limits": map[string]any{"budget": 8}})
		applyOffers(t, f.p, spend, count, each)
		cards := enrolledCards(t, f, 3)
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		// The third card's purchase is the latest but arrives first: it loses its place.
		buyAt(t, p, "S3", cards[2], "100", "5411", testNow.Add(3*time.Minute))
		buyAt(t, p, "S1", cards[0], "100", "5411", testNow.Add(1*time.Minute))
		buyAt(t, p, "S2", cards[1], "150", "5411", testNow.Add(2*time.Minute))
		buyAt(t, p, "E3", cards[2], "10", "5812", testNow.Add(3*time.Minute))
		buyAt(t, p, "E1", cards[0], "10", "5812", testNow.Add(1*time.Minute))
		buyAt(t, p, "E2", cards[1], "10", "5812", testNow.Add(2*time.Minute))
		type view struct {
			status int
			amount int64
			budget bool // calculateMessage says the budget is spent
		}
		listed := func(card string) map[string]view {
			t.Helper()
			page, err := p.ListRewards(ctx, f.a, platform.ListRewardsParams{CardID: card})
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]view{}
			for _, r := range page.Rewards {
				out[r.OfferID] = view{r.Status, r.CalculatedAmount, strings.Contains(r.CalculateMessage, "budget")}
				if got, err := p.ShowReward(ctx, f.a, r.ID); err != nil || got.Status != r.Status {
					t.Errorf("showReward of a listed reward: %v", err)
				}
			}
			return out
		}
		// Spend budget 50.00: S1 (25.00) and S2 (25.00) fit, S3 does not. Count budget 7
		// points: S1 only. Each budget 8.00: E1 and E2 (4.00 each); E3 earns nothing.
		want := map[string]map[string]view{
			cards[0]: {"OF-S": {1, 2500, false}, "OF-C": {1, 7, false}, "OF-E": {1, 400, false}},
			cards[1]: {"OF-S": {1, 2500, false}, "OF-C": {0, 0, true}, "OF-E": {1, 400, false}},
			cards[2]: {"OF-S": {0, 0, true}, "OF-C": {0, 0, true}},
		}
		for i, c := range cards {
			got := listed(c)
			if fmt.Sprint(got) != fmt.Sprint(want[c]) {
				t.Errorf("card %d lists %v, want %v", i, got, want[c])
			}
		}
		// The spend reward the budget holds back keeps its running totals.
		page, err := p.ListRewards(ctx, f.a, platform.ListRewardsParams{CardID: cards[2], CampaignID: "CMP-T"})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Rewards {
			if r.OfferID == "OF-S" && (r.EventCount != 1 || r.EventTotalAmount != 10000 || !strings.Contains(r.CalculateMessage, "budget is spent")) {
				t.Errorf("spend reward held by the budget: count %d total %d message %q; want 1, 10000 and the budget is spent",
					r.EventCount, r.EventTotalAmount, r.CalculateMessage)
			}
		}
	})
}

// An each reward whose purchase is refunded to below minAmount is voided: no longer listed,
// and showReward answers 3012. One refunded to exactly minAmount stays, recomputed.
func TestEachRefundedBelowMinAmountIsVoided(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		each := offer("OF-E", "each", map[string]any{"match": map[string]any{"minAmount": 100}})
		applyOffers(t, f.p, each)
		card := enrolledCards(t, f, 1)[0]
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		at := testNow.Add(time.Minute)
		buyAt(t, p, "A", card, "150", "5812", at)
		buyAt(t, p, "B", card, "160", "5812", at.Add(time.Second))
		ids, _ := listIDs(t, p, f.a, platform.ListRewardsParams{CardID: card})
		if len(ids) != 2 {
			t.Fatalf("rewards before the refunds: %v", ids)
		}
		refund := func(id, orig, amount string) platform.TxnInput {
			r := purchase(id, card, amount, at.Add(time.Minute))
			r.Type, r.OriginalTransactionID = "refund", orig
			return r
		}
		rev := refund("RB", "B", "60")
		rev.Type = "reversal"
		// A: 150.00 - 50.01 = 99.99 < 100.00. B: 160.00 - 60.00 = 100.00, exactly the minimum.
		if sum := ingest(t, p, []platform.TxnInput{refund("RA", "A", "50.01"), rev}); sum.Accepted != 2 {
			t.Fatalf("%+v", sum)
		}
		page, err := p.ListRewards(ctx, f.a, platform.ListRewardsParams{CardID: card})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 1 || page.Rewards[0].EventTotalAmount != 10000 || page.Rewards[0].CalculatedAmount != 1000 {
			t.Fatalf("after the refunds: %d rewards, first %+v; want B's only: 10%% of 100.00 = 10.00", page.Total, page.Rewards)
		}
		for _, id := range ids {
			if id == page.Rewards[0].ID {
				continue
			}
			if _, err := p.ShowReward(ctx, f.a, id); code(err) != vsrp.CodeRewardNotFound {
				t.Fatalf("showReward of the voided reward: %v, want 3012", err)
			}
		}
	})
}

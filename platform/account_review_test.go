package platform_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// liveRewards answers the campaign's rewards that are not voided, as operators see them.
func liveRewards(t *testing.T, st *store.Store) []*vsrp.Reward {
	t.Helper()
	rs, _, err := st.AdminRewards(context.Background(), store.AdminRewardQuery{CampaignID: "CMP-T", Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(rs, func(r *vsrp.Reward) bool { return r.Voided })
}

// describe is one line per live reward: offer, bill dates, unit owner, cards and amounts.
func describe(t *testing.T, st *store.Store) []string {
	t.Helper()
	var out []string
	for _, r := range liveRewards(t, st) {
		out = append(out, fmt.Sprintf("%s %s..%s vuid=%q cards=%d status=%d amount=%d n=%d total=%d", r.OfferID,
			r.Bill.StartDate, r.Bill.EndDate, r.AccountVuid, len(r.CardIDs), r.Status, r.CalculatedAmount, r.EventCount,
			r.EventTotalAmount))
	}
	slices.Sort(out)
	return out
}

// An account's each reward stored under the purchase's key alone (as rewards were before an
// account's each rewards were keyed apart from its cards') has the id the card's own reward of
// that purchase takes once the card leaves the account. Unbinding the card must work and leave
// the purchase one reward that pays, the card's own (no longer the account's), which a later
// refund recomputes.
func TestUnbindingCardOfLegacyAccountEachReward(t *testing.T) {
	for _, others := range []int{0, 1} {
		t.Run(fmt.Sprintf("the account keeps %d other cards", others), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, st *store.Store) {
				f := setup(t, st)
				ctx := context.Background()
				if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountCampaign(offer("OF-E", "each", nil)), false); err != nil {
					t.Fatal(err)
				}
				cards := enrolledCards(t, f, 1+others)
				vuid := bindAll(t, f, "account-user", cards...)
				p := newPlatformAt(t, st, testNow.Add(time.Hour))
				at := testNow.Add(time.Minute)
				ingest(t, p, []platform.TxnInput{purchase("A1", cards[0], "100", at)})
				giveLegacyEachID(t, st, "A1")
				if err := p.RemoveCard(ctx, f.a, vuid, cards[0]); err != nil {
					t.Fatalf("unbinding the card: %v", err)
				}
				own := `OF-E 2027-01-01..2027-01-31 vuid="" cards=1 status=1 amount=1000 n=1 total=10000`
				if got := describe(t, st); !slices.Equal(got, []string{own}) {
					t.Fatalf("after unbinding: %q\nwant the card's own reward only: %q", got, own)
				}
				r := purchase("A1R", cards[0], "40", at.Add(time.Minute))
				r.Type, r.OriginalTransactionID = "refund", "A1"
				if sum, err := p.Ingest(ctx, []platform.TxnInput{r}, 1); err != nil || sum.Accepted != 1 {
					t.Fatalf("refund after unbinding: %+v %v", sum, err)
				}
				own = `OF-E 2027-01-01..2027-01-31 vuid="" cards=1 status=1 amount=600 n=1 total=6000`
				if got := describe(t, st); !slices.Equal(got, []string{own}) {
					t.Fatalf("after the refund: %q\nwant %q", got, own)
				}
				page, err := p.ListRewards(ctx, f.a, platform.ListRewardsParams{Vuid: vuid})
				if err != nil || page.Total != 0 {
					t.Fatalf("the user's rewards after the card left: %+v %v; want none", page, err)
				}
			})
		})
	}
}

// A change of the campaign dates before any bill is generated recuts the first (or last)
// period: every reward of a purchase in it must then be on the recut period's bill, the
// one bill of the offer and period (contract 8: bills are one per offer per period; StartDate
// and EndDate are the period's first and last day). An each reward keeps its id (offer and
// purchase), so it is recomputed in place and must move to the new bill.
func TestCampaignDateChangeMovesOpenRewardsToTheRecutBill(t *testing.T) {
	withDates := func(start, end string, offers ...map[string]any) []byte {
		doc := string(rewardCampaign(offers...))
		doc = strings.Replace(doc, `"startDate":"2027-01-01"`, `"startDate":"`+start+`"`, 1)
		return []byte(strings.Replace(doc, `"endDate":"2027-12-31"`, `"endDate":"`+end+`"`, 1))
	}
	for _, c := range []struct {
		name, period, start, end, want string
	}{
		{"month: the start moves earlier", "month", "2027-01-01", "2027-12-31", "2027-01-01..2027-01-31"},
		{"campaign: the end moves earlier", "campaign", "2027-01-05", "2027-06-30", "2027-01-05..2027-06-30"},
	} {
		t.Run(c.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, st *store.Store) {
				f := setup(t, st)
				ctx := context.Background()
				billing := map[string]any{"period": c.period}
				each := offer("OF-E", "each", map[string]any{"billing": billing, "reward": map[string]any{"type": "Cash", "amount": 5}})
				spend := offer("OF-S", "spend", map[string]any{"billing": billing, "goal": map[string]any{"type": "spend", "threshold": 50},
					"reward": map[string]any{"type": "Cash", "amount": 7}})
				if _, err := f.p.ApplyCampaign(ctx, "CMP-T", withDates("2027-01-05", "2027-12-31", each, spend), false); err != nil {
					t.Fatal(err)
				}
				card := enrolledCards(t, f, 1)[0]
				p := newPlatformAt(t, st, time.Date(2027, 2, 20, 0, 0, 0, 0, time.UTC))
				ingest(t, p, []platform.TxnInput{purchase("A", card, "100", time.Date(2027, 1, 10, 13, 0, 0, 0, time.UTC))})
				if _, err := p.ApplyCampaign(ctx, "CMP-T", withDates(c.start, c.end, each, spend), false); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range liveRewards(t, st) {
					got = append(got, fmt.Sprintf("%s %s..%s", r.OfferID, r.Bill.StartDate, r.Bill.EndDate))
				}
				slices.Sort(got)
				want := []string{"OF-E " + c.want, "OF-S " + c.want}
				if !slices.Equal(got, want) {
					t.Fatalf("rewards on bills %q, want %q", got, want)
				}
			})
		})
	}
}

// accountOffers are an each offer (10%, at most 2 per account and month) and a spend offer
// (300.00 for 20.00) under account aggregation.
func accountOffers(limits map[string]any) []byte {
	each := offer("OF-E", "each", map[string]any{"limits": map[string]any{"perCardPerPeriod": 2}})
	spend := offer("OF-S", "spend", map[string]any{"goal": map[string]any{"type": "spend", "threshold": 300},
		"reward": map[string]any{"type": "Cash", "amount": 20}, "limits": limits})
	return accountCampaign(each, spend)
}

// refund is a refund of orig.
func refund(id, orig, card, amount string, at time.Time) platform.TxnInput {
	r := purchase(id, card, amount, at)
	r.Type, r.OriginalTransactionID = "refund", orig
	return r
}

// Contract 8: under account aggregation a spend reward sums the purchases of the account's
// cards; a refund of one card's purchase takes it back from the account's running totals (in
// full: eventCount no longer counts it), and the account's reward falls back to 0. Listed by
// either card, the reward is the account's, with both cards.
func TestAccountSpendRefundOfOneCard(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountSpendCampaign(), false); err != nil {
			t.Fatal(err)
		}
		cards := enrolledCards(t, f, 2)
		vuid := bindAll(t, f, "account-user", cards...)
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		at := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("A1", cards[0], "200", at), purchase("B1", cards[1], "150", at.Add(time.Second))})
		want := fmt.Sprintf(`OF-S 2027-01-01..2027-01-31 vuid=%q cards=2 status=1 amount=2000 n=2 total=35000`, vuid)
		if got := describe(t, st); !slices.Equal(got, []string{want}) {
			t.Fatalf("before the refund: %q, want %q", got, want)
		}
		for _, c := range cards {
			page, err := p.ListRewards(ctx, f.a, platform.ListRewardsParams{CardID: c})
			if err != nil || page.Total != 1 || !slices.Equal(page.Rewards[0].CardIDs, sortedCopy(cards)) {
				t.Fatalf("listed by card %s: %+v %v", c, page, err)
			}
		}
		ingest(t, p, []platform.TxnInput{refund("B1R", "B1", cards[1], "150", at.Add(time.Minute))})
		want = fmt.Sprintf(`OF-S 2027-01-01..2027-01-31 vuid=%q cards=2 status=0 amount=0 n=1 total=20000`, vuid)
		if got := describe(t, st); !slices.Equal(got, []string{want}) {
			t.Fatalf("after refunding the second card's purchase: %q, want %q", got, want)
		}
	})
}

// Contract 8: after bill generation nothing is taken back, and docs/decisions.md: binding and
// unbinding leave generated bills untouched. A card bound to the user after January's bills
// were generated leaves January's rewards (the account's and the card's own) exactly as
// generated, cards included; its February purchase counts in the account. Unbinding it again
// leaves them as well.
func TestBindingAfterGenerationLeavesGeneratedRewards(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountOffers(nil), false); err != nil {
			t.Fatal(err)
		}
		cards := enrolledCards(t, f, 2)
		vuid := bindAll(t, f, "account-user", cards[0])
		p := newPlatformAt(t, st, time.Date(2027, 2, 20, 0, 0, 0, 0, time.UTC))
		jan := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("A1", cards[0], "200", jan), purchase("B1", cards[1], "150", jan.Add(time.Second))})
		for _, offerID := range []string{"OF-E", "OF-S"} {
			for _, b := range mustBills(t, p) {
				if b.OfferID == offerID && b.StartDate == "2027-01-01" {
					if _, err := p.GenerateBill(ctx, b.ID, true); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		generated := describe(t, st)
		if len(generated) != 4 {
			t.Fatalf("January: %q", generated)
		}
		if err := p.AddCard(ctx, f.a, vuid, cards[1]); err != nil {
			t.Fatal(err)
		}
		if got := describe(t, st); !slices.Equal(got, generated) {
			t.Fatalf("after binding the second card:\ngot  %q\nwant %q (as generated)", got, generated)
		}
		feb := time.Date(2027, 2, 3, 4, 0, 0, 0, time.UTC)
		ingest(t, p, []platform.TxnInput{purchase("B2", cards[1], "300", feb), refund("B1R", "B1", cards[1], "150", feb)})
		wantFeb := append(slices.Clone(generated),
			fmt.Sprintf(`OF-E 2027-02-01..2027-02-28 vuid=%q cards=2 status=1 amount=3000 n=1 total=30000`, vuid),
			fmt.Sprintf(`OF-S 2027-02-01..2027-02-28 vuid=%q cards=2 status=1 amount=2000 n=1 total=30000`, vuid))
		slices.Sort(wantFeb)
		if got := describe(t, st); !slices.Equal(got, wantFeb) {
			t.Fatalf("after February's purchase and a refund of January's:\ngot  %q\nwant %q", got, wantFeb)
		}
		if err := p.RemoveCard(ctx, f.a, vuid, cards[1]); err != nil {
			t.Fatal(err)
		}
		wantFeb = append(slices.Clone(generated),
			`OF-E 2027-02-01..2027-02-28 vuid="" cards=1 status=1 amount=3000 n=1 total=30000`,
			`OF-S 2027-02-01..2027-02-28 vuid="" cards=1 status=1 amount=2000 n=1 total=30000`)
		slices.Sort(wantFeb)
		if got := describe(t, st); !slices.Equal(got, wantFeb) {
			t.Fatalf("after unbinding the second card:\ngot  %q\nwant %q", got, wantFeb)
		}
	})
}

func mustBills(t *testing.T, p *platform.Platform) []*store.BillSummary {
	t.Helper()
	bills, err := p.Bills(context.Background(), "CMP-T")
	if err != nil {
		t.Fatal(err)
	}
	return bills
}

// A card unbound from one user and bound to another of the same app leaves the first
// user's account and counts in the second's (contract 8: the account is the user to whom the
// card is bound): the first user lists no reward of it any more, the second the account's.
func TestUnbindThenBindToAnotherUser(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountOffers(nil), false); err != nil {
			t.Fatal(err)
		}
		cards := enrolledCards(t, f, 2)
		u1 := bindAll(t, f, "first-user", cards[0])
		u2 := bindAll(t, f, "second-user", cards[1])
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		at := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("A1", cards[0], "200", at), purchase("A2", cards[0], "10", at.Add(time.Second)),
			purchase("B1", cards[1], "150", at.Add(2*time.Second)), purchase("B2", cards[1], "20", at.Add(3*time.Second))})
		if err := p.RemoveCard(ctx, f.a, u1, cards[0]); err != nil {
			t.Fatal(err)
		}
		if err := p.AddCard(ctx, f.a, u2, cards[0]); err != nil {
			t.Fatal(err)
		}
		// One account of four purchases: the each offer pays the two earliest (A1, A2).
		want := []string{
			fmt.Sprintf(`OF-E 2027-01-01..2027-01-31 vuid=%q cards=2 status=1 amount=100 n=1 total=1000`, u2),
			fmt.Sprintf(`OF-E 2027-01-01..2027-01-31 vuid=%q cards=2 status=1 amount=2000 n=1 total=20000`, u2),
			fmt.Sprintf(`OF-S 2027-01-01..2027-01-31 vuid=%q cards=2 status=1 amount=2000 n=4 total=38000`, u2),
		}
		if got := describe(t, st); !slices.Equal(got, want) {
			t.Fatalf("after moving the card:\ngot  %q\nwant %q", got, want)
		}
		if page, err := p.ListRewards(ctx, f.a, platform.ListRewardsParams{Vuid: u1}); err != nil || page.Total != 0 {
			t.Fatalf("the first user's rewards: %+v %v, want none", page, err)
		}
		if page, err := p.ListRewards(ctx, f.a, platform.ListRewardsParams{Vuid: u2}); err != nil || page.Total != 3 {
			t.Fatalf("the second user's rewards: %+v %v, want 3", page, err)
		}
	})
}

// Contract 8: limits named perCard count per account, across periods too: an account that
// earned its one reward in January (bill generated) earns none in February, whichever card.
func TestAccountPerCardTotalAcrossPeriods(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		each := offer("OF-E", "each", map[string]any{"limits": map[string]any{"perCardTotal": 1}})
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountCampaign(each), false); err != nil {
			t.Fatal(err)
		}
		cards := enrolledCards(t, f, 2)
		bindAll(t, f, "account-user", cards...)
		p := newPlatformAt(t, st, time.Date(2027, 2, 20, 0, 0, 0, 0, time.UTC))
		ingest(t, p, []platform.TxnInput{purchase("A1", cards[0], "200", testNow.Add(time.Minute))})
		if _, err := p.GenerateBill(ctx, billStarting(t, p, "2027-01-01"), true); err != nil {
			t.Fatal(err)
		}
		ingest(t, p, []platform.TxnInput{purchase("B1", cards[1], "150", time.Date(2027, 2, 3, 4, 0, 0, 0, time.UTC))})
		if n := paying(t, st); n != 1 {
			t.Fatalf("%d paying rewards, want 1 (January's): the account's total is reached\n%v", n, rewardState(t, st))
		}
	})
}

// Contract 8: a reward that does not fit the budget is not granted, and the earliest earn
// wins. An account whose goal is met by two cards takes the budget before a later single card;
// unbinding a card so that the account no longer meets its goal frees the budget for it.
func TestAccountBudgetFollowsBinding(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountOffers(map[string]any{"budget": 20}), false); err != nil {
			t.Fatal(err)
		}
		cards := enrolledCards(t, f, 3)
		vuid := bindAll(t, f, "account-user", cards[:2]...)
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		at := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("A1", cards[0], "200", at), purchase("B1", cards[1], "150", at.Add(time.Second)),
			purchase("C1", cards[2], "300", at.Add(time.Minute))})
		spendPaying := func() []string {
			var out []string
			for _, r := range liveRewards(t, st) {
				if r.OfferID == "OF-S" && r.Status == 1 {
					out = append(out, fmt.Sprintf("vuid=%q total=%d", r.AccountVuid, r.EventTotalAmount))
				}
			}
			return out
		}
		if got, want := spendPaying(), []string{fmt.Sprintf("vuid=%q total=35000", vuid)}; !slices.Equal(got, want) {
			t.Fatalf("paying spend rewards: %q, want %q (the account's goal was met first)", got, want)
		}
		if err := p.RemoveCard(ctx, f.a, vuid, cards[1]); err != nil {
			t.Fatal(err)
		}
		if got, want := spendPaying(), []string{`vuid="" total=30000`}; !slices.Equal(got, want) {
			t.Fatalf("paying spend rewards after unbinding: %q, want %q (the third card's)", got, want)
		}
	})
}

// Contract 8: the account is the user to whom the card is bound in the app through which it
// was enrolled. Binding a card enrolled through app C to a user of app A, after its purchases,
// leaves it an account of its own; binding it to a user of C makes it that user's account.
func TestBindingInAnotherAppThanTheEnrollingOne(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		appC := otherApp(t, f)
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountSpendCampaign(), false); err != nil {
			t.Fatal(err)
		}
		mine := enrolledCards(t, f, 1)[0]
		e, _, err := f.p.Enroll(ctx, appC, pan("411111115900001"), "EG-R", nil)
		if err != nil {
			t.Fatal(err)
		}
		vuid := bindAll(t, f, "user", mine)
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		at := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("A1", mine, "200", at), purchase("C1", e.CardID, "150", at.Add(time.Second))})
		before := describe(t, st)
		if err := p.AddCard(ctx, f.a, vuid, e.CardID); err != nil {
			t.Fatal(err)
		}
		if got := describe(t, st); !slices.Equal(got, before) {
			t.Fatalf("after binding C's card in A:\ngot  %q\nwant %q (unchanged)", got, before)
		}
		uc, err := p.GetVuid(ctx, appC, "c-user")
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AddCard(ctx, appC, uc.Vuid, e.CardID); err != nil {
			t.Fatal(err)
		}
		want := []string{fmt.Sprintf(`OF-S 2027-01-01..2027-01-31 vuid=%q cards=1 status=0 amount=0 n=1 total=15000`, uc.Vuid),
			fmt.Sprintf(`OF-S 2027-01-01..2027-01-31 vuid=%q cards=1 status=0 amount=0 n=1 total=20000`, vuid)}
		slices.Sort(want)
		if got := describe(t, st); !slices.Equal(got, want) {
			t.Fatalf("after binding it in C:\ngot  %q\nwant %q", got, want)
		}
	})
}

// Contract 8: results do not depend on the order in which things arrive. Transactions dated
// after a card's binding give the same rewards whether they arrive after the binding or
// (dated up to 5 minutes ahead) before it.
func TestBindingAndTransactionsInEitherOrder(t *testing.T) {
	bindAt := testNow.Add(time.Hour)
	rows := func(cards []string) []platform.TxnInput {
		return []platform.TxnInput{purchase("A1", cards[0], "200", bindAt.Add(time.Minute)),
			purchase("B1", cards[1], "150", bindAt.Add(2*time.Minute)), purchase("B2", cards[1], "10", bindAt.Add(3*time.Minute)),
			purchase("C1", cards[2], "300", bindAt.Add(90*time.Second))}
	}
	run := func(t *testing.T, st *store.Store, bindFirst bool) []string {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountOffers(map[string]any{"budget": 20}), false); err != nil {
			t.Fatal(err)
		}
		cards := enrolledCards(t, f, 3)
		vuid := bindAll(t, f, "account-user", cards[0])
		bind := func() {
			if err := newPlatformAt(t, st, bindAt).AddCard(ctx, f.a, vuid, cards[1]); err != nil {
				t.Fatal(err)
			}
		}
		if bindFirst {
			bind()
			ingest(t, newPlatformAt(t, st, bindAt.Add(10*time.Minute)), rows(cards))
		} else {
			ingest(t, newPlatformAt(t, st, bindAt.Add(-time.Minute)), rows(cards))
			bind()
		}
		var out []string
		for _, s := range describe(t, st) {
			out = append(out, strings.Replace(s, vuid, "account", 1))
		}
		return out
	}
	var results [2][]string
	for i, name := range []string{"binding first", "transactions first"} {
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, st *store.Store) {
				got := run(t, st, i == 0)
				if results[i] == nil {
					results[i] = got
				} else if !slices.Equal(results[i], got) {
					t.Fatalf("the two databases differ: %q and %q", results[i], got)
				}
			})
		})
	}
	if !slices.Equal(results[0], results[1]) {
		t.Fatalf("binding first: %q\ntransactions first: %q", results[0], results[1])
	}
}

// A change of an offer's reward before its bill is generated reaches the rewards already given:
// their name, type, provider, code and claimRequired follow the offer as it is now, so that
// approval treats them as the offer now says (a reward that now needs a claim waits for it).
func TestRewardChangeBeforeGenerationReachesGivenRewards(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		applyOffers(t, f.p, offer("OF-E", "each", map[string]any{"name": "cash back",
			"reward": map[string]any{"type": "Cash", "amount": 5}}))
		cards := enrolledCards(t, f, 1)
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		ingest(t, p, []platform.TxnInput{purchase("T1", cards[0], "100", testNow.Add(time.Minute))})
		applyOffers(t, p, offer("OF-E", "each", map[string]any{"name": "coupon to claim", "reward": map[string]any{
			"type": "Coupon", "amount": 5, "provider": "Acme", "code": "C5", "claimRequired": true, "claimDays": 30}}))
		r := rewardOfCard(t, p, f.a, cards[0])
		if r.Name != "coupon to claim" || r.Type != "Coupon" || r.Provider != "Acme" || r.Code != "C5" || !r.ClaimRequired {
			t.Fatalf("reward after the change: name %q type %q provider %q code %q claimRequired %v; want the offer's new ones",
				r.Name, r.Type, r.Provider, r.Code, r.ClaimRequired)
		}
		generateAndApprove(t, p, r.Bill.ID)
		if r := rewardOfCard(t, p, f.a, cards[0]); r.Status != vsrp.RewardToSettle {
			t.Fatalf("after approval: status %d, want 2 (claimable: the offer now needs a claim)", r.Status)
		}
	})
}

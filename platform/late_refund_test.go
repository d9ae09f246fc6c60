package platform_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// lateRefundCase is an account campaign (accountOffers) with two enrolled cards, the first bound
// to the user (and the second too when both), a purchase of each in January (B1 of 350.00 on
// the second), and January's bills generated: janBills names them by offer.
type lateRefundCase struct {
	f        *fixture
	p        *platform.Platform
	cards    []string
	vuid     string
	janBills map[string]string
}

func newLateRefundCase(t *testing.T, st *store.Store, bindBoth bool) *lateRefundCase {
	t.Helper()
	c := &lateRefundCase{f: setup(t, st), janBills: map[string]string{}}
	ctx := context.Background()
	if _, err := c.f.p.ApplyCampaign(ctx, "CMP-T", accountOffers(nil), false); err != nil {
		t.Fatal(err)
	}
	c.cards = enrolledCards(t, c.f, 2)
	bound := c.cards[:1]
	if bindBoth {
		bound = c.cards
	}
	c.vuid = bindAll(t, c.f, "account-user", bound...)
	c.p = newPlatformAt(t, st, time.Date(2027, 2, 20, 0, 0, 0, 0, time.UTC))
	jan := testNow.Add(time.Minute)
	ingest(t, c.p, []platform.TxnInput{purchase("A1", c.cards[0], "200", jan), purchase("B1", c.cards[1], "350", jan.Add(time.Second))})
	for _, b := range mustBills(t, c.p) {
		if b.StartDate == "2027-01-01" {
			if _, err := c.p.GenerateBill(ctx, b.ID, true); err != nil {
				t.Fatal(err)
			}
			c.janBills[b.OfferID] = b.ID
		}
	}
	return c
}

// refundB1 ingests a February refund of B1 in full and checks that each January bill records
// it once, against want's reward of its offer.
func (c *lateRefundCase) refundB1(t *testing.T, st *store.Store, want map[string]string) {
	t.Helper()
	ingest(t, c.p, []platform.TxnInput{refund("B1R", "B1", c.cards[1], "350", time.Date(2027, 2, 3, 4, 0, 0, 0, time.UTC))})
	for offerID, billID := range c.janBills {
		b, err := st.BillByID(context.Background(), billID)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Adjustments) != 1 || b.Adjustments[0].TxnID != "B1R" || b.Adjustments[0].RewardID != want[offerID] ||
			b.Adjustments[0].Amount != 35000 {
			t.Errorf("%s January adjustments: %+v, want B1R of 35000 against %s", offerID, b.Adjustments, want[offerID])
		}
	}
}

// Contract 8: a refund arriving after its purchase's bill was generated is recorded as an
// adjustment on that bill, against the reward the purchase counted in. A card bound to a user
// after January was generated earned January's rewards as its own (not the account's); a
// refund of its January purchase arriving afterwards names those rewards, which operators find
// on the bill, not an account reward that January never had.
func TestLateRefundAfterBindingNamesTheCardsOwnReward(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		c := newLateRefundCase(t, st, false)
		own := map[string]string{} // the second card's own January rewards: one per offer, listing it alone
		for _, r := range liveRewards(t, st) {
			if r.Bill.StartDate == "2027-01-01" && slices.Equal(r.CardIDs, []string{c.cards[1]}) {
				own[r.OfferID] = r.ID
			}
		}
		if len(own) != 2 {
			t.Fatalf("the second card's own January rewards: %v", own)
		}
		if err := c.p.AddCard(context.Background(), c.f.a, c.vuid, c.cards[1]); err != nil {
			t.Fatal(err)
		}
		c.refundB1(t, st, own)
	})
}

// The other way round: a card in the account when January was generated, unbound since, had
// its January purchase counted in the account's rewards; a late refund of it names those.
func TestLateRefundAfterUnbindingNamesTheAccountsReward(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		c := newLateRefundCase(t, st, true)
		account := map[string]string{} // the account's January rewards that B1 counted in
		for _, r := range liveRewards(t, st) {
			if r.Bill.StartDate == "2027-01-01" && r.AccountVuid == c.vuid && (r.OfferID == "OF-S" || r.EventTotalAmount == 35000) {
				account[r.OfferID] = r.ID
			}
		}
		if len(account) != 2 {
			t.Fatalf("the account's January rewards of B1: %v", account)
		}
		if err := c.p.RemoveCard(context.Background(), c.f.a, c.vuid, c.cards[1]); err != nil {
			t.Fatal(err)
		}
		c.refundB1(t, st, account)
	})
}

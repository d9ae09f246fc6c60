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

// Contract 8: a refund arriving after its purchase's bill was generated is recorded as an
// adjustment on that bill, against the reward the purchase counted in. A card bound to a user
// after January was generated earned January's rewards as its own (not the account's); a
// refund of its January purchase arriving afterwards names those rewards, which operators find
// on the bill, not an account reward that January never had.
func TestLateRefundAfterBindingNamesTheCardsOwnReward(t *testing.T) {
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
		ingest(t, p, []platform.TxnInput{purchase("A1", cards[0], "200", jan), purchase("B1", cards[1], "350", jan.Add(time.Second))})
		janBills := map[string]string{} // offer → January's bill
		for _, b := range mustBills(t, p) {
			if b.StartDate == "2027-01-01" {
				if _, err := p.GenerateBill(ctx, b.ID, true); err != nil {
					t.Fatal(err)
				}
				janBills[b.OfferID] = b.ID
			}
		}
		// The card's own January rewards, as generated: one per offer, listing the card alone.
		own := map[string]string{}
		for _, r := range liveRewards(t, st) {
			if r.Bill.StartDate == "2027-01-01" && slices.Equal(r.CardIDs, []string{cards[1]}) {
				own[r.OfferID] = r.ID
			}
		}
		if len(own) != 2 {
			t.Fatalf("the second card's own January rewards: %v", own)
		}
		if err := p.AddCard(ctx, f.a, vuid, cards[1]); err != nil {
			t.Fatal(err)
		}
		ingest(t, p, []platform.TxnInput{refund("B1R", "B1", cards[1], "350", time.Date(2027, 2, 3, 4, 0, 0, 0, time.UTC))})
		for offerID, billID := range janBills {
			b, err := st.BillByID(ctx, billID)
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Adjustments) != 1 || b.Adjustments[0].TxnID != "B1R" || b.Adjustments[0].RewardID != own[offerID] ||
				b.Adjustments[0].Amount != 35000 {
				t.Errorf("%s January adjustments: %+v, want B1R of 35000 against %s", offerID, b.Adjustments, own[offerID])
			}
		}
	})
}

// The other way round: a card in the account when January was generated, unbound since, had
// its January purchase counted in the account's rewards; a late refund of it names those.
func TestLateRefundAfterUnbindingNamesTheAccountsReward(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountOffers(nil), false); err != nil {
			t.Fatal(err)
		}
		cards := enrolledCards(t, f, 2)
		vuid := bindAll(t, f, "account-user", cards...)
		p := newPlatformAt(t, st, time.Date(2027, 2, 20, 0, 0, 0, 0, time.UTC))
		jan := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("A1", cards[0], "200", jan), purchase("B1", cards[1], "350", jan.Add(time.Second))})
		janBills := map[string]string{}
		for _, b := range mustBills(t, p) {
			if b.StartDate == "2027-01-01" {
				if _, err := p.GenerateBill(ctx, b.ID, true); err != nil {
					t.Fatal(err)
				}
				janBills[b.OfferID] = b.ID
			}
		}
		// The account's January rewards that B1 counted in: the spend reward, and B1's each reward.
		account := map[string]string{}
		for _, r := range liveRewards(t, st) {
			if r.Bill.StartDate == "2027-01-01" && r.AccountVuid == vuid && (r.OfferID == "OF-S" || r.EventTotalAmount == 35000) {
				account[r.OfferID] = r.ID
			}
		}
		if len(account) != 2 {
			t.Fatalf("the account's January rewards of B1: %v", account)
		}
		if err := p.RemoveCard(ctx, f.a, vuid, cards[1]); err != nil {
			t.Fatal(err)
		}
		ingest(t, p, []platform.TxnInput{refund("B1R", "B1", cards[1], "350", time.Date(2027, 2, 3, 4, 0, 0, 0, time.UTC))})
		for offerID, billID := range janBills {
			b, err := st.BillByID(ctx, billID)
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Adjustments) != 1 || b.Adjustments[0].TxnID != "B1R" || b.Adjustments[0].RewardID != account[offerID] {
				t.Errorf("%s January adjustments: %+v, want B1R against %s", offerID, b.Adjustments, account[offerID])
			}
		}
	})
}

package platform_test

import (
	"context"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// Contract 8: a purchase counts when its card was enrolled at or before its transactionTime,
// and a transactionTime up to 5 minutes in the future is accepted. A purchase dated a few
// minutes ahead, ingested before the card enrolls but dated after the enrollment, counts once
// the card is enrolled: the card's later transactions (and its listRewards) show it.
func TestPurchaseDatedAfterEnrollmentIngestedBeforeIt(t *testing.T) {
	for _, goal := range []string{"each", "spend"} {
		t.Run(goal, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, st *store.Store) {
				f := setup(t, st)
				ctx := context.Background()
				o := offer("OF-"+goal, goal, nil)
				if goal == "spend" {
					o = offer("OF-spend", "spend", map[string]any{"goal": map[string]any{"type": "spend", "threshold": 300},
						"reward": map[string]any{"type": "Cash", "amount": 20}})
				}
				if _, err := f.p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(o), false); err != nil {
					t.Fatal(err)
				}
				card, err := f.p.CardInfo(ctx, f.a, pan("411111115000001"))
				if err != nil {
					t.Fatal(err)
				}
				// At testNow the feed sends a purchase dated 3 minutes ahead (allowed: at most 5).
				early := purchase("F1", card.ID, "200", testNow.Add(3*time.Minute))
				if sum := ingest(t, f.p, []platform.TxnInput{early}); sum.Accepted != 1 {
					t.Fatalf("ingest: %+v", sum)
				}
				// The card enrolls a minute later: before the purchase's time.
				later := newPlatformAt(t, st, testNow.Add(time.Minute))
				e, _, err := later.Enroll(ctx, f.a, card.ID, "EG-R", nil)
				if err != nil {
					t.Fatal(err)
				}
				if !e.CreatedAt.Before(testNow.Add(3 * time.Minute)) {
					t.Fatalf("enrolled at %v, not before the purchase", e.CreatedAt)
				}
				// A second purchase of the card, an hour later.
				p := newPlatformAt(t, st, testNow.Add(2*time.Hour))
				if sum := ingest(t, p, []platform.TxnInput{purchase("F2", card.ID, "150", testNow.Add(time.Hour))}); sum.Accepted != 1 {
					t.Fatalf("ingest: %+v", sum)
				}
				page, err := p.ListRewards(ctx, f.a, platform.ListRewardsParams{CardID: card.ID})
				if err != nil {
					t.Fatal(err)
				}
				var total, n int64
				for _, r := range page.Rewards {
					total += r.EventTotalAmount
					n += r.EventCount
				}
				if n != 2 || total != 35000 {
					t.Fatalf("rewards count %d purchases, %d in total; want both (350.00): the first is dated after the enrollment",
						n, total)
				}
			})
		})
	}
}

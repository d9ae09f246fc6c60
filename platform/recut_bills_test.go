package platform_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// Contract 8: an offer has one bill per billing period. When a change of the campaign's start
// date (before any bill was generated) makes January's period begin on another day, January's
// rewards go to the recut period's bill, and the bill of the period that no longer exists goes
// too: operators list one January bill per offer, its rewards all there (the voided ones
// included), and nothing is generated for the old period when its day comes.
func TestStartDateChangeLeavesOneBillPerPeriod(t *testing.T) {
	withStart := func(start string, offers ...map[string]any) []byte {
		return []byte(strings.Replace(string(rewardCampaign(offers...)), `"startDate":"2027-01-01"`, `"startDate":"`+start+`"`, 1))
	}
	for _, c := range []struct{ from, to string }{{"2027-01-05", "2027-01-01"}, {"2027-01-01", "2027-01-05"}} {
		t.Run(c.from+" to "+c.to, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, st *store.Store) {
				f := setup(t, st)
				ctx := context.Background()
				each := offer("OF-E", "each", map[string]any{"reward": map[string]any{"type": "Cash", "amount": 5}})
				spend := offer("OF-S", "spend", map[string]any{"goal": map[string]any{"type": "spend", "threshold": 50},
					"reward": map[string]any{"type": "Cash", "amount": 7}})
				if _, err := f.p.ApplyCampaign(ctx, "CMP-T", withStart(c.from, each, spend), false); err != nil {
					t.Fatal(err)
				}
				card := enrolledCards(t, f, 1)[0]
				p := newPlatformAt(t, st, time.Date(2027, 1, 20, 0, 0, 0, 0, time.UTC))
				ingest(t, p, []platform.TxnInput{purchase("A", card, "100", time.Date(2027, 1, 10, 13, 0, 0, 0, time.UTC))})
				if _, err := p.ApplyCampaign(ctx, "CMP-T", withStart(c.to, each, spend), false); err != nil {
					t.Fatal(err)
				}
				var got []string
				billIDs := map[string]bool{}
				for _, b := range mustBills(t, p) {
					got = append(got, fmt.Sprintf("%s %s..%s rewards=%d", b.OfferID, b.StartDate, b.EndDate, b.RewardCount))
					billIDs[b.ID] = true
				}
				slices.Sort(got)
				want := []string{"OF-E " + c.to + "..2027-01-31 rewards=1", "OF-S " + c.to + "..2027-01-31 rewards=1"}
				if !slices.Equal(got, want) {
					t.Fatalf("bills %q, want %q", got, want)
				}
				all, _, err := st.AdminRewards(ctx, store.AdminRewardQuery{CampaignID: "CMP-T", Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range all {
					if !billIDs[r.Bill.ID] {
						t.Errorf("reward %s (voided %v) on bill %s, which is not listed", r.ID, r.Voided, r.Bill.ID)
					}
				}
				// February: the due work generates January's bills, and only those.
				later := newPlatformAt(t, st, time.Date(2027, 2, 20, 0, 0, 0, 0, time.UTC))
				if err := later.RunDueWork(ctx); err != nil {
					t.Fatal(err)
				}
				if bills := mustBills(t, later); len(bills) != 2 || bills[0].Status == 0 || bills[1].Status == 0 {
					t.Fatalf("after the due work: %+v", bills)
				}
			})
		})
	}
}

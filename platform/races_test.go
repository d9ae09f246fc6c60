package platform_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// A bill generated (by another process) while a batch for it is being ingested: every purchase
// ends up either confirmed on the bill or recorded on it as an adjustment; none is left met but
// unconfirmed (the bill could never settle) or voided unseen. With and without a budget.
func TestGenerateDuringIngestOnPostgres(t *testing.T) {
	for _, limits := range []map[string]any{{}, {"budget": 1000000}} {
		t.Run(fmt.Sprint(limits), func(t *testing.T) {
			st := storetest.Open(t, store.Postgres)
			f := setup(t, st)
			ctx := context.Background()
			if _, err := f.p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(offer("OF-E", "each", map[string]any{"limits": limits})), false); err != nil {
				t.Fatal(err)
			}
			cards := enrolledCards(t, f, 50)
			after := time.Date(2027, 2, 20, 0, 0, 0, 0, time.UTC)
			p1, p2 := newPlatformAt(t, st, after), newPlatformAt(t, storetest.Reopen(t, st), after)
			at := time.Date(2027, 1, 20, 4, 0, 0, 0, time.UTC)
			ingest(t, p1, []platform.TxnInput{purchase("SEED", cards[0], "100", at)})
			bill := billStarting(t, p1, "2027-01-01")
			var rows []platform.TxnInput
			for i := range 3000 {
				rows = append(rows, purchase(fmt.Sprintf("T%d", i), cards[i%len(cards)], "100", at.Add(time.Duration(i)*time.Second)))
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				if _, err := p1.Ingest(ctx, rows, 1); err != nil {
					t.Error(err)
				}
			})
			wg.Go(func() {
				time.Sleep(150 * time.Millisecond) // while the batch is being evaluated
				if _, err := p2.GenerateBill(ctx, bill, true); err != nil {
					t.Error(err)
				}
			})
			wg.Wait()
			rs, _, err := st.AdminRewards(ctx, store.AdminRewardQuery{CampaignID: "CMP-T", Limit: 5000})
			if err != nil {
				t.Fatal(err)
			}
			confirmed, pending := 0, 0
			for _, r := range rs {
				switch {
				case r.Status == 1:
					pending++
				case r.Status == 2 && !r.Voided && r.ConfirmedAmount != nil && *r.ConfirmedAmount == r.CalculatedAmount:
					confirmed++
				}
			}
			b, err := st.BillByID(ctx, bill)
			if err != nil {
				t.Fatal(err)
			}
			if pending > 0 || confirmed+len(b.Adjustments) != 3001 {
				t.Fatalf("%d rewards met but unconfirmed (status 1), %d confirmed, %d adjustments: want every one of the 3,001 "+
					"purchases either confirmed on the bill or recorded on it as an adjustment", pending, confirmed, len(b.Adjustments))
			}
		})
	}
}

// Two refunds of 60.00 of one 100.00 purchase, ingested at once by two processes: one is
// rejected (together they would exceed the original).
func TestConcurrentRefundsOnPostgres(t *testing.T) {
	st := storetest.Open(t, store.Postgres)
	f := setup(t, st)
	ctx := context.Background()
	if _, err := f.p.ApplyCampaign(ctx, "CMP-T", rewardCampaign(offer("OF-E", "each", nil)), false); err != nil {
		t.Fatal(err)
	}
	card := enrolledCards(t, f, 1)[0]
	ps := []*platform.Platform{newPlatformAt(t, st, testNow.Add(time.Hour)), newPlatformAt(t, storetest.Reopen(t, st), testNow.Add(time.Hour))}
	at := testNow.Add(time.Minute)
	for trial := range 20 {
		orig := fmt.Sprintf("P%d", trial)
		ingest(t, ps[0], []platform.TxnInput{purchase(orig, card, "100", at)})
		accepted := make([]int, 2)
		var wg sync.WaitGroup
		for i, p := range ps {
			wg.Go(func() {
				r := purchase(fmt.Sprintf("R%d-%d", trial, i), card, "60", at.Add(time.Second))
				r.Type, r.OriginalTransactionID = "refund", orig
				s, err := p.Ingest(ctx, []platform.TxnInput{r}, 1)
				if err != nil {
					t.Error(err)
					return
				}
				accepted[i] = s.Accepted
			})
		}
		wg.Wait()
		if accepted[0]+accepted[1] != 1 {
			t.Fatalf("trial %d: %d of two refunds of 60.00 of a 100.00 purchase accepted, want 1", trial, accepted[0]+accepted[1])
		}
	}
}

// billStarting answers the id of CMP-T's bill that starts on the date.
func billStarting(t *testing.T, p *platform.Platform, date string) string {
	t.Helper()
	bills, err := p.Bills(context.Background(), "CMP-T")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bills {
		if b.StartDate == date {
			return b.ID
		}
	}
	t.Fatalf("no bill starts on %s", date)
	return ""
}

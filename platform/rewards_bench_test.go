package platform_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/storetest"
)

// BenchmarkListRewards lists one card's rewards (the first page, newest first, with the
// contract's visibility rules) from a database holding VSRP_BENCH_REWARDS rewards (default
// 100000; the figure uses 1000000) spread over 10 rewards per card, and reports the
// p99 latency.
//
//	VSRP_BENCH_REWARDS=1000000 go test -run=^$ -bench=ListRewards -benchtime=2000x ./platform/
func BenchmarkListRewards(b *testing.B) {
	total := 100000
	if v, err := strconv.Atoi(os.Getenv("VSRP_BENCH_REWARDS")); err == nil && v > 0 {
		total = v
	}
	st := storetest.Open(b, "sqlite")
	f := setup(b, st)
	if _, err := f.p.ApplyCampaign(context.Background(), "CMP-T", rewardCampaign(offer("OF-E", "each", nil)), false); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cards := total / 10
	db := st.DB()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	mustExec := func(q string, args ...any) {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			b.Fatal(err)
		}
	}
	base := testNow.UnixMicro()
	mustExec(`INSERT INTO bills (bill_id, campaign_id, offer_id, name, type, start_date, end_date, settlement_date, status, created_at)
		VALUES ('bill_b', 'CMP-T', 'OF-E', 'b', 'SYSTEM', '2027-01-01', '2027-01-31', '2027-02-01', 0, ?)`, base)
	for c := 0; c < cards; c++ {
		card := fmt.Sprintf("card_bench_%07d", c)
		mustExec(`INSERT INTO cards (card_id, pan_hash, pan_sealed, bin, last4, created_at) VALUES (?, ?, x'00', '41111111', '0000', ?)`,
			card, []byte(card), base)
		mustExec(`INSERT INTO enrollments (enrollment_id, group_id, campaign_id, card_id, app_id, created_at)
			VALUES (?, 'EG-R', 'CMP-T', ?, ?, ?)`, "enr_"+card, card, f.a.ID, base)
		for i := 0; i < 10; i++ {
			id := fmt.Sprintf("rw_%07d_%d", c, i)
			at := base + int64(c*10+i)
			mustExec(`INSERT INTO rewards (reward_id, bill_id, campaign_id, offer_id, status, name, type, provider, code, currency,
				calculated_amount, claim_required, created_at) VALUES (?, 'bill_b', 'CMP-T', 'OF-E', 1, 'n', 'Cash', 'p', 'c', 'CNY', 100, 0, ?)`, id, at)
			mustExec(`INSERT INTO reward_cards (card_id, created_at, reward_id) VALUES (?, ?, ?)`, card, at, id)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		card := fmt.Sprintf("card_bench_%07d", rng.IntN(cards))
		start := time.Now()
		page, err := f.p.ListRewards(ctx, f.a, platform.ListRewardsParams{CardID: card, Status: 0})
		lat = append(lat, time.Since(start))
		if err != nil || page.Total != 10 {
			b.Fatalf("listRewards: %v (total %v)", err, page)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}

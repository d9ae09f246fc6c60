package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// flowCampaign puts a campaign with one open group and one claim-required cash offer.
func (h *harness) flowCampaign(id string) {
	h.t.Helper()
	h.adminDo(http.MethodPut, "/admin/v1/campaigns/"+id, openCampaign(id, time.Now(), monthlyOffer("OF-"+id, map[string]any{}, each,
		map[string]any{"type": "Cash", "amount": 5, "claimRequired": true, "claimDays": 30})), http.StatusOK, nil)
}

// BenchmarkEnrollHTTP: encrypted enroll calls of new cards (by PAN) through the whole HTTP
// stack on every core; compare with BenchmarkRSADecryptBare.
func BenchmarkEnrollHTTP(b *testing.B) {
	h := start(b, discardLog)
	h.loadBINs()
	h.flowCampaign("CMP-BE")
	a := h.createApp(map[string]any{"campaignIds": []string{"CMP-BE"}})
	c := h.client(a)
	ctx := context.Background()
	if _, err := c.GetVuid(ctx, "warm-up"); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var out map[string]any
			card := pan("411111", int(n.Add(1)))
			if err := c.Call(ctx, "enroll", map[string]any{"cardId": card, "enrollmentGroupId": "EG-BE"}, &out); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

// BenchmarkClaimRewardHTTP: encrypted claimReward calls, each taking a different claimable
// reward, through the whole HTTP stack on every core. The rewards are made first (cards
// enrolled, one purchase each, bill generated and approved) and are not timed.
func BenchmarkClaimRewardHTTP(b *testing.B) {
	h := start(b, discardLog)
	h.loadBINs()
	h.flowCampaign("CMP-BC")
	a := h.createApp(map[string]any{"campaignIds": []string{"CMP-BC"}})
	c := h.client(a)
	ctx := context.Background()
	var txns []map[string]any
	for i := range b.N {
		var out struct{ EnrollmentID string }
		card := pan("411111", 500000+i)
		if err := c.Call(ctx, "enroll", map[string]any{"cardId": card, "enrollmentGroupId": "EG-BC"}, &out); err != nil {
			b.Fatal(err)
		}
		txns = append(txns, map[string]any{"transactionId": fmt.Sprintf("BC-%d", i), "type": "purchase", "pan": card, "amount": 10,
			"currency": "CNY", "transactionTime": time.Now().Add(time.Second).Format(time.RFC3339Nano), "merchantId": "M",
			"merchantName": "Shop", "mcc": "5812", "merchantCountry": "CN"})
	}
	h.clock.Advance(2 * time.Second)
	h.adminDo(http.MethodPost, "/admin/v1/transactions", txns, http.StatusOK, nil)
	var bills struct{ Bills []struct{ BillID string } }
	h.adminDo(http.MethodGet, "/admin/v1/bills?campaignId=CMP-BC", nil, http.StatusOK, &bills)
	id := bills.Bills[0].BillID
	h.adminDo(http.MethodPost, "/admin/v1/bills/"+id+"/generate", map[string]any{"force": true}, http.StatusOK, nil)
	h.adminDo(http.MethodPost, "/admin/v1/bills/"+id+"/approve", nil, http.StatusOK, nil)
	var rewards struct{ Rewards []struct{ RewardID string } }
	ids := make(chan string, b.N)
	for offset := 0; offset < b.N; offset += 500 {
		h.adminDo(http.MethodGet, fmt.Sprintf("/admin/v1/rewards?campaignId=CMP-BC&status=2&limit=500&offset=%d", offset), nil, http.StatusOK, &rewards)
		for _, r := range rewards.Rewards {
			ids <- r.RewardID
		}
	}
	close(ids)
	if len(ids) != b.N {
		b.Fatalf("%d claimable rewards, want %d", len(ids), b.N)
	}
	b.SetParallelism(2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var out map[string]any
			if err := c.Call(ctx, "claimReward", map[string]any{"rewardId": <-ids}, &out); err != nil {
				b.Errorf("claim: %v", err)
				return
			}
		}
	})
	reportRate(b)
}

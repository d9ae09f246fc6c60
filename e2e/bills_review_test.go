package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// Amounts go out with the digits of what they count: a JPY campaign's cash in whole yen, points
// in whole points, in RewardInfo and in the admin bills list (rewards and adjustments alike).
func TestAmountsInMinorDigitsOfTheirUnit(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.loadBINs()
	now := h.clock.Now()
	offer := func(id, mcc string, reward map[string]any) map[string]any {
		return monthlyOffer(id, map[string]any{"mcc": []string{mcc}}, each, reward)
	}
	doc := openCampaign("CMP-JPY", now, offer("OF-YEN", "5812", map[string]any{"type": "Cash", "percent": 10}),
		offer("OF-PT", "5499", map[string]any{"type": "Point", "percent": 1.5}))
	doc["timezone"], doc["currency"] = "Asia/Tokyo", "JPY"
	h.adminDo(http.MethodPut, "/admin/v1/campaigns/CMP-JPY", doc, http.StatusOK, nil)
	a := h.createApp(map[string]any{"campaignIds": []string{"CMP-JPY"}})
	c := h.client(a)
	ci, err := c.GetCardInfo(t.Context(), pan("411111", 91))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Call(t.Context(), "enroll", map[string]any{"cardId": ci.CardID, "enrollmentGroupId": "EG-JPY"}, nil); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	txn := func(id, typ, orig, mcc string, amount int) map[string]any {
		return map[string]any{"transactionId": id, "type": typ, "originalTransactionId": orig, "cardId": ci.CardID, "amount": amount,
			"currency": "JPY", "transactionTime": h.clock.Now().Add(-time.Second).Format(time.RFC3339), "merchantId": "M1",
			"merchantName": "Shop", "mcc": mcc, "merchantCountry": "JP"}
	}
	var sum struct{ Accepted int }
	h.adminDo(http.MethodPost, "/admin/v1/transactions", []map[string]any{txn("Y1", "purchase", "", "5812", 1235),
		txn("P1", "purchase", "", "5499", 2000)}, http.StatusOK, &sum)
	if sum.Accepted != 2 {
		t.Fatalf("ingest: %+v", sum)
	}
	list := callObject(t, c, "listRewards", map[string]any{"cardId": ci.CardID, "status": 0})
	rewards, _ := list["rewards"].([]any)
	got := map[string]map[string]json.Number{}
	for _, x := range rewards {
		r := x.(object)
		bill := r["bill"].(object)
		got[bill["offerId"].(string)] = map[string]json.Number{"calculatedAmount": r["calculatedAmount"].(json.Number),
			"eventTotalAmount": r["eventTotalAmount"].(json.Number)}
	}
	// 10% of ¥1235 is ¥123.5, half-even ¥124; 1.5% of ¥2000 is 30 points.
	want := map[string]map[string]json.Number{"OF-YEN": {"calculatedAmount": "124", "eventTotalAmount": "1235"},
		"OF-PT": {"calculatedAmount": "30", "eventTotalAmount": "2000"}}
	for o, w := range want {
		for k, v := range w {
			if got[o][k] != v {
				t.Errorf("%s %s: %q, want %q", o, k, got[o][k], v)
			}
		}
	}
	type billJSON struct {
		BillID      string      `json:"billId"`
		OfferID     string      `json:"offerId"`
		TotalAmount json.Number `json:"totalAmount"`
		RewardCount int         `json:"rewardCount"`
		Adjustments []struct {
			Amount json.Number `json:"amount"`
		} `json:"adjustments"`
	}
	bills := func() map[string]billJSON {
		raw := struct{ Bills []billJSON }{}
		h.adminDo(http.MethodGet, "/admin/v1/bills?campaignId=CMP-JPY", nil, http.StatusOK, &raw)
		out := map[string]billJSON{}
		for _, b := range raw.Bills {
			out[b.OfferID] = b
		}
		return out
	}
	bs := bills()
	if bs["OF-YEN"].TotalAmount != "124" || bs["OF-PT"].TotalAmount != "30" || bs["OF-YEN"].RewardCount != 1 {
		t.Errorf("bills: %+v, want totals 124 (yen) and 30 (points)", bs)
	}
	h.adminDo(http.MethodPost, "/admin/v1/bills/"+bs["OF-YEN"].BillID+"/generate", map[string]any{"force": true}, http.StatusOK, nil)
	h.clock.Advance(time.Minute)
	h.adminDo(http.MethodPost, "/admin/v1/transactions", []map[string]any{txn("Y1R", "refund", "Y1", "5812", 235)}, http.StatusOK, &sum)
	if adj := bills()["OF-YEN"].Adjustments; len(adj) != 1 || adj[0].Amount != "235" {
		t.Errorf("adjustments: %+v, want one of 235 (yen)", adj)
	}
}

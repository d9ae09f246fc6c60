package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A campaign is the same document in JSON and in YAML: applying one after the other changes
// nothing (YAML keeps no trailing zeros: 10.00 and 10 are the same amount).
func TestCampaignSameInJSONAndYAML(t *testing.T) {
	t.Parallel()
	h := start(t)
	put := func(ctype, doc string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPut, h.url+"/admin/v1/campaigns/CMP-FMT", strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+h.admin)
		req.Header.Set("Content-Type", ctype)
		resp, err := h.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	jsonDoc := `{"campaignId": "CMP-FMT", "name": "formats", "timezone": "Asia/Shanghai", "startDate": "2026-01-01",
		"endDate": "2027-12-31", "currency": "CNY", "aggregation": "card", "enrollmentGroups": [],
		"offers": [{"offerId": "OF-FMT", "name": "spend", "billing": {"period": "month"}, "match": {"minAmount": 10.00},
		"goal": {"type": "spend", "threshold": 1000000.00}, "reward": {"type": "Cash", "amount": 30.50},
		"limits": {"budget": 300000}}]}`
	yamlDoc := `campaignId: CMP-FMT
name: formats
timezone: Asia/Shanghai
startDate: 2026-01-01
endDate: 2027-12-31
currency: CNY
aggregation: card
enrollmentGroups: []
offers:
  - offerId: OF-FMT
    name: spend
    billing: {period: month}
    match: {minAmount: 10.00}
    goal: {type: spend, threshold: 1000000.00}
    reward: {type: Cash, amount: 30.50}
    limits: {budget: 300000}
`
	if status, body := put("application/json", jsonDoc); status != http.StatusOK || !strings.Contains(body, `"version":1`) {
		t.Fatalf("JSON: HTTP %d %s", status, body)
	}
	if status, body := put("application/yaml", yamlDoc); status != http.StatusOK || !strings.Contains(body, `"version":1`) ||
		!strings.Contains(body, `"changed":false`) {
		t.Fatalf("the same in YAML: HTTP %d %s, want version 1 unchanged", status, body)
	}
	if status, body := put("application/json", jsonDoc); status != http.StatusOK || !strings.Contains(body, `"changed":false`) {
		t.Fatalf("the JSON again: HTTP %d %s", status, body)
	}
}

package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// A campaign is the same document in JSON and in YAML: applying one after the other changes
// nothing (YAML keeps no trailing zeros: 10.00 and 10 are the same amount).
func TestCampaignSameInJSONAndYAML(t *testing.T) {
	t.Parallel()
	h := start(t)
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
	if status, body := h.adminRaw(http.MethodPut, "/admin/v1/campaigns/CMP-FMT", "application/json", jsonDoc); status != http.StatusOK || !strings.Contains(body, `"version":1`) {
		t.Fatalf("JSON: HTTP %d %s", status, body)
	}
	if status, body := h.adminRaw(http.MethodPut, "/admin/v1/campaigns/CMP-FMT", "application/yaml", yamlDoc); status != http.StatusOK || !strings.Contains(body, `"version":1`) ||
		!strings.Contains(body, `"changed":false`) {
		t.Fatalf("the same in YAML: HTTP %d %s, want version 1 unchanged", status, body)
	}
	if status, body := h.adminRaw(http.MethodPut, "/admin/v1/campaigns/CMP-FMT", "application/json", jsonDoc); status != http.StatusOK || !strings.Contains(body, `"changed":false`) {
		t.Fatalf("the JSON again: HTTP %d %s", status, body)
	}
}

package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// A UTF-8 byte-order mark in front of an admin body (as editors on Windows write it) is not
// part of the content: the body reads as it would without one.
func TestAdminBodiesWithByteOrderMark(t *testing.T) {
	t.Parallel()
	h := start(t)
	row := `{"transactionId":"B1","type":"purchase","cardId":"card_nope","amount":1,"currency":"CNY","transactionTime":"` +
		time.Now().UTC().Format(time.RFC3339) + `","merchantId":"M","merchantName":"S","mcc":"5812","merchantCountry":"CN"}`
	for _, c := range []struct{ ctype, body string }{
		{"application/x-ndjson", row + "\n"},
		{"application/json", "[" + row + "]"},
	} {
		status, body := h.adminRaw(http.MethodPost, "/admin/v1/transactions", c.ctype, "\ufeff"+c.body)
		if status != http.StatusOK || !strings.Contains(body, `"rejected":1`) || !strings.Contains(body, `"reason":"unknown card`) {
			t.Errorf("%s with a BOM: HTTP %d %s, want the row read (and rejected for its card)", c.ctype, status, body)
		}
	}
	day := time.Now().Format(time.DateOnly)
	yaml := "campaignId: CMP-BOM\nname: bom\ntimezone: Asia/Shanghai\nstartDate: " + day + "\nendDate: " + day +
		"\ncurrency: CNY\naggregation: card\nenrollmentGroups: []\noffers: []\n"
	status, body := h.adminRaw(http.MethodPut, "/admin/v1/campaigns/CMP-BOM", "application/yaml", "\ufeff"+yaml)
	if strings.Contains(body, "campaignId") && strings.Contains(body, "unknown field") {
		t.Fatalf("YAML with a BOM: HTTP %d %s: the mark was read as part of the first key", status, body)
	}
	if status, body := h.adminRaw(http.MethodGet, "/admin/v1/campaigns/CMP-BOM", "application/json", ""); status != http.StatusOK ||
		!strings.Contains(body, `"name":"bom"`) {
		t.Errorf("the campaign applied with a BOM: HTTP %d %s", status, body)
	}
}

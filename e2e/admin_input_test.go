package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// Bad query parameters and bodies of the admin API answer 400 with the parameter named,
// never an empty success or a silently ignored value.
func TestAdminBadInput(t *testing.T) {
	t.Parallel()
	h := start(t)
	for _, c := range []struct{ path, field string }{
		{"/admin/v1/rewards?status=99", "status"},
		{"/admin/v1/rewards?limit=abc", "limit"},
		{"/admin/v1/rewards?offset=-1", "offset"},
		{"/admin/v1/notifications?limit=abc", "limit"},
		{"/admin/v1/campaigns/CMP-X?version=0", "version"},
	} {
		if status, body := h.adminRaw(http.MethodGet, c.path, "application/json", ""); status != http.StatusBadRequest || !strings.Contains(body, `"field":"`+c.field+`"`) {
			t.Errorf("GET %s: HTTP %d %s, want 400 naming %s", c.path, status, body, c.field)
		}
	}
	if status, body := h.adminRaw(http.MethodPost, "/admin/v1/transactions", "application/json", `[] trailing`); status != http.StatusBadRequest ||
		!strings.Contains(body, "after the array") {
		t.Errorf("a JSON array with data after it: HTTP %d %s, want 400", status, body)
	}
}

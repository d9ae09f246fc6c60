package e2e

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/vsrp-dev/vsrp/server"
)

// adminSend calls the admin API and answers the status and the body.
func (h *harness) adminSend(method, path string, body any) (int, []byte) {
	h.t.Helper()
	buf, err := json.Marshal(body)
	if err != nil {
		h.t.Fatal(err)
	}
	status, raw := h.adminRaw(method, path, "application/json", string(buf))
	return status, []byte(raw)
}

// wantWhitelistRefused fails the test unless the answer is a 400 validation error (contract
// section 9) with a detail for the field ipWhitelist.
func wantWhitelistRefused(t *testing.T, what string, status int, raw []byte) {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Details []struct {
				Field  string `json:"field"`
				Reason string `json:"reason"`
			} `json:"details"`
		} `json:"error"`
	}
	if status != http.StatusBadRequest || json.Unmarshal(raw, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("%s: HTTP %d %s, want 400 in the admin error format", what, status, raw)
	}
	for _, d := range e.Error.Details {
		if d.Field == "ipWhitelist" && d.Reason != "" {
			return
		}
	}
	t.Fatalf("%s: %s, want a detail for ipWhitelist", what, raw)
}

// Contract 4.3: an empty IP whitelist is for sandbox mode only. Outside it the admin API
// refuses to create an app without one or to patch one to empty.
func TestEmptyWhitelistRefusedOutsideSandbox(t *testing.T) {
	t.Parallel()
	h := start(t)
	status, raw := h.adminSend(http.MethodPost, "/admin/v1/apps", map[string]any{"name": "no whitelist", "scopes": []string{"user"}})
	wantWhitelistRefused(t, "create without ipWhitelist", status, raw)
	status, raw = h.adminSend(http.MethodPost, "/admin/v1/apps", map[string]any{"name": "empty whitelist", "ipWhitelist": []string{}})
	wantWhitelistRefused(t, "create with an empty ipWhitelist", status, raw)

	a := h.createApp(nil)
	status, raw = h.adminSend(http.MethodPatch, "/admin/v1/apps/"+a.AppID, map[string]any{"ipWhitelist": []string{}})
	wantWhitelistRefused(t, "patch to an empty ipWhitelist", status, raw)
	h.patchApp(a.AppID, map[string]any{"name": "renamed"}) // a patch that leaves the whitelist alone
	if _, err := h.client(a).GetVuid(t.Context(), "u1"); err != nil {
		t.Fatalf("getVuid after the refused patch: %v", err)
	}
}

// In sandbox mode an app may have an empty whitelist, at creation and by a patch.
func TestEmptyWhitelistAllowedInSandbox(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *server.Config) { c.Sandbox = true })
	a := h.createApp(map[string]any{"ipWhitelist": []string{}})
	b := h.createApp(nil)
	h.patchApp(b.AppID, map[string]any{"ipWhitelist": []string{}})
	var got struct {
		IPWhitelist []string `json:"ipWhitelist"`
	}
	for _, id := range []string{a.AppID, b.AppID} {
		h.adminDo(http.MethodGet, "/admin/v1/apps/"+id, nil, http.StatusOK, &got)
		if len(got.IPWhitelist) != 0 {
			t.Errorf("app %s: whitelist %v, want empty", id, got.IPWhitelist)
		}
	}
}

package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// These tests look at the App API from the outside as a second partner app would: another
// app's vuid, cardId, enrollment and rewardId in every call that takes one, scopes, tokens of a
// disabled app, and what reaches the server's log and the answers.

// checkLogClean fails the test for every log line of the server that holds one of never, or
// a Luhn-valid run of 16 digits.
func checkLogClean(t *testing.T, h *harness, never ...string) {
	t.Helper()
	for i, line := range strings.Split(strings.TrimRight(h.log.String(), "\n"), "\n") {
		if run := luhnRun(line); run != "" {
			t.Errorf("log line %d holds a Luhn-valid 16-digit run %s: %.300s", i+1, run, line)
		}
		for _, s := range never {
			if s != "" && strings.Contains(line, s) {
				t.Errorf("log line %d holds %.24q…: %.300s", i+1, s, line)
			}
		}
	}
}

// TestClientRequestIDIsNotAPANInTheLog: the server echoes a client's well-formed X-Request-Id
// and puts it on every log line of the request. A partner that uses a card number or a phone
// number as its request id (an order reference, the auid) must not get it written to the log:
// the log holds no PAN and no phone number, whatever the client sends (the same rule that masks
// card numbers in a URL path).
func TestClientRequestIDIsNotAPANInTheLog(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	for _, id := range []string{"4111111111111111", "4111-1111-1111-1111", "008618612345678", "order-4242424242424242"} {
		ans := h.raw(http.MethodPost, "/api/v1/auth/getToken", map[string]string{"X-Request-Id": id},
			mustJSON(map[string]string{"appId": a.AppID, "appSecret": a.AppSecret}))
		if ans.Code != 0 {
			t.Fatalf("getToken: code %d", ans.Code)
		}
		if got := ans.Header.Get("X-Request-Id"); got == "" || strings.Contains(got, strings.Trim(id, "order-")) {
			t.Errorf("request id %q: answered X-Request-Id %q, which holds the number", id, got)
		}
	}
	// An ordinary client id is still echoed.
	ans := h.raw(http.MethodPost, "/api/v1/auth/getToken", map[string]string{"X-Request-Id": "req-2026.abc_42"},
		mustJSON(map[string]string{"appId": a.AppID, "appSecret": a.AppSecret}))
	if got := ans.Header.Get("X-Request-Id"); got != "req-2026.abc_42" {
		t.Errorf("a well-formed request id without a number in it: answered %q", got)
	}
	checkLogClean(t, h, "4111111111111111", "4111-1111-1111-1111", "8618612345678", a.AppSecret)
}

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vsrp-dev/vsrp/client"
)

// TestLogsHoldNoPersonalData runs a full scenario — cards by PAN, addCard by PAN, phone-number
// auids, bad PANs — with the server's log in a buffer, then reads every line: each must be
// JSON, request lines must carry a request_id, and no line may hold a Luhn-valid run of 16
// digits, a PAN or auid of the scenario, a secret or a token.
func TestLogsHoldNoPersonalData(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.loadBINs()
	a := h.createApp(nil)
	c := h.client(a, client.WithLanguage("zh-CN"))
	ctx := context.Background()

	auids := []string{"008618612345678", "008613912345678", "+8618700001111", "0085291234567"}
	pans := []string{"4111111111111111", "4242424242424242", pan("424242", 123456), pan("411111", 987654)}
	badPANs := []string{"4111111111111112", "4000000000000002", "5555555555554444", "411111111111111", "4242 4242 4242 4242"}
	secrets := []string{a.AppSecret, a.WebhookSecret}

	var vuids []string
	for _, auid := range auids {
		v, err := c.GetVuid(ctx, auid)
		if err != nil {
			t.Fatal(err)
		}
		vuids = append(vuids, v.Vuid)
	}
	for i, p := range pans {
		if _, err := c.GetCardInfo(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := c.AddCard(ctx, vuids[i%len(vuids)], p); err != nil {
			t.Fatal(err)
		}
	}
	// Binding a card to a second user, by PAN: 3004.
	wantCode(t, "addCard to a second user", c.AddCard(ctx, vuids[1], pans[0]), client.CodeCardBound)
	for _, p := range badPANs {
		if _, err := c.GetCardInfo(ctx, p); err == nil {
			t.Errorf("getCardInfo %s succeeded", p)
		}
		if err := c.AddCard(ctx, vuids[0], p); err == nil {
			t.Errorf("addCard %s succeeded", p)
		}
	}
	// PANs and auids where they do not belong: in the wrong field, with the wrong type, as an
	// unknown vuid or cardId.
	_ = c.Call(ctx, "getCardInfo", map[string]any{"pan": 4111111111111111}, nil)
	_ = c.Call(ctx, "addCard", map[string]any{"vuid": pans[1], "cardId": pans[1]}, nil)
	_ = c.Call(ctx, "listCards", map[string]any{"vuid": auids[0]}, nil)
	_ = c.Call(ctx, "removeCard", map[string]any{"vuid": vuids[0], "cardId": pans[2]}, nil)
	_ = c.Call(ctx, "getVuid", map[string]any{"auid": auids[1] + "\n"}, nil)
	if _, err := c.GetVuid(ctx, pans[3]); err != nil { // an app may use anything as auid
		t.Fatal(err)
	}
	for i, p := range pans {
		if err := c.RemoveCard(ctx, vuids[i%len(vuids)], p); err != nil {
			t.Fatal(err)
		}
	}
	// Tokens: a refresh and a reuse, whose warning must not show the token either.
	tk := h.getToken(a)
	if code, _ := h.refresh(tk.RefreshToken); code != 0 {
		t.Fatalf("refresh: %d", code)
	}
	h.refresh(tk.RefreshToken)
	secrets = append(secrets, tk.AccessToken, tk.RefreshToken)
	if access, err := c.AccessToken(ctx); err == nil {
		secrets = append(secrets, access)
	}
	h.raw(http.MethodPost, "/api/v1/auth/getToken", nil, mustJSON(map[string]string{"appId": a.AppID, "appSecret": a.AppSecret + "x"}))
	// The fields swapped, and a PAN as appId: what a failed getToken sent as appId is not logged.
	h.raw(http.MethodPost, "/api/v1/auth/getToken", nil, mustJSON(map[string]string{"appId": a.AppSecret, "appSecret": a.AppID}))
	h.raw(http.MethodPost, "/api/v1/auth/getToken", nil, mustJSON(map[string]string{"appId": pans[0], "appSecret": "x"}))

	checkDatabaseFiles(t, h, append(append(append(append([]string{}, pans...), auids...), badPANs...), secrets...))

	logText := h.log.String()
	lines := strings.Split(strings.TrimRight(logText, "\n"), "\n")
	requests := 0
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line %d is not JSON: %v: %.200s", i+1, err, line)
			continue
		}
		if rec["msg"] == "request" {
			requests++
			if id, _ := rec["request_id"].(string); id == "" {
				t.Errorf("request log line %d has no request_id: %.300s", i+1, line)
			}
			for _, k := range []string{"method", "path", "status", "duration_ms"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("request log line %d has no %s: %.300s", i+1, k, line)
				}
			}
		}
		if run := luhnRun(line); run != "" {
			t.Errorf("log line %d holds a Luhn-valid 16-digit run %s: %.300s", i+1, run, line)
		}
		for _, s := range append(append(append([]string{}, pans...), badPANs...), auids...) {
			if strings.Contains(line, s) || strings.Contains(line, strings.TrimLeft(s, "0+")) {
				t.Errorf("log line %d holds %q: %.300s", i+1, s, line)
			}
		}
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("log line %d holds a secret or token: %.300s", i+1, line)
			}
		}
	}
	if requests < 40 {
		t.Errorf("only %d request lines in the log: is the access log on?", requests)
	}
}

// luhnRun answers the first 16-digit window of a run of digits in s that passes the Luhn
// check, or "".
func luhnRun(s string) string {
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		for k := i; k+16 <= j; k++ {
			if luhnValid(s[k : k+16]) {
				return s[k : k+16]
			}
		}
		i = j
	}
	return ""
}

func TestLuhnRun(t *testing.T) {
	for s, want := range map[string]string{
		`{"pan":"4111111111111111"}`:     "4111111111111111",
		`x 14111111111111111 y`:          "4111111111111111",
		`4111111111111112`:               "",
		`2026-12-04T21:03:05.123456789Z`: "",
		`411111111111111`:                "",
	} {
		if got := luhnRun(s); got != want {
			t.Errorf("luhnRun(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestUnknownPathWithPANIsNotLogged: a partner that puts a card number in the URL by mistake
// (an unknown path) must not get it written to the access log.
func TestUnknownPathWithPANIsNotLogged(t *testing.T) {
	t.Parallel()
	h := start(t)
	const p = "4111111111111111"
	h.raw(http.MethodPost, "/api/v1/user/getCardInfo/"+p, nil, []byte(`{}`))
	h.raw(http.MethodGet, "/api/v1/cards/"+p, nil, nil)
	for i, line := range strings.Split(h.log.String(), "\n") {
		if strings.Contains(line, p) {
			t.Errorf("log line %d holds the PAN from the URL path: %.300s", i+1, line)
		}
	}
}

// checkDatabaseFiles reads the SQLite database's files (with its WAL) as bytes: a copy of them
// must hold none of the given PANs, auids, secrets or tokens, and no Luhn-valid 16-digit run;
// the master key file beside them must be readable by its owner only.
func checkDatabaseFiles(t *testing.T, h *harness, never []string) {
	t.Helper()
	files, err := filepath.Glob(h.db + "*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no database files at %s: %v", h.db, err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".key") {
			if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("master key file %s: %v, mode %v, want 0600", f, err, fi.Mode().Perm())
			}
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range never {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("database file %s holds %.24q… in clear", filepath.Base(f), s)
			}
		}
		if run := luhnRun(string(b)); run != "" {
			t.Errorf("database file %s holds a Luhn-valid 16-digit run %s", filepath.Base(f), run)
		}
	}
}

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/client"
	"github.com/vsrp-dev/vsrp/server"
)

// TestGetTokenAnswer checks getToken's literal names, lifetimes and token entropy.
func TestGetTokenAnswer(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	before := h.clock.Now()
	tk := h.getToken(a)
	if len(tk.AccessToken) < 43 || len(tk.RefreshToken) < 43 || tk.AccessToken == tk.RefreshToken {
		t.Errorf("tokens %q and %q: want two different tokens of at least 256 bits", tk.AccessToken, tk.RefreshToken)
	}
	if tk.RefereshToken != tk.RefreshToken {
		t.Errorf("refereshToken %q differs from refreshToken %q", tk.RefereshToken, tk.RefreshToken)
	}
	if tk.Scope != "user enroll reward" {
		t.Errorf("scope %q", tk.Scope)
	}
	for _, f := range []struct {
		name string
		v    string
		ttl  time.Duration
	}{{"accessTokenExpiredAt", tk.AccessTokenExpiredAt, 15 * time.Minute}, {"refreshTokenExpiredAt", tk.RefreshTokenExpiredAt, 2 * time.Hour}} {
		exp, err := time.Parse(time.RFC3339, f.v)
		if err != nil {
			t.Errorf("%s %q: %v", f.name, f.v, err)
			continue
		}
		inShanghai(t, f.name, exp)
		if d := exp.Sub(before); d < f.ttl-5*time.Second || d > f.ttl+5*time.Second {
			t.Errorf("%s is %v from now, want %v", f.name, d, f.ttl)
		}
	}
	// refreshToken also takes the source document's spelling of the field.
	ans := h.raw(http.MethodPost, "/api/v1/auth/refreshToken", nil, mustJSON(map[string]string{"refereshToken": tk.RefreshToken}))
	if ans.Code != 0 {
		t.Errorf("refreshToken with refereshToken: code %d", ans.Code)
	}
	// A second getToken does not revoke the first.
	tk2 := h.getToken(a)
	env := map[string]any{"appId": a.AppID, "encryptedData": seal(t, a.PublicKeyPEM, map[string]string{"auid": "x"})}
	for i, access := range []string{tk.AccessToken, tk2.AccessToken} {
		if ans := h.userCall("getVuid", access, env); ans.Code != 0 {
			t.Errorf("token %d: code %d", i, ans.Code)
		}
	}
}

func TestGetTokenErrors(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	tests := []struct {
		name string
		body string
		want int
	}{
		{"wrong secret", fmt.Sprintf(`{"appId":%q,"appSecret":"wrong"}`, a.AppID), client.CodeBadCredentials},
		{"unknown appId", `{"appId":"app_nobody","appSecret":"whatever"}`, client.CodeBadCredentials},
		{"secret missing", fmt.Sprintf(`{"appId":%q}`, a.AppID), client.CodeMissingParam},
		{"not JSON", `appId=x`, client.CodeMalformed},
		{"array", `[]`, client.CodeMalformed},
	}
	for _, tt := range tests {
		ans := h.raw(http.MethodPost, "/api/v1/auth/getToken", nil, []byte(tt.body))
		if ans.Code != tt.want || ans.Status != http.StatusOK {
			t.Errorf("%s: HTTP %d code %d, want 200 and %d", tt.name, ans.Status, ans.Code, tt.want)
		}
	}
	bad := *a
	bad.AppSecret = "not-the-secret"
	_, err := h.client(&bad).GetVuid(context.Background(), "x")
	wantCode(t, "client with a wrong secret", err, client.CodeBadCredentials)
}

// TestBearerTokenErrors: 2002 for missing, unknown or wrong-kind tokens; 2003 once expired,
// which the client gets over by itself; 2005 for an expired refresh token.
func TestBearerTokenErrors(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	env := map[string]any{"appId": a.AppID, "encryptedData": seal(t, a.PublicKeyPEM, map[string]string{"auid": "008618600000004"})}
	tk := h.getToken(a)
	for name, access := range map[string]string{"no token": "", "unknown token": "not-a-token", "refresh token as bearer": tk.RefreshToken} {
		if ans := h.userCall("getVuid", access, env); ans.Code != client.CodeTokenInvalid || ans.Status != http.StatusOK {
			t.Errorf("%s: HTTP %d code %d, want 200 and 2002", name, ans.Status, ans.Code)
		}
	}
	ans := h.raw(http.MethodPost, "/api/v1/user/getVuid", map[string]string{"Authorization": "Basic " + tk.AccessToken}, mustJSON(env))
	if ans.Code != client.CodeTokenInvalid {
		t.Errorf("Basic instead of Bearer: code %d, want 2002", ans.Code)
	}

	c := h.client(a) // its clock is the real one: it will not see the expiry coming
	ctx := context.Background()
	first, err := c.GetVuid(ctx, "008618600000004")
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(16 * time.Minute)
	if ans := h.userCall("getVuid", tk.AccessToken, env); ans.Code != client.CodeTokenExpired {
		t.Errorf("expired access token: code %d, want 2003", ans.Code)
	}
	again, err := c.GetVuid(ctx, "008618600000004")
	if err != nil || again.Vuid != first.Vuid {
		t.Errorf("client after its token expired on the server: %+v %v (want it to refresh and retry)", again, err)
	}
	h.clock.Advance(2 * time.Hour)
	if code, _ := h.refresh(tk.RefreshToken); code != client.CodeRefreshExpired {
		t.Errorf("expired refresh token: code %d, want 2005", code)
	}
	if code, _ := h.refresh("not-a-token"); code != client.CodeRefreshInvalid {
		t.Errorf("unknown refresh token: code %d, want 2004", code)
	}
	if code, _ := h.refresh(tk.AccessToken); code != client.CodeRefreshInvalid {
		t.Errorf("access token as refresh token: code %d, want 2004", code)
	}
	// Both of the client's tokens are now expired: it falls back to getToken.
	if again, err := c.GetVuid(ctx, "008618600000004"); err != nil || again.Vuid != first.Vuid {
		t.Errorf("client after both tokens expired: %+v %v", again, err)
	}
}

// TestBearerSchemeIsCaseInsensitive: "bearer" and "BEARER" name the same scheme as
// "Bearer" (RFC 7235 section 2.1, RFC 6750): some HTTP libraries write it in lower case.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	tk := h.getToken(a)
	env := mustJSON(map[string]any{"appId": a.AppID, "encryptedData": seal(t, a.PublicKeyPEM, map[string]string{"auid": "x"})})
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		ans := h.raw(http.MethodPost, "/api/v1/user/getVuid", map[string]string{"Authorization": scheme + " " + tk.AccessToken}, env)
		if ans.Code != 0 {
			t.Errorf("Authorization scheme %q: code %d, want 0", scheme, ans.Code)
		}
	}
}

// TestIPWhitelist: 2006 from an address outside the whitelist, for getToken, refreshToken and
// business calls, and X-Forwarded-For is ignored from untrusted peers.
func TestIPWhitelist(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := context.Background()

	elsewhere := h.createApp(map[string]any{"ipWhitelist": []string{"10.0.0.0/8", "2001:db8::/32"}})
	_, err := h.client(elsewhere).GetVuid(ctx, "x")
	wantCode(t, "client of an app whose whitelist excludes 127.0.0.1", err, client.CodeIPDenied)
	ans := h.raw(http.MethodPost, "/api/v1/auth/getToken", map[string]string{"X-Forwarded-For": "10.1.2.3"},
		mustJSON(map[string]string{"appId": elsewhere.AppID, "appSecret": elsewhere.AppSecret}))
	if ans.Code != client.CodeIPDenied {
		t.Errorf("X-Forwarded-For from an untrusted peer was believed: code %d, want 2006", ans.Code)
	}
	ans = h.raw(http.MethodPost, "/api/v1/auth/getToken", nil, mustJSON(map[string]string{"appId": elsewhere.AppID, "appSecret": "wrong"}))
	if ans.Code != client.CodeIPDenied {
		t.Errorf("wrong secret from outside the whitelist: code %d, want 2006 (checked before the secret)", ans.Code)
	}

	v6only := h.createApp(map[string]any{"ipWhitelist": []string{"::1"}})
	_, err = h.client(v6only).GetVuid(ctx, "x")
	wantCode(t, "IPv6-only whitelist called over IPv4", err, client.CodeIPDenied)

	// Tokens issued inside the whitelist stop working when the whitelist changes.
	moved := h.createApp(nil)
	c := h.client(moved)
	if _, err := c.GetVuid(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	tk := h.getToken(moved)
	h.patchApp(moved.AppID, map[string]any{"ipWhitelist": []string{"192.0.2.0/24"}})
	_, err = c.GetVuid(ctx, "x")
	wantCode(t, "existing token after the whitelist changed", err, client.CodeIPDenied)
	if code, _ := h.refresh(tk.RefreshToken); code != client.CodeIPDenied {
		t.Errorf("refreshToken from outside the whitelist: code %d, want 2006", code)
	}
}

// TestTrustedProxy: behind a trusted proxy the right-most untrusted X-Forwarded-For address
// is the client.
func TestTrustedProxy(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *server.Config) { c.TrustedProxies = []string{"127.0.0.1/32"} })
	a := h.createApp(map[string]any{"ipWhitelist": []string{"203.0.113.0/24"}})
	body := mustJSON(map[string]string{"appId": a.AppID, "appSecret": a.AppSecret})
	for _, tt := range []struct {
		xff  string
		want int
	}{
		{"203.0.113.9", 0},
		{"198.51.100.1, 203.0.113.9", 0},
		{"203.0.113.9, 198.51.100.1", client.CodeIPDenied},
		{"", client.CodeIPDenied},
	} {
		hdr := map[string]string{}
		if tt.xff != "" {
			hdr["X-Forwarded-For"] = tt.xff
		}
		if ans := h.raw(http.MethodPost, "/api/v1/auth/getToken", hdr, body); ans.Code != tt.want {
			t.Errorf("X-Forwarded-For %q: code %d, want %d", tt.xff, ans.Code, tt.want)
		}
	}
	// A hop that cannot be read hides the client: it is not taken for the proxy itself, even
	// for an app whose whitelist holds the proxy's address.
	local := h.createApp(map[string]any{"ipWhitelist": []string{"127.0.0.1/32"}})
	hdr := map[string]string{"X-Forwarded-For": "198.51.100.1:4444"}
	if ans := h.raw(http.MethodPost, "/api/v1/auth/getToken", hdr, mustJSON(map[string]string{"appId": local.AppID,
		"appSecret": local.AppSecret})); ans.Code != client.CodeIPDenied {
		t.Errorf("an unreadable X-Forwarded-For hop: code %d, want 2006", ans.Code)
	}
}

// TestDisabledApp: 2008 for getToken and for tokens issued before.
func TestDisabledApp(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	c := h.client(a)
	ctx := context.Background()
	if _, err := c.GetVuid(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	h.patchApp(a.AppID, map[string]any{"enabled": false})
	_, err := c.GetVuid(ctx, "x")
	wantCode(t, "call of a disabled app", err, client.CodeAppDisabled)
	ans := h.raw(http.MethodPost, "/api/v1/auth/getToken", nil, mustJSON(map[string]string{"appId": a.AppID, "appSecret": a.AppSecret}))
	if ans.Code != client.CodeAppDisabled {
		t.Errorf("getToken of a disabled app: code %d, want 2008", ans.Code)
	}
	h.patchApp(a.AppID, map[string]any{"enabled": true})
	if _, err := c.GetVuid(ctx, "x"); err != nil {
		t.Errorf("after re-enabling: %v", err)
	}
}

// TestEnvelopeAppIDMismatch: the envelope's appId must be the token's app (2010).
func TestEnvelopeAppIDMismatch(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	tk := h.getToken(a)
	data := seal(t, a.PublicKeyPEM, map[string]string{"auid": "x"})
	for _, appID := range []string{"app_" + randomHex(11), "", a.AppID + " "} {
		if ans := h.userCall("getVuid", tk.AccessToken, map[string]any{"appId": appID, "encryptedData": data}); ans.Code != client.CodeAppMismatch {
			t.Errorf("envelope appId %q: code %d, want 2010", appID, ans.Code)
		}
	}
	if ans := h.userCall("getVuid", tk.AccessToken, map[string]any{"appId": a.AppID, "encryptedData": data}); ans.Code != 0 {
		t.Errorf("matching appId: code %d", ans.Code)
	}
}

// TestConcurrentRefreshOneWins: of many concurrent exchanges of one refresh token exactly one
// succeeds.
func TestConcurrentRefreshOneWins(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	tk := h.getToken(a)
	const n = 10
	codes := make([]int, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-gate
			codes[i], _ = h.refresh(tk.RefreshToken)
		})
	}
	close(gate)
	wg.Wait()
	won := 0
	for _, c := range codes {
		switch c {
		case 0:
			won++
		case client.CodeRefreshInvalid:
		default:
			t.Errorf("code %d, want 0 or 2004", c)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent refreshes succeeded, want 1 (codes %v)", won, codes)
	}
}

// TestKeyRotationWithGrace: after a rotation the old key decrypts for the grace period (7
// days), the new one at once; keyId picks one key; an unknown keyId is 2009.
func TestKeyRotationWithGrace(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	ctx := context.Background()
	const auid = "008618600000005"
	old := h.client(a)
	want, err := old.GetVuid(ctx, auid)
	if err != nil {
		t.Fatal(err)
	}
	newKeyID, newPEM := h.rotateKey(a.AppID)
	if newKeyID == a.KeyID || newPEM == a.PublicKeyPEM {
		t.Fatal("the rotation answered the old key")
	}
	check := func(name string, c *client.Client, wantCode int) {
		t.Helper()
		v, err := c.GetVuid(ctx, auid)
		if code(err) != wantCode {
			t.Errorf("%s: %v, want code %d", name, err, wantCode)
		}
		if err == nil && v.Vuid != want.Vuid {
			t.Errorf("%s: vuid %s, want %s", name, v.Vuid, want.Vuid)
		}
	}
	check("old key in its grace period", old, 0)
	check("old key with its keyId", h.client(a, client.WithKeyID(a.KeyID)), 0)
	check("new key", h.clientWithKey(a, newPEM), 0)
	check("new key with its keyId", h.clientWithKey(a, newPEM, client.WithKeyID(newKeyID)), 0)
	check("new key as JWE", h.clientWithKey(a, newPEM, client.WithJWE("RSA-OAEP-256", "A128GCM"), client.WithKeyID(newKeyID)), 0)
	check("new key with the old keyId", h.clientWithKey(a, newPEM, client.WithKeyID(a.KeyID)), client.CodeDecrypt)
	check("unknown keyId", h.client(a, client.WithKeyID("key_"+randomHex(11))), client.CodeDecrypt)

	// A second rotation three days later: each retired key keeps its own grace period.
	h.clock.Advance(3 * 24 * time.Hour)
	thirdKeyID, thirdPEM := h.rotateKey(a.AppID)
	check("first key after the second rotation", h.client(a), 0)
	check("second key after the second rotation", h.clientWithKey(a, newPEM, client.WithKeyID(newKeyID)), 0)
	check("third key", h.clientWithKey(a, thirdPEM, client.WithKeyID(thirdKeyID)), 0)

	h.clock.Advance(4*24*time.Hour - time.Hour)
	check("first key an hour before its grace ends", h.client(a), 0)
	h.clock.Advance(2 * time.Hour)
	check("first key after its grace period", h.client(a), client.CodeDecrypt)
	check("first key with its keyId after its grace period", h.client(a, client.WithKeyID(a.KeyID)), client.CodeDecrypt)
	check("second key, still in its grace period", h.clientWithKey(a, newPEM), 0)
	check("third key", h.clientWithKey(a, thirdPEM), 0)

	h.clock.Advance(3 * 24 * time.Hour)
	check("second key after its grace period", h.clientWithKey(a, newPEM), client.CodeDecrypt)
	check("third key after both grace periods", h.clientWithKey(a, thirdPEM), 0)
}

// TestSecretRotation: after POST /apps/{id}/secret the old appSecret fails at once (2001) and
// the new one works; tokens issued before keep working.
func TestSecretRotation(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	c := h.client(a)
	ctx := context.Background()
	if _, err := c.GetVuid(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	before := h.getToken(a)
	var rotated struct {
		AppSecret     string `json:"appSecret"`
		WebhookSecret string `json:"webhookSecret"`
	}
	h.adminDo(http.MethodPost, "/admin/v1/apps/"+a.AppID+"/secret", nil, http.StatusOK, &rotated)
	if rotated.AppSecret == "" || rotated.AppSecret == a.AppSecret || rotated.WebhookSecret == a.WebhookSecret {
		t.Fatalf("rotation answered %+v", rotated)
	}
	ans := h.raw(http.MethodPost, "/api/v1/auth/getToken", nil, mustJSON(map[string]string{"appId": a.AppID, "appSecret": a.AppSecret}))
	if ans.Code != client.CodeBadCredentials {
		t.Errorf("old appSecret after rotation: code %d, want 2001", ans.Code)
	}
	if _, err := c.GetVuid(ctx, "x"); err != nil {
		t.Errorf("a token issued before the rotation: %v", err)
	}
	// A refresh token issued before renews nothing: who holds tokens of the old secret is out
	// once the access token expires.
	if code, _ := h.refresh(before.RefreshToken); code == 0 {
		t.Errorf("a refresh token issued before the rotation still renews")
	}
	renewed := *a
	renewed.AppSecret = rotated.AppSecret
	if _, err := h.client(&renewed).GetVuid(ctx, "x"); err != nil {
		t.Errorf("new appSecret: %v", err)
	}
}

// TestGetTokenRateLimits: an app gets at most TokensPerHour tokens from getToken in a rolling
// hour (refreshes do not count); failed attempts are limited per source address and appId,
// without locking the app out from other addresses.
func TestGetTokenRateLimits(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *server.Config) {
		c.Platform.TokensPerHour = 3
		c.Platform.FailuresPerMinute = 5
		c.TrustedProxies = []string{"127.0.0.1/32"}
	})
	a := h.createApp(map[string]any{"ipWhitelist": []string{"203.0.113.0/24"}})
	getToken := func(from, secret string) rawAnswer {
		return h.raw(http.MethodPost, "/api/v1/auth/getToken", map[string]string{"X-Forwarded-For": from},
			mustJSON(map[string]string{"appId": a.AppID, "appSecret": secret}))
	}
	var last rawAnswer
	for i := range 3 {
		if last = getToken("203.0.113.1", a.AppSecret); last.Code != 0 {
			t.Fatalf("getToken %d: code %d", i+1, last.Code)
		}
	}
	if ans := getToken("203.0.113.1", a.AppSecret); ans.Code != client.CodeRateLimited {
		t.Errorf("getToken over the hourly allowance: code %d, want 2011", ans.Code)
	}
	var tk tokens
	if err := json.Unmarshal(last.Data, &tk); err != nil {
		t.Fatal(err)
	}
	ans := h.raw(http.MethodPost, "/api/v1/auth/refreshToken", map[string]string{"X-Forwarded-For": "203.0.113.1"},
		mustJSON(map[string]string{"refreshToken": tk.RefreshToken}))
	if ans.Code != 0 {
		t.Errorf("refreshToken while getToken is over its allowance: code %d, want 0", ans.Code)
	}
	h.clock.Advance(61 * time.Minute)
	if ans := getToken("203.0.113.1", a.AppSecret); ans.Code != 0 {
		t.Errorf("getToken an hour later: code %d", ans.Code)
	}

	for i := range 5 {
		if ans := getToken("203.0.113.66", "wrong"); ans.Code != client.CodeBadCredentials {
			t.Fatalf("wrong secret %d: code %d, want 2001", i+1, ans.Code)
		}
	}
	if ans := getToken("203.0.113.66", "wrong"); ans.Code != client.CodeRateLimited {
		t.Errorf("wrong secret over the failure limit: code %d, want 2011", ans.Code)
	}
	if ans := getToken("203.0.113.66", a.AppSecret); ans.Code != client.CodeRateLimited {
		t.Errorf("right secret from the guessing address: code %d, want 2011", ans.Code)
	}
	if ans := getToken("203.0.113.7", a.AppSecret); ans.Code != 0 {
		t.Errorf("right secret from another address while one address guesses: code %d, want 0 (no lock-out)", ans.Code)
	}
	h.clock.Advance(61 * time.Second)
	if ans := getToken("203.0.113.66", a.AppSecret); ans.Code != 0 {
		t.Errorf("right secret from the guessing address a minute later: code %d, want 0", ans.Code)
	}
}

// TestReplayProtection: with replay protection on, a payload needs a fresh timestamp, a
// nonce not seen before and the app's appId (2012 otherwise).
func TestReplayProtection(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	c := h.client(a)
	ctx := context.Background()
	if _, err := c.GetVuid(ctx, "008618600000006"); err != nil {
		t.Fatal(err)
	}
	h.patchApp(a.AppID, map[string]any{"replayProtection": true})
	now := func() int64 { return h.clock.Now().Unix() }
	params := func(ts int64, nonce, appID string) map[string]any {
		return map[string]any{"auid": "008618600000006", "timestamp": ts, "nonce": nonce, "appId": appID}
	}
	nonce := randomHex(16)
	steps := []struct {
		name   string
		params any
		want   int
	}{
		{"no timestamp, nonce or appId", map[string]any{"auid": "008618600000006"}, client.CodeReplay},
		{"fresh", params(now(), nonce, a.AppID), 0},
		{"the same nonce again", params(now(), nonce, a.AppID), client.CodeReplay},
		{"10 minutes old", params(now()-600, randomHex(16), a.AppID), client.CodeReplay},
		{"10 minutes ahead", params(now()+600, randomHex(16), a.AppID), client.CodeReplay},
		{"4 minutes old", params(now()-240, randomHex(16), a.AppID), 0},
		{"another app's appId", params(now(), randomHex(16), "app_"+randomHex(11)), client.CodeReplay},
		{"no nonce", params(now(), "", a.AppID), client.CodeReplay},
		{"no appId", map[string]any{"auid": "x", "timestamp": now(), "nonce": randomHex(16)}, client.CodeReplay},
	}
	for _, s := range steps {
		wantCode(t, s.name, c.Call(ctx, "getVuid", s.params, nil), s.want)
	}
	// The client's option stamps every payload.
	stamped := h.client(a, client.WithReplayProtection())
	for i := range 3 {
		if _, err := stamped.GetVuid(ctx, "008618600000006"); err != nil {
			t.Errorf("client with WithReplayProtection, call %d: %v", i, err)
		}
	}
	// A nonce can be used again once its 10 minutes are over; the timestamp must be fresh.
	h.clock.Advance(11 * time.Minute)
	wantCode(t, "the old nonce after 11 minutes, fresh timestamp", c.Call(ctx, "getVuid", params(now(), nonce, a.AppID), nil), 0)

	h.patchApp(a.AppID, map[string]any{"replayProtection": false})
	if _, err := c.GetVuid(ctx, "008618600000006"); err != nil {
		t.Errorf("after turning replay protection off: %v", err)
	}
}

// TestReplayProtectionFarFutureTimestamp: a timestamp far in the future — such as a
// millisecond timestamp, the usual mistake of a JavaScript client (Date.now()) — is not
// fresh and must answer 2012. Otherwise the nonce is only remembered for 10 minutes and the
// very same request can be replayed after that.
func TestReplayProtectionFarFutureTimestamp(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(map[string]any{"replayProtection": true})
	tk := h.getToken(a)
	for _, tt := range []struct {
		name string
		ts   int64
	}{
		{"milliseconds", h.clock.Now().UnixMilli()},
		{"year 3000", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()},
		{"year 2500", time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC).Unix()},
		{"max int64", 1<<63 - 1},
	} {
		env := map[string]any{"appId": a.AppID, "encryptedData": seal(t, a.PublicKeyPEM,
			map[string]any{"auid": "008618600000007", "timestamp": tt.ts, "nonce": randomHex(16), "appId": a.AppID})}
		if ans := h.userCall("getVuid", tk.AccessToken, env); ans.Code != client.CodeReplay {
			t.Errorf("timestamp %d (%s): code %d, want 2012", tt.ts, tt.name, ans.Code)
			if tt.name != "milliseconds" {
				continue
			}
			// Show the consequence: once the nonce is forgotten, the same request passes again.
			h.clock.Advance(11 * time.Minute)
			tk2 := h.getToken(a)
			if ans := h.userCall("getVuid", tk2.AccessToken, env); ans.Code != client.CodeReplay {
				t.Errorf("the same request replayed 11 minutes later: code %d, want 2012", ans.Code)
			}
		}
	}
}

// TestReplayConcurrentSameNonce: of concurrent requests with one nonce exactly one passes.
func TestReplayConcurrentSameNonce(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(map[string]any{"replayProtection": true})
	c := h.client(a)
	ctx := context.Background()
	if _, err := c.AccessToken(ctx); err != nil {
		t.Fatal(err)
	}
	params := map[string]any{"auid": "008618600000011", "timestamp": h.clock.Now().Unix(), "nonce": randomHex(16), "appId": a.AppID}
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-gate
			errs[i] = c.Call(ctx, "getVuid", params, nil)
		})
	}
	close(gate)
	wg.Wait()
	passed := 0
	for _, err := range errs {
		switch code(err) {
		case 0:
			passed++
		case client.CodeReplay:
		default:
			t.Errorf("unexpected answer %v", err)
		}
	}
	if passed != 1 {
		t.Errorf("%d of %d concurrent requests with one nonce passed, want 1", passed, n)
	}
}

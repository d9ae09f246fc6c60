package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/vsrp-dev/vsrp/client"
	"github.com/vsrp-dev/vsrp/envelope"
)

// TestUnknownPathAndMethod: unknown App API paths answer HTTP 404 and wrong methods HTTP 405,
// both with a coded body (1005).
func TestUnknownPathAndMethod(t *testing.T) {
	t.Parallel()
	h := start(t)
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{http.MethodPost, "/api/v1/user/noSuchCall", http.StatusNotFound},
		{http.MethodPost, "/api/v1/auth/noSuchCall", http.StatusNotFound},
		{http.MethodPost, "/api/v2/user/getVuid", http.StatusNotFound},
		{http.MethodPost, "/api/v1/user/getvuid", http.StatusNotFound},
		{http.MethodPost, "/api/v1/", http.StatusNotFound},
		{http.MethodGet, "/api/v1/user/getVuid", http.StatusMethodNotAllowed},
		{http.MethodPut, "/api/v1/auth/getToken", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/api/v1/user/listCards", http.StatusMethodNotAllowed},
	} {
		ans := h.raw(tt.method, tt.path, nil, []byte(`{}`))
		if ans.Status != tt.status || ans.Code != client.CodeUnknownAPI {
			t.Errorf("%s %s: HTTP %d code %d, want %d and 1005", tt.method, tt.path, ans.Status, ans.Code, tt.status)
		}
		if tt.status == http.StatusMethodNotAllowed && ans.Header.Get("Allow") != http.MethodPost {
			t.Errorf("%s %s: Allow %q, want POST", tt.method, tt.path, ans.Header.Get("Allow"))
		}
		if ct := ans.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s %s: Content-Type %q", tt.method, tt.path, ct)
		}
	}
	a := h.createApp(nil)
	err := h.client(a).Call(t.Context(), "user/noSuchCall", nil, nil)
	var e *client.Error
	if !asErr(err, &e) || e.Code != client.CodeUnknownAPI || e.HTTPStatus != http.StatusNotFound {
		t.Errorf("client call of an unknown API: %v", err)
	}
}

// TestBodyTooLarge: a body over 64 KiB answers HTTP 413 with 1004; an envelope over 32 blocks
// answers 1004 before any RSA work.
func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	tk := h.getToken(a)
	big := mustJSON(map[string]any{"appId": a.AppID, "encryptedData": strings.Repeat("A", 65<<10)})
	for _, path := range []string{"/api/v1/user/getVuid", "/api/v1/auth/getToken", "/api/v1/auth/refreshToken"} {
		ans := h.raw(http.MethodPost, path, map[string]string{"Authorization": "Bearer " + tk.AccessToken}, big)
		if ans.Status != http.StatusRequestEntityTooLarge || ans.Code != client.CodeTooLarge {
			t.Errorf("%s with a %d-byte body: HTTP %d code %d, want 413 and 1004", path, len(big), ans.Status, ans.Code)
		}
	}
	// Just under the limit is read (and then fails as what it is: not a valid envelope).
	pad := 64<<10 - len(`{"appId":"","encryptedData":"","pad":""}`) - len(a.AppID)
	fits := mustJSON(map[string]any{"appId": a.AppID, "encryptedData": "", "pad": strings.Repeat("x", pad)})
	if len(fits) != 64<<10 {
		t.Fatalf("body of %d bytes, want exactly 64 KiB", len(fits))
	}
	if ans := h.userCall("getVuid", tk.AccessToken, jsonObject(t, fits)); ans.Status != http.StatusOK || ans.Code == client.CodeTooLarge {
		t.Errorf("a body of exactly 64 KiB: HTTP %d code %d", ans.Status, ans.Code)
	}

	blocks := make([]byte, 33*256)
	_, _ = rand.Read(blocks)
	ans := h.userCall("getVuid", tk.AccessToken, map[string]any{"appId": a.AppID, "encryptedData": b64(blocks)})
	if ans.Status != http.StatusOK || ans.Code != client.CodeTooLarge {
		t.Errorf("33 RSA blocks: HTTP %d code %d, want 200 and 1004", ans.Status, ans.Code)
	}
}

func jsonObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGarbageEnvelope: every kind of undecryptable payload answers 2009 with one message;
// a malformed envelope answers 1001.
func TestGarbageEnvelope(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	tk := h.getToken(a)
	random := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return b64(b)
	}
	valid := seal(t, a.PublicKeyPEM, map[string]string{"auid": "x"})
	garbage := map[string]string{
		"empty":                     "",
		"not base64":                "!!!not base64!!!",
		"255 bytes":                 random(255),
		"one random block":          random(256),
		"two random blocks":         random(512),
		"valid block then garbage":  valid + random(256)[:4],
		"truncated valid block":     valid[:len(valid)-8],
		"valid then a random block": b64(append(decodeB64(t, valid), decodeB64(t, random(256))...)),
		"five dots":                 "a.b.c.d.e",
		"JWE-shaped garbage":        "eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0.AAAA.AAAA.AAAA.AAAA",
		"four dots":                 "a.b.c.d",
	}
	pub, err := envelope.ParsePublicKeyPEM([]byte(a.PublicKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []struct {
		ka jose.KeyAlgorithm
		ce jose.ContentEncryption
	}{{jose.RSA1_5, jose.A128GCM}, {jose.RSA_OAEP_256, jose.A128CBC_HS256}, {jose.RSA_OAEP, jose.A192GCM}} {
		enc, err := jose.NewEncrypter(alg.ce, jose.Recipient{Algorithm: alg.ka, Key: pub, KeyID: a.KeyID}, nil)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := enc.Encrypt([]byte(`{"auid":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		garbage["JWE "+string(alg.ka)+" "+string(alg.ce)], _ = obj.CompactSerialize()
	}
	messages := map[string]bool{}
	for name, data := range garbage {
		ans := h.userCall("getVuid", tk.AccessToken, map[string]any{"appId": a.AppID, "encryptedData": data})
		if ans.Status != http.StatusOK || ans.Code != client.CodeDecrypt {
			t.Errorf("%s: HTTP %d code %d, want 200 and 2009", name, ans.Status, ans.Code)
			continue
		}
		messages[ans.Message] = true
	}
	if len(messages) > 1 {
		t.Errorf("2009 answered with %d different messages: %v", len(messages), messages)
	}
	for name, body := range map[string]string{
		"not JSON":               `encryptedData=abc`,
		"an array":               `[]`,
		"encryptedData missing":  `{"appId":"` + a.AppID + `"}`,
		"appId missing":          `{"encryptedData":"` + valid + `"}`,
		"encryptedData a number": `{"appId":"` + a.AppID + `","encryptedData":5}`,
	} {
		ans := h.raw(http.MethodPost, "/api/v1/user/getVuid", map[string]string{"Authorization": "Bearer " + tk.AccessToken}, []byte(body))
		if ans.Status != http.StatusOK || (ans.Code != client.CodeMalformed && ans.Code != client.CodeInvalidParam) {
			t.Errorf("%s: HTTP %d code %d, want 200 and 1001", name, ans.Status, ans.Code)
		}
	}
	if ans := h.userCall("getVuid", tk.AccessToken, map[string]any{"appId": a.AppID, "encryptedData": valid}); ans.Code != 0 {
		t.Errorf("the valid envelope: code %d", ans.Code)
	}
}

func decodeB64(t *testing.T, s string) []byte {
	t.Helper()
	var out []byte
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRequestID: every answer carries X-Request-Id, echoing a well-formed one.
func TestRequestID(t *testing.T) {
	t.Parallel()
	h := start(t)
	ans := h.raw(http.MethodPost, "/api/v1/auth/getToken", map[string]string{"X-Request-Id": "partner-req.42_A"}, []byte(`{}`))
	if got := ans.Header.Get("X-Request-Id"); got != "partner-req.42_A" {
		t.Errorf("well-formed X-Request-Id echoed as %q", got)
	}
	for _, bad := range []string{"has space", strings.Repeat("x", 65), "semi;colon", "<script>"} {
		ans := h.raw(http.MethodPost, "/api/v1/auth/getToken", map[string]string{"X-Request-Id": bad}, []byte(`{}`))
		if got := ans.Header.Get("X-Request-Id"); got == bad || got == "" {
			t.Errorf("malformed X-Request-Id %q answered %q, want a new one", bad, got)
		}
	}
	a := h.createApp(nil)
	_, err := h.client(a).GetVuid(t.Context(), "")
	var e *client.Error
	if !asErr(err, &e) || e.RequestID == "" {
		t.Errorf("client error without a request id: %v", err)
	}
}

// TestHealthAndMetrics: /healthz and /readyz answer 200 without authentication; /metrics
// counts requests by api and code.
func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	h := start(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		status, body := h.get(path)
		if status != http.StatusOK || !json.Valid([]byte(body)) {
			t.Errorf("GET %s: HTTP %d %q", path, status, body)
		}
	}
	a := h.createApp(nil)
	c := h.client(a)
	if _, err := c.GetVuid(t.Context(), "008618600000008"); err != nil {
		t.Fatal(err)
	}
	_, _ = c.GetVuid(t.Context(), "")
	_, _ = c.GetVuid(t.Context(), "")
	h.raw(http.MethodGet, "/api/v1/user/getVuid", nil, nil)

	status, body := h.get("/metrics")
	if status != http.StatusOK || !strings.Contains(body, "# TYPE vsrp_http_requests_total counter") {
		t.Fatalf("GET /metrics: HTTP %d without vsrp_http_requests_total", status)
	}
	for _, tt := range []struct {
		labels []string
		want   float64
	}{
		{[]string{`api="auth/getToken"`, `code="0"`}, 1},
		{[]string{`api="user/getVuid"`, `code="0"`, `status="200"`}, 1},
		{[]string{`api="user/getVuid"`, `code="3014"`}, 2},
		{[]string{`api="user/getVuid"`, `code="1005"`, `status="405"`}, 1},
	} {
		if got := metric(t, h, "vsrp_http_requests_total", tt.labels...); got != tt.want {
			t.Errorf("vsrp_http_requests_total{%s} = %v, want %v", strings.Join(tt.labels, ","), got, tt.want)
		}
	}
	if !strings.Contains(body, "vsrp_http_request_duration_seconds_bucket") {
		t.Error("no latency histogram in /metrics")
	}
	if bytes.Contains([]byte(body), []byte(a.AppID)) {
		t.Error("/metrics names an app id: unbounded label values")
	}
}

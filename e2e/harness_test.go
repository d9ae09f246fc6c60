// Package e2e runs the real server (package server) on 127.0.0.1:0 with a temporary database,
// sets it up through the admin API and drives the App API through the Go client, as a partner
// app would.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/client"
	"github.com/vsrp-dev/vsrp/envelope"
	"github.com/vsrp-dev/vsrp/server"
)

// clock is the server's clock: real time plus an offset that tests move forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// syncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is one running server and what the tests need to reach it.
type harness struct {
	t     testing.TB
	srv   *server.Server
	url   string
	admin string
	clock *clock
	db    string      // the database: a SQLite file path or a postgres:// URL
	log   *syncBuffer // the server's JSON log (nil when discarded)
	out   *syncBuffer // the server's human-facing notes
	hc    *http.Client

	stopOnce sync.Once
	stopErr  error
}

// config options of start.
type option func(*server.Config)

// discardLog sends the server's log nowhere (benchmarks: the buffer would grow without end).
func discardLog(c *server.Config) { c.Log = io.Discard }

// start runs a server on 127.0.0.1:0 over a SQLite file in a temporary directory (or over the
// database that an option sets) and stops it when the test ends.
func start(t testing.TB, opts ...option) *harness {
	t.Helper()
	h := &harness{t: t, admin: randomHex(16), clock: &clock{}, log: &syncBuffer{}, out: &syncBuffer{}}
	cfg := server.Config{
		Addr:                "127.0.0.1:0",
		DB:                  filepath.Join(t.TempDir(), "vsrp.db"),
		AdminToken:          h.admin,
		WebhookAllowPrivate: true,
		Now:                 h.clock.Now,
		Log:                 h.log,
		Out:                 h.out,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Log != h.log {
		h.log = nil
	}
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("server.Start: %v", err)
	}
	h.srv, h.url, h.db = srv, srv.URL(), cfg.DB
	h.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(func() {
		if err := h.stop(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if t.Failed() && h.log != nil {
			lines := strings.Split(strings.TrimSpace(h.log.String()), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			t.Logf("last lines of the server log:\n%s", strings.Join(lines, "\n"))
		}
	})
	return h
}

// stop shuts the server down once.
func (h *harness) stop() error {
	h.stopOnce.Do(func() {
		// Connections the transport dialled but never used are "new" to the server, which
		// waits up to 5 s for them at shutdown: close them from this side first.
		h.hc.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		h.stopErr = h.srv.Shutdown(ctx)
	})
	return h.stopErr
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// --- admin API ---

// adminDo calls the admin API, fails the test unless the status is want, and decodes the
// answer into out (when not nil).
// adminRaw sends body as it is, of Content-Type ctype, to the admin API and answers the
// status and the body of the answer.
func (h *harness) adminRaw(method, path, ctype, body string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.admin)
	req.Header.Set("Content-Type", ctype)
	resp, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got)
}

func (h *harness) adminDo(method, path string, body any, want int, out any) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		h.t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			h.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
}

// app is an app's credentials as the admin API gives them at creation.
type app struct {
	AppID         string `json:"appId"`
	AppSecret     string `json:"appSecret"`
	WebhookSecret string `json:"webhookSecret"`
	KeyID         string `json:"keyId"`
	PublicKeyPEM  string `json:"publicKeyPem"`
}

// localhost is the whitelist of apps that the tests call from this machine.
var localhost = []string{"127.0.0.1/32", "::1/128"}

// createApp creates an app. spec's fields override the defaults: every scope, a whitelist of
// the loopback addresses, every issuer.
func (h *harness) createApp(spec map[string]any) *app {
	h.t.Helper()
	body := map[string]any{"name": "e2e app " + randomHex(3), "scopes": []string{"user", "enroll", "reward"}, "ipWhitelist": localhost}
	for k, v := range spec {
		body[k] = v
	}
	var a app
	h.adminDo(http.MethodPost, "/admin/v1/apps", body, http.StatusCreated, &a)
	if a.AppID == "" || a.AppSecret == "" || a.KeyID == "" || !strings.Contains(a.PublicKeyPEM, "BEGIN PUBLIC KEY") ||
		!strings.HasPrefix(a.WebhookSecret, "whsec_") {
		h.t.Fatalf("create app answered %+v", a)
	}
	return &a
}

// patchApp changes an app through the admin API.
func (h *harness) patchApp(appID string, spec map[string]any) {
	h.t.Helper()
	h.adminDo(http.MethodPatch, "/admin/v1/apps/"+appID, spec, http.StatusOK, nil)
}

// rotateKey gives the app a new RSA key and answers its id and public key.
func (h *harness) rotateKey(appID string) (keyID, pemText string) {
	h.t.Helper()
	var k struct {
		KeyID        string `json:"keyId"`
		PublicKeyPEM string `json:"publicKeyPem"`
	}
	h.adminDo(http.MethodPost, "/admin/v1/apps/"+appID+"/keys", nil, http.StatusCreated, &k)
	return k.KeyID, k.PublicKeyPEM
}

// The BIN table of the tests. 42424242 and 424242 overlap: the 8-digit prefix must win.
var testBINs = []map[string]any{
	{"bin": "411111", "bid": "B-E2E-1", "issuerName": "E2E Bank", "issuerNameNative": "端到端银行", "issuingCountryCode": "CN",
		"accountFundingSource": "C", "productId": "P-PLAT", "productName": "Visa Platinum", "productNameNative": "白金卡",
		"isDualBrand": false, "isChip": true},
	{"bin": "42424242", "bid": "B-E2E-2", "issuerName": "E2E Savings", "issuerNameNative": "端到端储蓄", "issuingCountryCode": "HK",
		"accountFundingSource": "D", "productId": "P-CLS", "productName": "Visa Classic", "productNameNative": "普卡",
		"isDualBrand": true, "isChip": true},
	{"bin": "424242", "bid": "B-E2E-3", "issuerName": "E2E Short BIN", "issuerNameNative": "短卡组", "issuingCountryCode": "CN",
		"accountFundingSource": "P", "productId": "P-PRE", "productName": "Visa Prepaid", "productNameNative": "预付卡",
		"isDualBrand": false, "isChip": false},
}

// loadBINs puts the test BIN table.
func (h *harness) loadBINs() {
	h.t.Helper()
	h.adminDo(http.MethodPut, "/admin/v1/bins", testBINs, http.StatusOK, nil)
}

// client returns a Go client of the app, with the app's key unless an option says otherwise.
func (h *harness) client(a *app, opts ...client.Option) *client.Client {
	h.t.Helper()
	return h.clientWithKey(a, a.PublicKeyPEM, opts...)
}

func (h *harness) clientWithKey(a *app, pemText string, opts ...client.Option) *client.Client {
	h.t.Helper()
	opts = append([]client.Option{client.WithHTTPClient(h.hc)}, opts...)
	c, err := client.New(h.url, a.AppID, a.AppSecret, []byte(pemText), opts...)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// --- cards ---

// pan returns a Luhn-valid 16-digit number that starts with prefix and ends with the digits
// of n before its check digit.
func pan(prefix string, n int) string {
	body := prefix + fmt.Sprintf("%0*d", 15-len(prefix), n)
	if len(body) != 15 {
		panic("pan: prefix and n do not fit in 15 digits")
	}
	for d := byte('0'); d <= '9'; d++ {
		if luhnValid(body + string(d)) {
			return body + string(d)
		}
	}
	panic("unreachable")
}

// luhnValid reports whether the digit string passes the Luhn check.
func luhnValid(digits string) bool {
	sum := 0
	for i := 0; i < len(digits); i++ {
		c := digits[len(digits)-1-i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return len(digits) > 0 && sum%10 == 0
}

func TestLuhnHelpers(t *testing.T) {
	for _, s := range []string{"4111111111111111", "4242424242424242", "4000000000000002", pan("411111", 42), pan("42424242", 7)} {
		if !luhnValid(s) || len(s) != 16 {
			t.Errorf("%s should be a valid 16-digit number", s)
		}
	}
	for _, s := range []string{"4111111111111112", "4242424242424241", "", "41111111111111a1"} {
		if luhnValid(s) {
			t.Errorf("%s should fail Luhn", s)
		}
	}
}

// --- raw App API requests ---

// rawAnswer is an App API answer read without the client.
type rawAnswer struct {
	Status  int
	Header  http.Header
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// raw sends one App API request as is and decodes the coded answer; a body that is not a
// coded JSON answer fails the test.
func (h *harness) raw(method, path string, header map[string]string, body []byte) rawAnswer {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	buf, _ := io.ReadAll(resp.Body)
	ans := rawAnswer{Status: resp.StatusCode, Header: resp.Header, Code: -1}
	if err := json.Unmarshal(buf, &ans); err != nil || ans.Code < 0 {
		h.t.Fatalf("%s %s: HTTP %d, not a coded answer: %q", method, path, resp.StatusCode, buf)
	}
	if ans.Header.Get("X-Request-Id") == "" {
		h.t.Errorf("%s %s: no X-Request-Id", method, path)
	}
	return ans
}

// tokens are getToken's and refreshToken's answer.
type tokens struct {
	AccessToken           string `json:"accessToken"`
	AccessTokenExpiredAt  string `json:"accessTokenExpiredAt"`
	RefreshToken          string `json:"refreshToken"`
	RefereshToken         string `json:"refereshToken"`
	RefreshTokenExpiredAt string `json:"refreshTokenExpiredAt"`
	Scope                 string `json:"scope"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// getToken calls getToken directly; it fails the test unless the code is 0.
func (h *harness) getToken(a *app) tokens {
	h.t.Helper()
	ans := h.raw(http.MethodPost, "/api/v1/auth/getToken", nil, mustJSON(map[string]string{"appId": a.AppID, "appSecret": a.AppSecret}))
	if ans.Code != 0 {
		h.t.Fatalf("getToken: code %d %s", ans.Code, ans.Message)
	}
	var tk tokens
	if err := json.Unmarshal(ans.Data, &tk); err != nil {
		h.t.Fatal(err)
	}
	return tk
}

// refresh calls refreshToken directly and answers the code and, on success, the new pair.
func (h *harness) refresh(refreshToken string) (int, tokens) {
	h.t.Helper()
	ans := h.raw(http.MethodPost, "/api/v1/auth/refreshToken", nil, mustJSON(map[string]string{"refreshToken": refreshToken}))
	var tk tokens
	if ans.Code == 0 {
		if err := json.Unmarshal(ans.Data, &tk); err != nil {
			h.t.Fatal(err)
		}
	}
	return ans.Code, tk
}

// seal encrypts a plaintext payload with a public key (PEM) as a block envelope.
func seal(t testing.TB, pemText string, plaintext any) string {
	t.Helper()
	pub, err := envelope.ParsePublicKeyPEM([]byte(pemText))
	if err != nil {
		t.Fatal(err)
	}
	s, err := envelope.Seal(pub, mustJSON(plaintext), envelope.SHA256MGF1SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// userCall sends an encrypted user API call with the bearer token and the envelope fields as
// given, without the client.
func (h *harness) userCall(name, access string, env map[string]any) rawAnswer {
	h.t.Helper()
	hdr := map[string]string{}
	if access != "" {
		hdr["Authorization"] = "Bearer " + access
	}
	return h.raw(http.MethodPost, "/api/v1/user/"+name, hdr, mustJSON(env))
}

// code answers the contract code of err: 0 for nil, the *client.Error's code, or -1.
func code(err error) int {
	if err == nil {
		return 0
	}
	var e *client.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return -1
}

// wantCode fails the test unless err carries the code.
func wantCode(t testing.TB, what string, err error, want int) {
	t.Helper()
	if got := code(err); got != want {
		t.Errorf("%s: code %d (%v), want %d", what, got, err, want)
	}
}

// b64 is standard base64, for hand-made envelopes.
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// asErr is errors.As for *client.Error.
func asErr(err error, target **client.Error) bool { return errors.As(err, target) }

// get fetches a path without authentication and answers the status and the body.
func (h *harness) get(path string) (int, string) {
	h.t.Helper()
	resp, err := h.hc.Get(h.url + path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// metric sums the samples of the named metric in /metrics whose labels contain every one of
// labels (each written as name="value").
func metric(t testing.TB, h *harness, name string, labels ...string) float64 {
	t.Helper()
	status, body := h.get("/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d", status)
	}
	sum := 0.0
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

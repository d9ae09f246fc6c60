package client_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/client"
	"github.com/vsrp-dev/vsrp/envelope"
)

// testKey is one RSA-2048 key for the whole package: generating one per test is slow under
// the race detector.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

const (
	testAppID  = "app_test"
	testSecret = "secret-of-app_test"
	testKeyID  = "key_test"
)

// fakeServer speaks enough of the App API to test the client: getToken, refreshToken with
// rotation, bearer checks against its clock, envelope decryption, and a few user calls.
type fakeServer struct {
	t          *testing.T
	clock      *fakeClock
	accessTTL  time.Duration
	refreshTTL time.Duration
	tokenDelay time.Duration // how long getToken and refreshToken take
	opener     *envelope.Opener

	getTokens  atomic.Int32
	refreshes  atomic.Int32
	userCalls  atomic.Int32
	refreshErr atomic.Int32 // when non-zero, refreshToken answers this code
	userErr    atomic.Int32 // when non-zero, every user call answers this code

	mu            sync.Mutex
	access        map[string]time.Time // access token → expiry
	refresh       map[string]time.Time // unused refresh tokens → expiry
	seen          map[string]int       // access token → user calls made with it
	lastEncrypted string
	lastHeader    http.Header
	n             int
}

func newFakeServer(t *testing.T) (*fakeServer, *httptest.Server) {
	f := &fakeServer{
		t: t, clock: &fakeClock{t: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)},
		accessTTL: 15 * time.Minute, refreshTTL: 2 * time.Hour, opener: envelope.NewOpener(),
		access: map[string]time.Time{}, refresh: map[string]time.Time{}, seen: map[string]int{},
	}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	return f, ts
}

func (f *fakeServer) newClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	pemBytes, err := envelope.MarshalPublicKeyPEM(&testKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]client.Option{client.WithClock(f.clock.Now)}, opts...)
	c, err := client.New(url, testAppID, testSecret, pemBytes, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakeServer) answer(w http.ResponseWriter, code int, data any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Date", f.clock.Now().UTC().Format(http.TimeFormat))
	f.mu.Lock()
	f.n++
	w.Header().Set("X-Request-Id", fmt.Sprintf("req_%d", f.n))
	f.mu.Unlock()
	body := map[string]any{"code": code, "message": fmt.Sprintf("message of %d", code)}
	if data != nil {
		body["data"] = data
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (f *fakeServer) issue() map[string]string {
	now := f.clock.Now()
	access, refresh := newToken(), newToken()
	f.mu.Lock()
	f.access[access] = now.Add(f.accessTTL)
	f.refresh[refresh] = now.Add(f.refreshTTL)
	f.mu.Unlock()
	return map[string]string{
		"accessToken": access, "accessTokenExpiredAt": now.Add(f.accessTTL).Format(time.RFC3339),
		"refreshToken": refresh, "refereshToken": refresh, "refreshTokenExpiredAt": now.Add(f.refreshTTL).Format(time.RFC3339),
		"scope": "user enroll reward",
	}
}

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		f.answer(w, 1005, nil)
		return
	}
	var body map[string]string
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.answer(w, 1001, nil)
		return
	}
	switch r.URL.Path {
	case "/api/v1/auth/getToken":
		f.getTokens.Add(1)
		time.Sleep(f.tokenDelay)
		if body["appId"] != testAppID || body["appSecret"] != testSecret {
			f.answer(w, 2001, nil)
			return
		}
		f.answer(w, 0, f.issue())
	case "/api/v1/auth/refreshToken":
		f.refreshes.Add(1)
		time.Sleep(f.tokenDelay)
		if code := f.refreshErr.Load(); code != 0 {
			f.answer(w, int(code), nil)
			return
		}
		f.mu.Lock()
		exp, ok := f.refresh[body["refreshToken"]]
		delete(f.refresh, body["refreshToken"])
		f.mu.Unlock()
		switch {
		case !ok:
			f.answer(w, 2004, nil)
		case !f.clock.Now().Before(exp):
			f.answer(w, 2005, nil)
		default:
			f.answer(w, 0, f.issue())
		}
	default:
		f.user(w, r, body)
	}
}

func (f *fakeServer) user(w http.ResponseWriter, r *http.Request, env map[string]string) {
	f.userCalls.Add(1)
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	exp, ok := f.access[tok]
	f.seen[tok]++
	f.lastEncrypted, f.lastHeader = env["encryptedData"], r.Header.Clone()
	f.mu.Unlock()
	switch {
	case !ok:
		f.answer(w, 2002, nil)
		return
	case !f.clock.Now().Before(exp):
		f.answer(w, 2003, nil)
		return
	case env["appId"] != testAppID:
		f.answer(w, 2010, nil)
		return
	}
	if code := f.userErr.Load(); code != 0 {
		f.answer(w, int(code), nil)
		return
	}
	plain, _, err := f.opener.Open(env["encryptedData"], []envelope.Key{{ID: testKeyID, Private: testKey()}})
	if err != nil {
		f.answer(w, 2009, nil)
		return
	}
	var params map[string]any
	if err := json.Unmarshal(plain, &params); err != nil {
		f.answer(w, 1001, nil)
		return
	}
	switch r.URL.Path {
	case "/api/v1/user/getVuid":
		f.answer(w, 0, map[string]string{"vuid": "vu_" + fmt.Sprint(params["auid"]), "createdAt": "2026-12-04T19:22:43+08:00"})
	case "/api/v1/user/echo":
		f.answer(w, 0, json.RawMessage(plain))
	case "/api/v1/user/listCards":
		f.answer(w, 0, map[string]any{"totalCards": 1, "cards": []map[string]any{{
			"cardId": "card_1", "bin": "411111", "panLastFour": "1111", "fundingSourceType": "C",
			"isDualBrand": 0, "isChip": 1, "createdAt": "2026-12-04T19:22:43+08:00"}}})
	case "/api/v1/user/getCardInfo":
		f.answer(w, 0, map[string]any{"cardId": "card_1", "bin": "411111", "panLast4": "1111",
			"accountFundingSource": "C", "isDualBrand": false, "isChip": true, "createdAt": "2026-12-04T19:22:43+08:00"})
	case "/api/v1/user/addCard", "/api/v1/user/removeCard":
		f.answer(w, 0, nil)
	default:
		w.WriteHeader(http.StatusNotFound)
		f.answer(w, 1005, nil)
	}
}

// concurrently runs fn in n goroutines released at once and answers their errors.
func concurrently(n int, fn func() error) []error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn()
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func TestConcurrentFirstCallsShareOneGetToken(t *testing.T) {
	f, ts := newFakeServer(t)
	f.tokenDelay = 100 * time.Millisecond // every caller arrives while the fetch is in flight
	c := f.newClient(t, ts.URL)
	errs := concurrently(50, func() error {
		v, err := c.GetVuid(context.Background(), "008618612345678")
		if err == nil && v.Vuid != "vu_008618612345678" {
			err = fmt.Errorf("vuid %q", v.Vuid)
		}
		return err
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.getTokens.Load(); n != 1 {
		t.Errorf("getToken called %d times, want 1", n)
	}
	if n := f.userCalls.Load(); n != 50 {
		t.Errorf("%d user calls, want 50", n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) != 1 {
		t.Errorf("user calls carried %d different tokens, want 1", len(f.seen))
	}
}

func TestNearExpiryOneRefreshAmongConcurrentCallers(t *testing.T) {
	f, ts := newFakeServer(t)
	c := f.newClient(t, ts.URL)
	ctx := context.Background()
	if _, err := c.GetVuid(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	first, _ := c.AccessToken(ctx)

	// Not yet within the margin: no refresh.
	f.clock.Set(f.clock.Now().Add(f.accessTTL - 2*client.DefaultRefreshMargin))
	if _, err := c.GetVuid(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if n := f.refreshes.Load(); n != 0 {
		t.Fatalf("refreshed %d times before the margin", n)
	}

	// 30 s before expiry: inside the 60 s margin, the token still works.
	f.clock.Set(f.clock.Now().Add(2*client.DefaultRefreshMargin - 30*time.Second))
	f.tokenDelay = 100 * time.Millisecond
	errs := concurrently(50, func() error {
		_, err := c.GetVuid(ctx, "a")
		return err
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.refreshes.Load(); n != 1 {
		t.Errorf("refreshToken called %d times, want 1", n)
	}
	if n := f.getTokens.Load(); n != 1 {
		t.Errorf("getToken called %d times, want 1", n)
	}
	second, _ := c.AccessToken(ctx)
	if second == first {
		t.Fatal("the access token did not change")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen[second] != 50 || f.seen[first] != 2 {
		t.Errorf("calls per token: first %d (want 2), second %d (want 50)", f.seen[first], f.seen[second])
	}
}

func TestClockSkewDoesNotCauseRefreshStorms(t *testing.T) {
	for _, skew := range []time.Duration{time.Hour, -time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			f, ts := newFakeServer(t)
			c := f.newClient(t, ts.URL, client.WithClock(func() time.Time { return f.clock.Now().Add(skew) }))
			ctx := context.Background()
			for range 5 {
				if _, err := c.GetVuid(ctx, "a"); err != nil {
					t.Fatal(err)
				}
			}
			if g, r := f.getTokens.Load(), f.refreshes.Load(); g != 1 || r != 0 {
				t.Errorf("getToken %d times (want 1), refreshToken %d times (want 0)", g, r)
			}
			// Near the expiry on the server's clock, the client refreshes, whatever its own clock says.
			f.clock.Set(f.clock.Now().Add(f.accessTTL - 30*time.Second))
			for range 3 {
				if _, err := c.GetVuid(ctx, "a"); err != nil {
					t.Fatal(err)
				}
			}
			if g, r, u := f.getTokens.Load(), f.refreshes.Load(), f.userCalls.Load(); g != 1 || r != 1 || u != 8 {
				t.Errorf("getToken %d (want 1), refreshToken %d (want 1), user calls %d (want 8: no 2003 retries)", g, r, u)
			}
		})
	}
}

func TestRefusedRefreshFallsBackToGetToken(t *testing.T) {
	for _, code := range []int{client.CodeRefreshInvalid, client.CodeRefreshExpired} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			f, ts := newFakeServer(t)
			c := f.newClient(t, ts.URL)
			ctx := context.Background()
			if _, err := c.GetVuid(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			f.refreshErr.Store(int32(code))
			f.clock.Set(f.clock.Now().Add(f.accessTTL - 10*time.Second))
			if _, err := c.GetVuid(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if r, g := f.refreshes.Load(), f.getTokens.Load(); r != 1 || g != 2 {
				t.Errorf("refreshToken %d times (want 1), getToken %d times (want 2)", r, g)
			}
		})
	}
}

func TestExpiredRefreshTokenGoesStraightToGetToken(t *testing.T) {
	f, ts := newFakeServer(t)
	c := f.newClient(t, ts.URL)
	ctx := context.Background()
	if _, err := c.GetVuid(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(f.clock.Now().Add(f.refreshTTL + time.Minute))
	if _, err := c.GetVuid(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if r, g := f.refreshes.Load(), f.getTokens.Load(); r != 0 || g != 2 {
		t.Errorf("refreshToken %d times (want 0), getToken %d times (want 2)", r, g)
	}
}

func TestTransientRefreshFailureKeepsValidToken(t *testing.T) {
	f, ts := newFakeServer(t)
	c := f.newClient(t, ts.URL)
	ctx := context.Background()
	if _, err := c.GetVuid(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	f.refreshErr.Store(client.CodeUnavailable)
	f.clock.Set(f.clock.Now().Add(f.accessTTL - 30*time.Second))
	for range 3 {
		if _, err := c.GetVuid(ctx, "a"); err != nil {
			t.Fatalf("a call failed while the access token was still valid: %v", err)
		}
	}
	if r, g := f.refreshes.Load(), f.getTokens.Load(); r != 1 || g != 1 {
		t.Errorf("refreshToken %d times (want 1: retried only after a pause), getToken %d times (want 1)", r, g)
	}
	f.refreshErr.Store(0)
	f.clock.Set(f.clock.Now().Add(10 * time.Second))
	if _, err := c.GetVuid(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if r := f.refreshes.Load(); r != 2 {
		t.Errorf("refreshToken %d times, want 2", r)
	}
}

func TestRevokedTokenIsRefetchedAndCallRetriedOnce(t *testing.T) {
	f, ts := newFakeServer(t)
	c := f.newClient(t, ts.URL)
	ctx := context.Background()
	if _, err := c.GetVuid(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	clear(f.access) // every access token revoked: the next call is answered 2002
	f.mu.Unlock()
	if _, err := c.GetVuid(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if u, r := f.userCalls.Load(), f.refreshes.Load(); u != 3 || r != 1 {
		t.Errorf("%d user calls (want 3), %d refreshes (want 1)", u, r)
	}
}

func TestExpiredTokenAnswerIsRetriedOnce(t *testing.T) {
	f, ts := newFakeServer(t)
	c := f.newClient(t, ts.URL, client.WithRefreshMargin(0))
	ctx := context.Background()
	if _, err := c.GetVuid(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// The server's clock runs ahead of the client's: the server says 2003 first.
	f.mu.Lock()
	for tok := range f.access {
		f.access[tok] = f.clock.Now()
	}
	f.mu.Unlock()
	if _, err := c.GetVuid(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if u, r := f.userCalls.Load(), f.refreshes.Load(); u != 3 || r != 1 {
		t.Errorf("%d user calls (want 3), %d refreshes (want 1)", u, r)
	}
}

func TestPersistentTokenErrorIsRetriedOnlyOnce(t *testing.T) {
	f, ts := newFakeServer(t)
	c := f.newClient(t, ts.URL)
	ctx := context.Background()
	if _, err := c.GetVuid(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	f.userErr.Store(client.CodeTokenInvalid)
	_, err := c.GetVuid(ctx, "a")
	if !client.IsCode(err, client.CodeTokenInvalid) {
		t.Fatalf("err %v, want code 2002", err)
	}
	if u := f.userCalls.Load(); u != 3 {
		t.Errorf("%d user calls, want 3 (one, then one retry)", u)
	}
}

func TestErrorCarriesCodeMessageAndRequestID(t *testing.T) {
	f, ts := newFakeServer(t)
	c := f.newClient(t, ts.URL)
	ctx := context.Background()
	if _, err := c.GetVuid(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	f.userErr.Store(client.CodeVuidNotFound)
	_, err := c.ListCards(ctx, "vu_nobody", "")
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("err %T %v, want *client.Error", err, err)
	}
	if e.Code != 3001 || e.Message != "message of 3001" || !strings.HasPrefix(e.RequestID, "req_") || e.HTTPStatus != 200 {
		t.Errorf("error %+v", e)
	}
	if !strings.Contains(e.Error(), "3001") || !strings.Contains(e.Error(), e.RequestID) {
		t.Errorf("Error() = %q", e.Error())
	}

	f.userErr.Store(0)
	err = c.Call(ctx, "user/noSuchCall", nil, nil)
	if !errors.As(err, &e) || e.Code != client.CodeUnknownAPI || e.HTTPStatus != http.StatusNotFound {
		t.Errorf("unknown call: %v", err)
	}
}

func TestWrongSecretIsAnError(t *testing.T) {
	f, ts := newFakeServer(t)
	pemBytes, _ := envelope.MarshalPublicKeyPEM(&testKey().PublicKey)
	c, err := client.New(ts.URL, testAppID, "wrong", pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetVuid(context.Background(), "a")
	if !client.IsCode(err, client.CodeBadCredentials) {
		t.Fatalf("err %v, want 2001", err)
	}
	// A failed fetch is not remembered: the next call tries again.
	_, _ = c.GetVuid(context.Background(), "a")
	if n := f.getTokens.Load(); n != 2 {
		t.Errorf("getToken %d times, want 2", n)
	}
}

func TestCallerGivesUpWhileTokenIsFetched(t *testing.T) {
	f, ts := newFakeServer(t)
	f.tokenDelay = 300 * time.Millisecond
	c := f.newClient(t, ts.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.GetVuid(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
	// The fetch went on for the others: this call joins it.
	if _, err := c.GetVuid(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if n := f.getTokens.Load(); n != 1 {
		t.Errorf("getToken %d times, want 1", n)
	}
}

// variantOptions are the OAEP options of each variant, to check which one the client used.
var variantOptions = map[envelope.Variant]*rsa.OAEPOptions{
	envelope.SHA256MGF1SHA256: {Hash: crypto.SHA256, MGFHash: crypto.SHA256},
	envelope.SHA256MGF1SHA1:   {Hash: crypto.SHA256, MGFHash: crypto.SHA1},
	envelope.SHA1MGF1SHA1:     {Hash: crypto.SHA1, MGFHash: crypto.SHA1},
}

func TestPayloadEncryptionForms(t *testing.T) {
	f, ts := newFakeServer(t)
	short := map[string]any{"auid": "008618612345678"}
	long := map[string]any{"text": strings.Repeat("长文本 long text ", 40)} // ~ 800 bytes: several blocks
	huge := map[string]any{"text": strings.Repeat("x", 9000)}            // over 32 blocks: JWE
	tests := []struct {
		name   string
		opts   []client.Option
		params map[string]any
		blocks int // 0: a JWE is expected
		v      envelope.Variant
	}{
		{"default short", nil, short, 1, envelope.SHA256MGF1SHA256},
		{"default long", nil, long, 5, envelope.SHA256MGF1SHA256},
		{"sha256-mgf1sha1 long", []client.Option{client.WithVariant(envelope.SHA256MGF1SHA1)}, long, 5, envelope.SHA256MGF1SHA1},
		{"sha1 short", []client.Option{client.WithVariant(envelope.SHA1MGF1SHA1)}, short, 1, envelope.SHA1MGF1SHA1},
		{"sha1 long", []client.Option{client.WithVariant(envelope.SHA1MGF1SHA1)}, long, 4, envelope.SHA1MGF1SHA1},
		{"jwe oaep-256 a256gcm", []client.Option{client.WithJWE("RSA-OAEP-256", "A256GCM"), client.WithKeyID(testKeyID)}, long, 0, 0},
		{"jwe oaep a128gcm", []client.Option{client.WithJWE("RSA-OAEP", "A128GCM")}, short, 0, 0},
		{"too large for blocks", nil, huge, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.newClient(t, ts.URL, tt.opts...)
			var got map[string]any
			if err := c.Call(context.Background(), "echo", tt.params, &got); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.params) {
				t.Errorf("server decrypted %v, want %v", got, tt.params)
			}
			f.mu.Lock()
			enc := f.lastEncrypted
			f.mu.Unlock()
			if tt.blocks == 0 {
				if strings.Count(enc, ".") != 4 {
					t.Fatalf("want a JWE, got %.40q", enc)
				}
				return
			}
			ct, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				t.Fatal(err)
			}
			if len(ct) != tt.blocks*envelope.BlockSize {
				t.Errorf("%d bytes of ciphertext, want %d blocks", len(ct), tt.blocks)
			}
			if _, err := testKey().Decrypt(nil, ct[:envelope.BlockSize], variantOptions[tt.v]); err != nil {
				t.Errorf("the first block does not open with %v: %v", tt.v, err)
			}
		})
	}
}

func TestTypedCallsDecodeTheContractNames(t *testing.T) {
	f, ts := newFakeServer(t)
	c := f.newClient(t, ts.URL)
	ctx := context.Background()
	ci, err := c.GetCardInfo(ctx, "4111111111111111")
	if err != nil {
		t.Fatal(err)
	}
	if ci.PanLast4 != "1111" || ci.AccountFundingSource != "C" || !ci.IsChip || ci.IsDualBrand || ci.Vuid != "" || ci.CreatedAt.IsZero() {
		t.Errorf("CardInfo %+v", ci)
	}
	cs, err := c.ListCards(ctx, "vu_1", "")
	if err != nil {
		t.Fatal(err)
	}
	if cs.TotalCards != 1 || len(cs.Cards) != 1 || cs.Cards[0].PanLastFour != "1111" || cs.Cards[0].FundingSourceType != "C" ||
		cs.Cards[0].IsChip != 1 || cs.Cards[0].IsDualBrand != 0 {
		t.Errorf("Cards %+v", cs)
	}
	if err := c.AddCard(ctx, "vu_1", "card_1"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveCard(ctx, "vu_1", "card_1"); err != nil {
		t.Fatal(err)
	}
}

func TestHeadersAndReplayFields(t *testing.T) {
	f, ts := newFakeServer(t)
	c := f.newClient(t, ts.URL, client.WithLanguage("zh-CN"), client.WithReplayProtection())
	var got struct {
		Auid      string `json:"auid"`
		Timestamp int64  `json:"timestamp"`
		Nonce     string `json:"nonce"`
		AppID     string `json:"appId"`
	}
	if err := c.Call(context.Background(), "echo", map[string]string{"auid": "x"}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Auid != "x" || got.Timestamp != f.clock.Now().Unix() || len(got.Nonce) < 16 || got.AppID != testAppID {
		t.Errorf("payload %+v", got)
	}
	f.mu.Lock()
	h := f.lastHeader
	f.mu.Unlock()
	if h.Get("Accept-Language") != "zh-CN" || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", h)
	}
	var again struct{ Nonce string }
	_ = c.Call(context.Background(), "echo", map[string]string{}, &again)
	if again.Nonce == got.Nonce {
		t.Error("the nonce was reused")
	}
	if err := c.Call(context.Background(), "echo", []int{1}, nil); err == nil {
		t.Error("a non-object payload was sent with replay protection")
	}
}

func TestNewRejectsBadKeysAndOptions(t *testing.T) {
	pemBytes, _ := envelope.MarshalPublicKeyPEM(&testKey().PublicKey)
	if _, err := client.New("http://x", "a", "s", []byte("not a key")); err == nil {
		t.Error("a bad PEM was accepted")
	}
	if _, err := client.New("http://x", "a", "s", pemBytes, client.WithJWE("RSA1_5", "A128GCM")); err == nil {
		t.Error("an unaccepted JWE alg was accepted")
	}
	if _, err := client.New("http://x", "a", "s", pemBytes, client.WithVariant(envelope.Variant(9))); err == nil {
		t.Error("an unknown variant was accepted")
	}
	if _, err := client.New("", "a", "s", pemBytes); err == nil {
		t.Error("an empty base URL was accepted")
	}
	if !bytes.Contains(pemBytes, []byte("PUBLIC KEY")) {
		t.Fatal("test key PEM")
	}
}

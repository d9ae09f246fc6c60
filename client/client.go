// Package client is the Go SDK for partner apps of VSRP: it calls the App API (contract
// sections 4–6) with one shared access token and encrypted payloads.
//
// A Client is safe for concurrent use, and one Client per app and process is the intended use:
// the access token is fetched once and shared by every goroutine (the platform allows an app
// only 60 getToken answers an hour), refreshed a safety margin before it expires with a single
// refresh in flight, and re-fetched once when a call is answered 2002 or 2003.
//
// Every business call's parameters are encrypted with the app's RSA public key: RSA-OAEP blocks
// (segmented automatically) with the variant chosen by WithVariant, or a JWE with WithJWE.
// A call answered with a non-zero code returns an *Error carrying that code:
//
//	v, err := c.GetVuid(ctx, "008618612345678")
//	var e *client.Error
//	if errors.As(err, &e) && e.Code == client.CodeAuidInvalid { ... }
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vsrp-dev/vsrp/envelope"
)

// Codes of the contract's table (section 3) that callers of this package commonly test for.
const (
	CodeOK             = 0
	CodeMalformed      = 1001
	CodeMissingParam   = 1002
	CodeInvalidParam   = 1003
	CodeTooLarge       = 1004
	CodeUnknownAPI     = 1005
	CodeBadCredentials = 2001
	CodeTokenInvalid   = 2002
	CodeTokenExpired   = 2003
	CodeRefreshInvalid = 2004
	CodeRefreshExpired = 2005
	CodeIPDenied       = 2006
	CodeForbidden      = 2007
	CodeAppDisabled    = 2008
	CodeDecrypt        = 2009
	CodeAppMismatch    = 2010
	CodeRateLimited    = 2011
	CodeReplay         = 2012
	CodeVuidNotFound   = 3001
	CodeCardInvalid    = 3002
	CodeCardNoBIN      = 3003
	CodeCardBound      = 3004
	CodeCardNotFound   = 3005
	CodeAuidInvalid    = 3014
	CodeInternal       = 5000
	CodeUnavailable    = 5001
)

// DefaultRefreshMargin is how long before its expiry an access token is refreshed.
const DefaultRefreshMargin = 60 * time.Second

// fetchTimeout bounds one token fetch (getToken or refreshToken, with the fallback between
// them). The fetch is shared by every waiting caller, so it does not run under any one
// caller's context.
const fetchTimeout = 60 * time.Second

// retryRefresh is how long a still-valid access token is used after a refresh failed for
// another reason than a refused refresh token, before the refresh is tried again.
const retryRefresh = 5 * time.Second

// maxResponse bounds the response body read from the server.
const maxResponse = 16 << 20

// Error is an App API answer with a non-zero code. Message is the server's message, in the
// language asked for with WithLanguage; RequestID is the response's X-Request-Id, which the
// platform's operators need to find the call in their logs.
type Error struct {
	Code       int    // the contract's status code, e.g. 3001
	Message    string // the server's message; never parse it, test Code
	RequestID  string // the X-Request-Id of the answer
	HTTPStatus int    // 200 for every answer of an App API handler; 404, 405 or 413 otherwise
}

func (e *Error) Error() string {
	s := "vsrp: code " + strconv.Itoa(e.Code)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// IsCode reports whether err is, or wraps, an *Error with the code.
func IsCode(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Option configures a Client.
type Option func(*Client)

// WithKeyID sends keyId in every envelope (and as the JWE kid), so that the server tries only
// that key. Without it the server tries the app's current key, then keys in their rotation
// grace period.
func WithKeyID(keyID string) Option { return func(c *Client) { c.keyID = keyID } }

// WithHTTPClient sets the HTTP client; http.DefaultClient by default.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithVariant sets the RSA-OAEP parameters of block envelopes; envelope.SHA256MGF1SHA256 by
// default. Payloads longer than one block are split into segments automatically.
func WithVariant(v envelope.Variant) Option { return func(c *Client) { c.variant = v } }

// WithJWE sends every payload as a JWE compact serialization: alg "RSA-OAEP-256" or
// "RSA-OAEP", enc "A128GCM" or "A256GCM".
func WithJWE(alg, enc string) Option {
	return func(c *Client) { c.jwe, c.jweAlg, c.jweEnc = true, alg, enc }
}

// WithLanguage sets Accept-Language on every request ("zh-CN", "zh-HK", "zh-TW"), which
// selects the language of Error.Message. Codes never change with the language.
func WithLanguage(lang string) Option { return func(c *Client) { c.lang = lang } }

// WithClock sets the clock used to decide when a token needs refreshing and to stamp
// replay-protected payloads; time.Now by default. For tests.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithRefreshMargin sets how long before its expiry the access token is refreshed;
// DefaultRefreshMargin by default. The margin used never exceeds a quarter of the token's
// lifetime, so short-lived tokens are not refreshed on every call.
func WithRefreshMargin(d time.Duration) Option { return func(c *Client) { c.margin = d } }

// WithReplayProtection adds timestamp (unix seconds of the client's clock), a random nonce and
// appId to every payload, as apps with replay protection on must send (contract section 5).
// Params must then marshal to a JSON object.
func WithReplayProtection() Option { return func(c *Client) { c.replay = true } }

// Client calls the App API for one app. It is safe for concurrent use; share one.
type Client struct {
	baseURL   string
	appID     string
	appSecret string
	pub       *rsa.PublicKey
	keyID     string
	hc        *http.Client
	variant   envelope.Variant
	jwe       bool
	jweAlg    string
	jweEnc    string
	lang      string
	now       func() time.Time
	margin    time.Duration
	replay    bool

	mu     sync.Mutex
	tok    *token  // the shared token pair; nil before the first fetch
	flight *flight // the fetch in progress, if any
}

// token is a token pair as the client keeps it.
type token struct {
	access     string
	refresh    string
	refreshAt  time.Time // refresh the access token from this time on
	accessExp  time.Time
	refreshExp time.Time
}

// flight is one token fetch that every caller needing a token waits for.
type flight struct {
	done chan struct{}
	tok  *token
	err  error
}

// New returns a client of the app at baseURL (for example "https://vsrp.example.com"), with
// the app's credentials and its public key as PEM (SubjectPublicKeyInfo, as the platform gives
// it). It makes no request: the first call fetches the token.
func New(baseURL, appID, appSecret string, publicKeyPEM []byte, opts ...Option) (*Client, error) {
	if baseURL == "" || appID == "" || appSecret == "" {
		return nil, errors.New("client: baseURL, appID and appSecret are required")
	}
	pub, err := envelope.ParsePublicKeyPEM(publicKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c := &Client{
		baseURL: strings.TrimRight(baseURL, "/"), appID: appID, appSecret: appSecret, pub: pub,
		hc: http.DefaultClient, variant: envelope.SHA256MGF1SHA256, now: time.Now, margin: DefaultRefreshMargin,
	}
	for _, o := range opts {
		o(c)
	}
	if c.variant.MaxSegment() == 0 {
		return nil, fmt.Errorf("client: unknown %v", c.variant)
	}
	if c.jwe {
		// Fail now rather than on every call.
		if _, err := envelope.SealJWE(pub, c.keyID, []byte("{}"), c.jweAlg, c.jweEnc); err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
	}
	return c, nil
}

// AppID is the client's app id.
func (c *Client) AppID() string { return c.appID }

// AccessToken answers the shared access token, fetching or refreshing it when needed. Callers
// that send their own requests use it for the Authorization header.
func (c *Client) AccessToken(ctx context.Context) (string, error) {
	t, err := c.token(ctx)
	if err != nil {
		return "", err
	}
	return t.access, nil
}

// token answers a token that is not due for refresh, starting or joining the one fetch in
// flight when there is none.
func (c *Client) token(ctx context.Context) (*token, error) {
	c.mu.Lock()
	if t := c.tok; t != nil && c.now().Before(t.refreshAt) {
		c.mu.Unlock()
		return t, nil
	}
	f := c.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		c.flight = f
		old := c.tok
		// The fetch serves every waiter, so it must not end when the caller that started it
		// gives up; it keeps the caller's values (tracing) but not its cancellation.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		go func() {
			defer cancel()
			t, err := c.fetch(fctx, old)
			c.mu.Lock()
			if err == nil {
				c.tok = t
			}
			c.flight = nil
			c.mu.Unlock()
			f.tok, f.err = t, err
			close(f.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fetch gets a new pair: by refreshToken while old's refresh token lives, falling back to
// getToken when the refresh token is refused (2004, 2005). When a refresh fails otherwise
// (network, rate limit) and old's access token has not expired yet, old is kept so that calls
// go on until it does.
func (c *Client) fetch(ctx context.Context, old *token) (*token, error) {
	if old != nil && old.refresh != "" && c.now().Before(old.refreshExp) {
		t, err := c.tokenCall(ctx, "auth/refreshToken", map[string]string{"refreshToken": old.refresh})
		if err == nil {
			return t, nil
		}
		if !IsCode(err, CodeRefreshInvalid) && !IsCode(err, CodeRefreshExpired) {
			if now := c.now(); now.Before(old.accessExp) {
				kept := *old
				kept.refreshAt = now.Add(retryRefresh)
				if kept.refreshAt.After(old.accessExp) {
					kept.refreshAt = old.accessExp
				}
				return &kept, nil
			}
			return nil, err
		}
	}
	return c.tokenCall(ctx, "auth/getToken", map[string]string{"appId": c.appID, "appSecret": c.appSecret})
}

// tokenAnswer is getToken's and refreshToken's data.
type tokenAnswer struct {
	AccessToken           string `json:"accessToken"`
	AccessTokenExpiredAt  string `json:"accessTokenExpiredAt"`
	RefreshToken          string `json:"refreshToken"`
	RefereshToken         string `json:"refereshToken"` // the source document's spelling
	RefreshTokenExpiredAt string `json:"refreshTokenExpiredAt"`
	Scope                 string `json:"scope"`
}

func (c *Client) tokenCall(ctx context.Context, name string, req any) (*token, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var ans tokenAnswer
	hdr, err := c.post(ctx, name, "", body, &ans)
	if err != nil {
		return nil, err
	}
	if ans.RefreshToken == "" {
		ans.RefreshToken = ans.RefereshToken
	}
	if ans.AccessToken == "" {
		return nil, fmt.Errorf("client: %s answered no access token", name)
	}
	// The expiry times are the server's. They are moved onto this client's clock by the
	// answer's Date header, so that a skew between the two clocks makes a token neither look
	// expired at once (a refresh on every call) nor live longer than it does.
	now := c.now()
	skew := time.Duration(0)
	if date, err := http.ParseTime(hdr.Get("Date")); err == nil {
		skew = now.Sub(date)
	}
	t := &token{access: ans.AccessToken, refresh: ans.RefreshToken}
	exp, err := time.Parse(time.RFC3339, ans.AccessTokenExpiredAt)
	if err != nil {
		return nil, fmt.Errorf("client: %s: accessTokenExpiredAt: %w", name, err)
	}
	t.accessExp = exp.Add(skew)
	if ans.RefreshTokenExpiredAt != "" {
		exp, err := time.Parse(time.RFC3339, ans.RefreshTokenExpiredAt)
		if err != nil {
			return nil, fmt.Errorf("client: %s: refreshTokenExpiredAt: %w", name, err)
		}
		t.refreshExp = exp.Add(skew)
	}
	margin := c.margin
	if life := t.accessExp.Sub(now); life/4 < margin {
		margin = max(life/4, 0)
	}
	t.refreshAt = t.accessExp.Add(-margin)
	return t, nil
}

// invalidate forgets the access token the server refused, unless another caller already
// replaced it; the refresh token is kept, so the next token fetch tries it first.
func (c *Client) invalidate(access string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != nil && c.tok.access == access {
		t := *c.tok
		t.refreshAt, t.accessExp = time.Time{}, time.Time{}
		c.tok = &t
	}
}

// Encrypt seals a plaintext payload as the client's calls do (block envelope or JWE), for
// callers that build requests themselves. A block envelope too large for MaxBlocks blocks is
// sent as a JWE (RSA-OAEP-256, A256GCM) instead.
func (c *Client) Encrypt(plaintext []byte) (string, error) {
	if c.jwe {
		return envelope.SealJWE(c.pub, c.keyID, plaintext, c.jweAlg, c.jweEnc)
	}
	s, err := envelope.Seal(c.pub, plaintext, c.variant)
	if errors.Is(err, envelope.ErrTooLarge) {
		return envelope.SealJWE(c.pub, c.keyID, plaintext, "RSA-OAEP-256", "A256GCM")
	}
	return s, err
}

// Call makes an encrypted App API call and decodes its data into out (when out is not nil).
// name is the path after /api/v1/, e.g. "user/enroll"; a name without a slash is a user API
// ("listRewards" is "user/listRewards"). params marshals to the plaintext JSON object; nil
// sends {}. A non-zero code returns an *Error. A call answered 2002 or 2003 fetches a token
// again and is retried once.
func (c *Client) Call(ctx context.Context, name string, params any, out any) error {
	if !strings.Contains(name, "/") {
		name = "user/" + name
	}
	plain, err := c.plaintext(params)
	if err != nil {
		return err
	}
	sealed, err := c.Encrypt(plain)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	env := struct {
		EncryptedData string `json:"encryptedData"`
		AppID         string `json:"appId"`
		KeyID         string `json:"keyId,omitempty"`
	}{sealed, c.appID, c.keyID}
	body, err := json.Marshal(env)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		t, err := c.token(ctx)
		if err != nil {
			return err
		}
		_, err = c.post(ctx, name, t.access, body, out)
		if attempt == 0 && (IsCode(err, CodeTokenInvalid) || IsCode(err, CodeTokenExpired)) {
			c.invalidate(t.access)
			continue
		}
		return err
	}
}

// plaintext marshals params, adding the replay-protection fields when asked to.
func (c *Client) plaintext(params any) ([]byte, error) {
	if params == nil {
		params = struct{}{}
	}
	plain, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("client: params: %w", err)
	}
	if !c.replay {
		return plain, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(plain, &obj); err != nil || obj == nil {
		return nil, errors.New("client: params must be a JSON object with replay protection")
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	obj["timestamp"] = json.RawMessage(strconv.FormatInt(c.now().Unix(), 10))
	obj["nonce"], _ = json.Marshal(hex.EncodeToString(nonce))
	obj["appId"], _ = json.Marshal(c.appID)
	return json.Marshal(obj)
}

// answer is the App API's body.
type answer struct {
	Code    *int            `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// post sends one request, decodes its answer and answers the response's header.
func (c *Client) post(ctx context.Context, name, access string, body []byte, out any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+"/api/v1/"+name, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if access != "" {
		req.Header.Set("Authorization", "Bearer "+access)
	}
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("client: %s: reading the answer: %w", name, err)
	}
	reqID := resp.Header.Get("X-Request-Id")
	var ans answer
	if err := json.Unmarshal(raw, &ans); err != nil || ans.Code == nil {
		return nil, fmt.Errorf("client: %s: HTTP %d without a coded JSON answer (request %s)", name, resp.StatusCode, reqID)
	}
	if *ans.Code != CodeOK {
		return nil, &Error{Code: *ans.Code, Message: ans.Message, RequestID: reqID, HTTPStatus: resp.StatusCode}
	}
	if out != nil && len(ans.Data) > 0 && string(ans.Data) != "null" {
		if err := json.Unmarshal(ans.Data, out); err != nil {
			return nil, fmt.Errorf("client: %s: decoding data: %w (request %s)", name, err, reqID)
		}
	}
	return resp.Header, nil
}

// Vuid is getVuid's answer.
type Vuid struct {
	Vuid      string    `json:"vuid"`
	CreatedAt time.Time `json:"createdAt"`
}

// GetVuid answers the app's user for auid (the app's own user id, by default a phone number
// like 008618612345678), creating it on first sight; the same auid always answers the same
// vuid and createdAt. Errors: *Error with 3014 (auid invalid), 2002–2010.
func (c *Client) GetVuid(ctx context.Context, auid string) (*Vuid, error) {
	var v Vuid
	if err := c.Call(ctx, "user/getVuid", map[string]string{"auid": auid}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// CardInfo is getCardInfo's answer. Vuid is empty unless the card is bound to a user of this
// app.
type CardInfo struct {
	CardID               string    `json:"cardId"`
	Vuid                 string    `json:"vuid,omitempty"`
	BIN                  string    `json:"bin"`
	PanLast4             string    `json:"panLast4"`
	IssuerName           string    `json:"issuerName"`
	IssuerNameNative     string    `json:"issuerNameNative"`
	IssuingCountryCode   string    `json:"issuingCountryCode"`
	BID                  string    `json:"bid"`
	AccountFundingSource string    `json:"accountFundingSource"` // D debit, C credit, P prepaid
	ProductID            string    `json:"productId"`
	ProductName          string    `json:"productName"`
	ProductNameNative    string    `json:"productNameNative"`
	IsDualBrand          bool      `json:"isDualBrand"`
	IsChip               bool      `json:"isChip"`
	CreatedAt            time.Time `json:"createdAt"`
}

// GetCardInfo answers the card with the 16-digit PAN, creating it on its first look-up; later
// look-ups from any app answer the same cardId. Errors: *Error with 3002 (number invalid),
// 3003 (BIN not configured), 2007 (issuer not granted).
func (c *Client) GetCardInfo(ctx context.Context, pan string) (*CardInfo, error) {
	var ci CardInfo
	if err := c.Call(ctx, "user/getCardInfo", map[string]string{"pan": pan}, &ci); err != nil {
		return nil, err
	}
	return &ci, nil
}

// AddCard binds a card, named by its cardId or its PAN, to the app's user vuid; binding it
// again to the same vuid succeeds. Errors: *Error with 3001 (vuid unknown), 3002, 3003,
// 3004 (bound to another user of this app), 3005 (cardId unknown), 2007.
func (c *Client) AddCard(ctx context.Context, vuid, cardIDOrPAN string) error {
	return c.Call(ctx, "user/addCard", map[string]string{"vuid": vuid, "cardId": cardIDOrPAN}, nil)
}

// RemoveCard unbinds a card (cardId or PAN) from the app's user vuid; its enrollments and
// rewards stay. Errors: *Error with 3001, 3005 (also when not bound to that user).
func (c *Client) RemoveCard(ctx context.Context, vuid, cardIDOrPAN string) error {
	return c.Call(ctx, "user/removeCard", map[string]string{"vuid": vuid, "cardId": cardIDOrPAN}, nil)
}

// ListedCard is one card of listCards. Its names differ from CardInfo's as the source
// document has them: panLastFour, fundingSourceType, and 0/1 flags. CreatedAt is the binding
// time.
type ListedCard struct {
	CardID             string    `json:"cardId"`
	BIN                string    `json:"bin"`
	IssuingCountryCode string    `json:"issuingCountryCode"`
	PanLastFour        string    `json:"panLastFour"`
	BID                string    `json:"bid"`
	IssuerName         string    `json:"issuerName"`
	IssuerNameNative   string    `json:"issuerNameNative"`
	FundingSourceType  string    `json:"fundingSourceType"`
	ProductID          string    `json:"productId"`
	ProductName        string    `json:"productName"`
	ProductNameNative  string    `json:"productNameNative"`
	IsDualBrand        int       `json:"isDualBrand"`
	IsChip             int       `json:"isChip"`
	CreatedAt          time.Time `json:"createdAt"`
}

// Cards is listCards' answer.
type Cards struct {
	TotalCards int          `json:"totalCards"`
	Cards      []ListedCard `json:"cards"`
}

// ListCards lists the cards bound to the app's user vuid, newest binding first; a non-empty
// bid lists that issuer's cards only. Errors: *Error with 3001, 2007 (bid not granted).
func (c *Client) ListCards(ctx context.Context, vuid, bid string) (*Cards, error) {
	params := map[string]string{"vuid": vuid}
	if bid != "" {
		params["bid"] = bid
	}
	var cs Cards
	if err := c.Call(ctx, "user/listCards", params, &cs); err != nil {
		return nil, err
	}
	return &cs, nil
}

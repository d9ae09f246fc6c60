package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vsrp-dev/vsrp"
)

// appCall is one encrypted App API call: its scope and its handler over the decrypted
// payload (a JSON object).
type appCall struct {
	scope string
	fn    func(ctx context.Context, app *vsrp.App, payload []byte) (any, error)
}

// coded is the App API's answer body.
type coded struct {
	Code    vsrp.Code `json:"code"`
	Message string    `json:"message"`
	Data    any       `json:"data,omitempty"`
}

// writeCoded answers an App API call. The HTTP status is 200 whenever the request reached an
// App API handler; 1005 travels with 404 or 405 and an oversized body's 1004 with 413, which
// the caller sets through status.
func writeCoded(w http.ResponseWriter, r *http.Request, code vsrp.Code, data any) {
	writeCodedStatus(w, r, http.StatusOK, code, data)
}

func writeCodedStatus(w http.ResponseWriter, r *http.Request, status int, code vsrp.Code, data any) {
	outcomeOf(r.Context()).code = int(code)
	msg := vsrp.Message(code, vsrp.ParseAcceptLanguage(r.Header.Get("Accept-Language")))
	writeJSON(w, status, coded{Code: code, Message: msg, Data: data})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeErr answers err as its code; internal errors are logged with their cause under the
// request id and answered without detail.
func (a *API) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	code := vsrp.ErrorCode(err)
	if code == vsrp.CodeInternal || code == vsrp.CodeUnavailable {
		logger(r.Context()).Error("request failed", "code", int(code), "err", err)
	}
	var ce *vsrp.Error
	if code == vsrp.CodeNotClaimable && errors.As(err, &ce) && ce.Detail != "" {
		// claimReward's code 1 carries its reason in message (contract 6.10).
		outcomeOf(r.Context()).code = int(code)
		writeJSON(w, http.StatusOK, coded{Code: code, Message: ce.Detail})
		return
	}
	writeCoded(w, r, code, nil)
}

// serveApp routes /api/...: unknown paths 404 + 1005, other methods than POST 405 + 1005.
func (a *API) serveApp(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, "/api/v1/")
	known := ok && (name == "auth/getToken" || name == "auth/refreshToken")
	var call appCall
	if ok && !known {
		if n, isUser := strings.CutPrefix(name, "user/"); isUser && !strings.Contains(n, "/") {
			call, known = a.appCalls[n]
		}
		if a.cfg.Sandbox && name == "sandbox/simulateTransaction" {
			call, known = a.appCalls["sandbox/simulateTransaction"]
		}
	}
	if !known {
		writeCodedStatus(w, r, http.StatusNotFound, vsrp.CodeUnknownAPI, nil)
		return
	}
	outcomeOf(r.Context()).api = name
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeCodedStatus(w, r, http.StatusMethodNotAllowed, vsrp.CodeUnknownAPI, nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAppBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeCodedStatus(w, r, http.StatusRequestEntityTooLarge, vsrp.CodeTooLarge, nil)
			return
		}
		writeCoded(w, r, vsrp.CodeMalformed, nil)
		return
	}
	switch name {
	case "auth/getToken":
		a.getToken(w, r, body)
	case "auth/refreshToken":
		a.refreshToken(w, r, body)
	default:
		a.encrypted(w, r, call, body)
	}
}

// decodeParams decodes a JSON object into v: not an object → 1001; a field of the wrong type,
// or a value its type refuses (an amount that is not a decimal number) → 1003.
func decodeParams(payload []byte, v any) error {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || payload[0] != '{' {
		return vsrp.E(vsrp.CodeMalformed)
	}
	if err := json.Unmarshal(payload, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return vsrp.Errorf(vsrp.CodeInvalidParam, "%s has the wrong type", te.Field)
		}
		var se *json.SyntaxError
		if !errors.As(err, &se) { // the value itself is not kept: it may be anything (a PAN)
			return vsrp.Errorf(vsrp.CodeInvalidParam, "a parameter's value is not of its field's form")
		}
		return vsrp.E(vsrp.CodeMalformed)
	}
	return nil
}

// required answers 1002 when any of the named values is missing.
func required(vals ...*string) error {
	for _, v := range vals {
		if v == nil || *v == "" {
			return vsrp.E(vsrp.CodeMissingParam)
		}
	}
	return nil
}

type tokenAnswer struct {
	AccessToken           string `json:"accessToken"`
	AccessTokenExpiredAt  string `json:"accessTokenExpiredAt"`
	RefreshToken          string `json:"refreshToken"`
	RefereshToken         string `json:"refereshToken"` // the source document's spelling, kept for its clients
	RefreshTokenExpiredAt string `json:"refreshTokenExpiredAt"`
	Scope                 string `json:"scope"`
}

func (a *API) getToken(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		AppID     *string `json:"appId"`
		AppSecret *string `json:"appSecret"`
	}
	if err := decodeParams(body, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	if err := required(req.AppID, req.AppSecret); err != nil {
		a.writeErr(w, r, err)
		return
	}
	pair, err := a.p.GetToken(r.Context(), *req.AppID, *req.AppSecret, a.clientIP(r))
	if err != nil {
		a.writeErr(w, r, err) // the appId as sent is not logged: it may be anything (a secret, a PAN)
		return
	}
	outcomeOf(r.Context()).appID = *req.AppID
	writeCoded(w, r, vsrp.OK, a.tokenAnswer(pair.AccessToken, pair.AccessTokenExpiredAt, pair.RefreshToken, pair.RefreshTokenExpiredAt, pair.Scope))
}

func (a *API) refreshToken(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		RefreshToken  *string `json:"refreshToken"`
		RefereshToken *string `json:"refereshToken"`
	}
	if err := decodeParams(body, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	if req.RefreshToken == nil || *req.RefreshToken == "" {
		req.RefreshToken = req.RefereshToken
	}
	if err := required(req.RefreshToken); err != nil {
		a.writeErr(w, r, err)
		return
	}
	pair, err := a.p.Refresh(r.Context(), *req.RefreshToken, a.clientIP(r))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeCoded(w, r, vsrp.OK, a.tokenAnswer(pair.AccessToken, pair.AccessTokenExpiredAt, pair.RefreshToken, pair.RefreshTokenExpiredAt, pair.Scope))
}

func (a *API) tokenAnswer(access string, accessExp time.Time, refresh string, refreshExp time.Time, scope string) tokenAnswer {
	return tokenAnswer{AccessToken: access, AccessTokenExpiredAt: a.datetime(accessExp), RefreshToken: refresh,
		RefereshToken: refresh, RefreshTokenExpiredAt: a.datetime(refreshExp), Scope: scope}
}

// encrypted runs an encrypted call: bearer token, envelope, scope, decryption, replay check,
// then the call's handler.
func (a *API) encrypted(w http.ResponseWriter, r *http.Request, call appCall, body []byte) {
	ctx := r.Context()
	app, err := a.p.Authenticate(ctx, bearer(r), a.clientIP(r))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	outcomeOf(ctx).appID = app.ID
	var env struct {
		EncryptedData *string `json:"encryptedData"`
		AppID         *string `json:"appId"`
		KeyID         string  `json:"keyId"`
	}
	if err := decodeParams(body, &env); err != nil || env.EncryptedData == nil || env.AppID == nil {
		writeCoded(w, r, vsrp.CodeMalformed, nil)
		return
	}
	if *env.AppID != app.ID {
		writeCoded(w, r, vsrp.CodeAppMismatch, nil)
		return
	}
	if !app.HasScope(call.scope) {
		writeCoded(w, r, vsrp.CodeForbidden, nil)
		return
	}
	payload, err := a.p.Decrypt(ctx, app, env.KeyID, *env.EncryptedData)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	if p := bytes.TrimSpace(payload); len(p) == 0 || p[0] != '{' || !json.Valid(p) {
		writeCoded(w, r, vsrp.CodeMalformed, nil)
		return
	}
	if err := a.p.CheckReplay(ctx, app, payload); err != nil {
		a.writeErr(w, r, err)
		return
	}
	data, err := call.fn(ctx, app, payload)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeCoded(w, r, vsrp.OK, data)
}

// datetime formats a time in the deployment's zone, RFC 3339, seconds.
func (a *API) datetime(t time.Time) string {
	return t.In(a.cfg.Location).Format(time.RFC3339)
}

// nullableTime is a datetime or null when the time is not reached.
func (a *API) nullableTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := a.datetime(t)
	return &s
}

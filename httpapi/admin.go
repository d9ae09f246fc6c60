package httpapi

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
)

// adminError is the admin API's error body.
type adminError struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Details []vsrp.FieldError `json:"details,omitempty"`
	} `json:"error"`
}

func writeAdminError(w http.ResponseWriter, r *http.Request, status int, code, msg string, details []vsrp.FieldError) {
	var e adminError
	e.Error.Code, e.Error.Message, e.Error.Details = code, msg, details
	writeJSON(w, status, e)
}

// adminFail maps an error to the admin API's REST answer.
func (a *API) adminFail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg, details := adminAnswer(r, err)
	writeAdminError(w, r, status, code, msg, details)
}

// adminAnswer is the status, code, message and details that answer err; errors of the
// server's own are logged.
func adminAnswer(r *http.Request, err error) (int, string, string, []vsrp.FieldError) {
	var ve *vsrp.ValidationError
	var ce *vsrp.Error
	switch {
	case errors.As(err, &ve):
		return http.StatusBadRequest, "invalid", "the request has problems", ve.Problems
	case errors.Is(err, vsrp.ErrNotFound):
		return http.StatusNotFound, "not_found", "not found", nil
	case errors.Is(err, vsrp.ErrConflict):
		return http.StatusConflict, "conflict", err.Error(), nil
	case errors.As(err, &ce) && ce.Code == vsrp.CodeInvalidParam:
		return http.StatusBadRequest, "invalid", ce.Error(), nil
	case errors.As(err, &ce) && ce.Code == vsrp.CodeUnavailable:
		logger(r.Context()).Error("admin request failed", "err", err)
		return http.StatusServiceUnavailable, "unavailable", "storage unavailable, retry", nil
	default:
		logger(r.Context()).Error("admin request failed", "err", err)
		return http.StatusInternalServerError, "internal", "internal error; see the server log under the request id", nil
	}
}

// admin wraps an admin handler with the bearer check and the body limit.
func (a *API) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.adminAuthorized(r) {
			writeAdminError(w, r, http.StatusUnauthorized, "unauthorized", "admin token missing or wrong", nil)
			return
		}
		r.Body = withoutBOM(http.MaxBytesReader(w, r.Body, MaxAdminBody))
		h(w, r)
	}
}

// withoutBOM drops a UTF-8 byte-order mark at the start of a body: editors on Windows write
// one in front of CSV, JSON and YAML files alike, and it is no part of their content.
func withoutBOM(body io.ReadCloser) io.ReadCloser {
	br := bufio.NewReader(body)
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	return struct {
		io.Reader
		io.Closer
	}{br, body}
}

// adminStream is admin without the body limit, for streamed uploads that set their own.
func (a *API) adminStream(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.adminAuthorized(r) {
			writeAdminError(w, r, http.StatusUnauthorized, "unauthorized", "admin token missing or wrong", nil)
			return
		}
		h(w, r)
	}
}

func (a *API) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /admin/v1/apps", a.admin(a.createApp))
	mux.HandleFunc("GET /admin/v1/apps", a.admin(a.listApps))
	mux.HandleFunc("GET /admin/v1/apps/{appId}", a.admin(a.getApp))
	mux.HandleFunc("PATCH /admin/v1/apps/{appId}", a.admin(a.patchApp))
	mux.HandleFunc("POST /admin/v1/apps/{appId}/keys", a.admin(a.rotateKey))
	mux.HandleFunc("POST /admin/v1/apps/{appId}/secret", a.admin(a.rotateSecret))
	mux.HandleFunc("PUT /admin/v1/bins", a.admin(a.putBINs))
	mux.HandleFunc("GET /admin/v1/bins", a.admin(a.listBINs))
	mux.HandleFunc("PUT /admin/v1/campaigns/{campaignId}", a.admin(a.putCampaign))
	mux.HandleFunc("GET /admin/v1/campaigns/{campaignId}", a.admin(a.getCampaign))
	mux.HandleFunc("POST /admin/v1/transactions", a.adminStream(a.postTransactions))
	mux.HandleFunc("GET /admin/v1/rewards", a.admin(a.adminRewards))
	mux.HandleFunc("GET /admin/v1/bills", a.admin(a.listBills))
	mux.HandleFunc("POST /admin/v1/bills/{billId}/generate", a.admin(a.generateBill))
	mux.HandleFunc("POST /admin/v1/bills/{billId}/approve", a.admin(a.approveBill))
	mux.HandleFunc("POST /admin/v1/bills/{billId}/settle", a.admin(a.settleBill))
	mux.HandleFunc("POST /admin/v1/campaigns/{campaignId}/offers/{offerId}/codes", a.admin(a.addCodes))
	mux.HandleFunc("GET /admin/v1/notifications", a.admin(a.listNotifications))
	mux.HandleFunc("POST /admin/v1/notifications/{id}/redeliver", a.admin(a.redeliver))
}

// decodeAdmin reads a JSON body into v: bad JSON is a 400 naming the problem.
func decodeAdmin(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ve vsrp.ValidationError
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			ve.Add(te.Field, "wrong type: want %s", te.Type)
		} else {
			ve.Add("body", "not valid JSON: %v", err)
		}
		return &ve
	}
	return nil
}

// appView is an app as the admin API shows it: no secrets.
type appView struct {
	AppID            string   `json:"appId"`
	Name             string   `json:"name"`
	Scopes           []string `json:"scopes"`
	IPWhitelist      []string `json:"ipWhitelist"`
	NotifyURL        string   `json:"notifyUrl"`
	CampaignIDs      []string `json:"campaignIds"`
	BIDs             []string `json:"bids"`
	Enabled          bool     `json:"enabled"`
	ReplayProtection bool     `json:"replayProtection"`
	CreatedAt        string   `json:"createdAt"`
	UpdatedAt        string   `json:"updatedAt"`
}

func (a *API) appView(app *vsrp.App) appView {
	wl := make([]string, len(app.IPWhitelist))
	for i, p := range app.IPWhitelist {
		wl[i] = p.String()
	}
	return appView{AppID: app.ID, Name: app.Name, Scopes: app.Scopes, IPWhitelist: wl, NotifyURL: app.NotifyURL,
		CampaignIDs: app.CampaignIDs, BIDs: app.BIDs, Enabled: app.Enabled, ReplayProtection: app.ReplayProtection,
		CreatedAt: a.datetime(app.CreatedAt), UpdatedAt: a.datetime(app.UpdatedAt)}
}

func (a *API) createApp(w http.ResponseWriter, r *http.Request) {
	var spec platform.AppSpec
	if err := decodeAdmin(r, &spec); err != nil {
		a.adminFail(w, r, err)
		return
	}
	creds, err := a.p.CreateApp(r.Context(), spec)
	if err != nil {
		a.adminFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, creds)
}

func (a *API) listApps(w http.ResponseWriter, r *http.Request) {
	apps, err := a.p.Apps(r.Context())
	if err != nil {
		a.adminFail(w, r, err)
		return
	}
	out := make([]appView, len(apps))
	for i, app := range apps {
		out[i] = a.appView(app)
	}
	writeJSON(w, http.StatusOK, map[string]any{"apps": out})
}

func (a *API) getApp(w http.ResponseWriter, r *http.Request) {
	app, err := a.p.App(r.Context(), r.PathValue("appId"))
	if err != nil {
		a.adminFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.appView(app))
}

func (a *API) patchApp(w http.ResponseWriter, r *http.Request) {
	var spec platform.AppSpec
	if err := decodeAdmin(r, &spec); err != nil {
		a.adminFail(w, r, err)
		return
	}
	app, err := a.p.UpdateApp(r.Context(), r.PathValue("appId"), spec)
	if err != nil {
		a.adminFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.appView(app))
}

func (a *API) rotateKey(w http.ResponseWriter, r *http.Request) {
	k, err := a.p.RotateKey(r.Context(), r.PathValue("appId"))
	if err != nil {
		a.adminFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, k)
}

func (a *API) rotateSecret(w http.ResponseWriter, r *http.Request) {
	s, err := a.p.RotateSecret(r.Context(), r.PathValue("appId"))
	if err != nil {
		a.adminFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

func mediaType(r *http.Request) string {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt
}

func (a *API) putBINs(w http.ResponseWriter, r *http.Request) {
	var rows []vsrp.BIN
	var err error
	if mediaType(r) == "text/csv" {
		rows, err = parseBINCSV(r.Body)
	} else {
		err = decodeAdmin(r, &rows)
	}
	if err == nil {
		err = a.p.UpsertBINs(r.Context(), rows)
	}
	if err != nil {
		a.adminFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"upserted": len(rows)})
}

// parseBINCSV reads BIN rows from CSV with a header row of the JSON field names. Every bad
// cell is reported as rows[i].field, i counting data rows from 0.
func parseBINCSV(body io.Reader) ([]vsrp.BIN, error) {
	cr := csv.NewReader(body)
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	var ve vsrp.ValidationError
	if err != nil {
		ve.Add("header", "a header row of field names is required")
		return nil, &ve
	}
	known := map[string]bool{"bin": true, "bid": true, "issuerName": true, "issuerNameNative": true, "issuingCountryCode": true,
		"accountFundingSource": true, "productId": true, "productName": true, "productNameNative": true, "isDualBrand": true, "isChip": true}
	for i, h := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if !known[header[i]] {
			ve.Add("header["+strconv.Itoa(i)+"]", "unknown column %q", header[i])
		}
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	var rows []vsrp.BIN
	for i := 0; ; i++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			ve.Add(fmt.Sprintf("rows[%d]", i), "unreadable CSV: %v", err)
			break
		}
		obj := map[string]any{}
		for j, v := range rec {
			if j >= len(header) {
				break
			}
			switch header[j] {
			case "isDualBrand", "isChip":
				b, err := parseBool(v)
				if err != nil {
					ve.Add(fmt.Sprintf("rows[%d].%s", i, header[j]), "want true/false or 1/0")
				}
				obj[header[j]] = b
			default:
				obj[header[j]] = v
			}
		}
		buf, _ := json.Marshal(obj)
		var b vsrp.BIN
		_ = json.Unmarshal(buf, &b)
		rows = append(rows, b)
	}
	return rows, ve.Err()
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "y", "yes":
		return true, nil
	case "0", "false", "n", "no", "":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

func (a *API) listBINs(w http.ResponseWriter, r *http.Request) {
	bins, err := a.p.Store().BINs(r.Context())
	if err != nil {
		a.adminFail(w, r, err)
		return
	}
	if bins == nil {
		bins = []vsrp.BIN{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"bins": bins})
}

// readDocument reads a JSON or YAML (by Content-Type) body as JSON.
func readDocument(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	switch mediaType(r) {
	case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
		doc, err := yamlToJSON(body)
		if err != nil {
			var ve vsrp.ValidationError
			ve.Add("body", "not valid YAML: %v", err)
			return nil, &ve
		}
		return doc, nil
	}
	return bytes.TrimSpace(body), nil
}

func (a *API) putCampaign(w http.ResponseWriter, r *http.Request) {
	doc, err := readDocument(r)
	if err == nil {
		var res *platform.ApplyResult
		res, err = a.p.ApplyCampaign(r.Context(), r.PathValue("campaignId"), doc, r.URL.Query().Get("dryRun") == "true")
		if err == nil {
			writeJSON(w, http.StatusOK, res)
			return
		}
	}
	a.adminFail(w, r, err)
}

// intQuery reads an integer query parameter from lo to hi; absent, it answers def; anything
// else adds a problem to ve.
func intQuery(q url.Values, name string, def, lo, hi int, ve *vsrp.ValidationError) int {
	v := q.Get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		ve.Add(name, "must be an integer from %d to %d", lo, hi)
		return def
	}
	return n
}

func (a *API) getCampaign(w http.ResponseWriter, r *http.Request) {
	var ve vsrp.ValidationError
	version := intQuery(r.URL.Query(), "version", 0, 1, math.MaxInt32, &ve)
	if err := ve.Err(); err != nil {
		a.adminFail(w, r, err)
		return
	}
	doc, err := a.p.Campaign(r.Context(), r.PathValue("campaignId"), version)
	if err != nil {
		a.adminFail(w, r, err)
		return
	}
	w.Header().Set("X-Campaign-Version", strconv.Itoa(doc.Version))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(doc.Doc)
}

func itoa(i int) string { return strconv.Itoa(i) }

func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

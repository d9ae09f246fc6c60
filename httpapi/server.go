// Package httpapi serves VSRP over HTTP: the App API (/api/v1, coded JSON answers, encrypted
// payloads), the admin API (/admin/v1, REST status codes), health and metrics. It turns
// requests into platform calls and platform errors into the contract's answers; it holds no
// business rules of its own.
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/vault"
)

// Config holds what the HTTP layer needs to know of the deployment.
type Config struct {
	TrustedProxies []netip.Prefix // peers whose X-Forwarded-For is believed
	Location       *time.Location // the zone of every datetime answered
	AdminToken     string         // the admin API's bearer token (only its hash is kept)
	Sandbox        bool           // enables the sandbox-only endpoints
}

// Body limits of the contract (section 2) and of the admin API.
const (
	MaxAppBody   = 64 << 10
	MaxAdminBody = 32 << 20
)

// API is the HTTP face of a platform.
type API struct {
	p         *platform.Platform
	cfg       Config
	log       *slog.Logger
	adminHash [32]byte
	metrics   *metrics
	reg       *prometheus.Registry
	appCalls  map[string]appCall
}

// New builds the API. reg receives the API's metrics and is served at /metrics.
func New(p *platform.Platform, cfg Config, log *slog.Logger, reg *prometheus.Registry) *API {
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	a := &API{p: p, cfg: cfg, log: log, adminHash: sha256.Sum256([]byte(cfg.AdminToken)), reg: reg, metrics: newMetrics(reg)}
	a.appCalls = a.userCalls()
	return a
}

// Handler answers every route.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", a.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
	mux.Handle("/api/", http.HandlerFunc(a.serveApp))
	a.adminRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeAdminError(w, r, http.StatusNotFound, "not_found", "no such path", nil)
	})
	return a.withRequest(mux)
}

func (a *API) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := a.p.Store().Ready(ctx); err != nil {
		logger(r.Context()).Warn("not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// clientIP is the TCP peer, or, when the peer is a trusted proxy, the right-most address of
// X-Forwarded-For that is not a trusted proxy.
func (a *API) clientIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !a.trusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{} // a hop we cannot read hides the client: no address, which no whitelist holds
		}
		addr = addr.Unmap()
		if !a.trusted(addr) {
			return addr
		}
		peer = addr
	}
	return peer
}

func (a *API) trusted(addr netip.Addr) bool {
	for _, p := range a.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// bearer answers the token of an "Authorization: Bearer …" header; the scheme name is
// case-insensitive (RFC 7235).
func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// logPath is the request path as logged: card numbers sent in a URL by mistake are masked,
// so no PAN ever reaches the log: six digits or more in a row, and grouped runs of twelve
// digits or more ("4111 1111 1111 1111", "4111-1111-…", "4111/1111/…"; a date like 2027-01-01
// stays).
func logPath(p string) string { return vsrp.MaskDigits(p, 6) }

func (a *API) adminAuthorized(r *http.Request) bool {
	tok := bearer(r)
	if tok == "" || a.cfg.AdminToken == "" {
		return false
	}
	got := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(got[:], a.adminHash[:]) == 1
}

// --- request context: id, logger, outcome ---

type ctxKey int

const (
	keyLogger ctxKey = iota
	keyOutcome
)

// outcome is filled by handlers for the access log and the metrics.
type outcome struct {
	api   string
	code  int
	appID string
}

func logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(keyLogger).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

func outcomeOf(ctx context.Context) *outcome {
	if o, ok := ctx.Value(keyOutcome).(*outcome); ok {
		return o
	}
	return &outcome{}
}

// wellFormedID accepts a client's request id of 1–64 characters [A-Za-z0-9._-] that holds
// nothing that could be a card or phone number: the id goes on every log line of its request,
// and a partner may well use an order reference or its auid as one. An id with a run of 11
// digits or more (a mobile number without its country code), or of 12 or more grouped by dots,
// dashes or underscores (a PAN written "4111-1111-1111-1111"), is replaced by the server's own,
// which the answer's X-Request-Id then carries.
func wellFormedID(s string) bool {
	if len(s) == 0 || len(s) > 64 || vsrp.MaskDigits(s, 11) != s {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController reach the connection (deadlines of long uploads).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// withRequest gives every request an id (echoing a well-formed X-Request-Id), a logger that
// puts the id on every line, an access log line without bodies, metrics, and recovery from
// panics.
func (a *API) withRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !wellFormedID(id) {
			id = vault.NewID("req_")
		}
		w.Header().Set("X-Request-Id", id)
		log := a.log.With("request_id", id)
		out := &outcome{code: -1}
		ctx := context.WithValue(context.WithValue(r.Context(), keyLogger, log), keyOutcome, out)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				log.Error("panic in handler", "panic", v)
				if sw.status == 0 {
					if strings.HasPrefix(r.URL.Path, "/api/") {
						writeCoded(sw, r.WithContext(ctx), 5000, nil)
					} else {
						writeAdminError(sw, r, http.StatusInternalServerError, "internal", "internal error", nil)
					}
				}
			}
			elapsed := time.Since(start)
			api := out.api
			if api == "" {
				api = routeLabel(r)
			}
			a.metrics.observe(api, sw.status, out.code, elapsed)
			attrs := []any{"method", r.Method, "path", logPath(r.URL.Path), "status", sw.status, "duration_ms", float64(elapsed.Microseconds()) / 1000}
			if out.code >= 0 {
				attrs = append(attrs, "code", out.code)
			}
			if out.appID != "" {
				attrs = append(attrs, "app_id", out.appID)
			}
			log.Info("request", attrs...)
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// routeLabel keeps the metrics' label set small: ids in admin paths are not labels.
func routeLabel(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/admin/"):
		if r.Pattern != "" {
			return r.Pattern
		}
		return "admin"
	case p == "/healthz" || p == "/readyz" || p == "/metrics":
		return p
	}
	return "other"
}

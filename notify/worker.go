package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vsrp-dev/vsrp/store"
)

// Store is the outbox as the worker uses it; *store.Store implements it. See the store's
// methods for the lease rules.
type Store interface {
	ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*store.Notification, error)
	MarkDelivered(ctx context.Context, id string, attempts, httpStatus int, now time.Time) error
	MarkRetry(ctx context.Context, id string, attempts int, nextAt time.Time, httpStatus int, errText string, now time.Time) error
	MarkFailed(ctx context.Context, id string, attempts, httpStatus int, errText string, now time.Time) error
}

// DefaultLease is how long an attempt holds its notification by default: its timeout (10 s,
// contract 7) and a margin for writing its outcome, and short enough that a message claimed
// by a node that died is sent again within 30 seconds (contract 7: the first retry within 30
// seconds). A longer Timeout lengthens the lease by as much.
const (
	defaultTimeout = 10 * time.Second
	leaseMargin    = 15 * time.Second
	DefaultLease   = defaultTimeout + leaseMargin
)

// PermanentError is a failure that retrying cannot mend: the notification fails at once,
// without the rest of its schedule. Secrets may answer one (see Permanent), for instance for
// an app that no longer exists; the worker makes one for a URL that is not absolute http(s).
// Every other failure is retried.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as a failure that retrying cannot mend.
func Permanent(err error) error { return &PermanentError{Err: err} }

// Target is where an app's webhooks go and what signs them, as the app is set now.
type Target struct {
	URL     string   // the app's notifyUrl; "" keeps the URL stored with the notification
	Secrets []string // the current signing secret ("whsec_…"), then the previous one in its grace period
}

// Config holds a Worker's dependencies and settings. Store and Target are required; every
// other field has a default.
type Config struct {
	Store Store
	// Target answers an app's webhook target, read for every attempt (so that retries and
	// redeliveries follow a corrected notifyUrl and a rotated secret), from several goroutines
	// at once. It may answer a Permanent error (the app disabled, gone, or without a URL). Its
	// error is logged but not stored.
	Target func(ctx context.Context, appID string) (Target, error)
	// Clock answers the current time (default time.Now). Due times, leases, schedules and the
	// webhook-timestamp header all come from it; waiting between polls is in real time.
	Clock func() time.Time
	// Client sends the requests. Default NewClient(AllowPrivate). A client of one's own must
	// refuse redirects and, where needed, private destinations itself.
	Client *http.Client
	// AllowPrivate lets webhooks go to loopback, private and link-local destinations
	// (--webhook-allow-private: sandboxes and tests). Only used to build the default Client.
	AllowPrivate bool
	// Logger receives one line per attempt (id, app, attempt, HTTP status, outcome), never a
	// secret, signature, URL or body. Default: discard.
	Logger *slog.Logger
	// Rand answers a random number in [0, 1) for the policy's jitter; it is called from
	// several goroutines at once. Default math/rand/v2.Float64.
	Rand func() float64
	// Policy is the retry schedule; default DefaultPolicy() (when Steps is empty).
	Policy Policy
	// Lease is how long a claimed notification is held (default 60 s). It must exceed Timeout:
	// an attempt is over, and recorded, long before another worker may take the row.
	Lease time.Duration
	// Timeout bounds one attempt: connecting, sending and reading the answer (default 10 s).
	Timeout time.Duration
	// Concurrency is how many attempts may be in flight at once (default 64): with receivers
	// that answer in 100 ms, about 640 notifications a second. The worker claims only as many
	// rows as it can start at once, so a claimed row never waits for a slot.
	Concurrency int
	// PollInterval is how often the worker looks for due rows when not woken (default 1 s).
	PollInterval time.Duration
}

// Worker delivers due notifications. Several workers may run on one database, in one process
// or many. Its methods are safe for concurrent use.
type Worker struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}
}

// New answers a worker, or an error when a required dependency is missing or the lease does
// not exceed the timeout.
func New(cfg Config) (*Worker, error) {
	if cfg.Store == nil || cfg.Target == nil {
		return nil, errors.New("notify: Config needs Store and Target")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Client == nil {
		cfg.Client = NewClient(cfg.AllowPrivate)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if len(cfg.Policy.Steps) == 0 {
		cfg.Policy = DefaultPolicy()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.Lease <= 0 {
		cfg.Lease = cfg.Timeout + leaseMargin
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Lease <= cfg.Timeout {
		return nil, fmt.Errorf("notify: lease %v must exceed the attempt timeout %v", cfg.Lease, cfg.Timeout)
	}
	return &Worker{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1)}, nil
}

// Wake makes a running worker look for due rows now rather than at its next poll. The
// platform calls it after committing a transaction that enqueued notifications, so their first
// attempt leaves at once. It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers notifications until ctx ends: it claims due rows whenever it is woken, every
// PollInterval, and as attempts finish while more may be due, and runs up to Concurrency
// attempts at once. Errors from the store are logged and retried at the next poll. When ctx
// ends it stops claiming and returns once the attempts in flight have finished and been
// recorded (each within Timeout), so no lease is left to expire. It answers nil.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, w.cfg.Concurrency) // one token per attempt in flight
	freed := make(chan struct{}, 1)
	tick := time.NewTicker(w.cfg.PollInterval)
	defer tick.Stop()
	// In-flight attempts outlive ctx: cut off, they would leave the receiver's answer
	// unrecorded and the row leased, to be sent again later.
	attemptCtx := context.WithoutCancel(ctx)
	for {
		if ctx.Err() != nil {
			return nil
		}
		busy := false // every slot taken: more may be due once one frees
		if free := cap(slots) - len(slots); free > 0 {
			ns, err := w.cfg.Store.ClaimDue(ctx, w.cfg.Clock(), w.cfg.Lease, free)
			if err != nil && ctx.Err() == nil {
				w.log.Error("webhook claim failed", "error", err)
			}
			for _, n := range ns {
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					w.deliver(attemptCtx, n)
					<-slots
					select {
					case freed <- struct{}{}:
					default:
					}
				}()
			}
			busy = len(ns) == free
		} else {
			busy = true
		}
		var freedC <-chan struct{}
		if busy {
			freedC = freed
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		case <-tick.C:
		case <-freedC:
			// Saturated: rather than one claim per finished attempt, let a few more finish
			// so that one claim fills several slots. The wait is short next to an attempt.
			w.gather(ctx, slots, freed)
		}
	}
}

// gatherWait bounds how long a saturated worker waits for slots to free before claiming.
const gatherWait = 5 * time.Millisecond

// gather waits, up to gatherWait, until a quarter of the slots are free.
func (w *Worker) gather(ctx context.Context, slots chan struct{}, freed <-chan struct{}) {
	want := max(cap(slots)/4, 1)
	if cap(slots)-len(slots) >= want {
		return
	}
	timer := time.NewTimer(gatherWait)
	defer timer.Stop()
	for cap(slots)-len(slots) < want {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case <-freed:
		}
	}
}

// RunOnce delivers what is due at the clock's current time and returns when every attempt it
// made has been recorded, answering how many it made. It claims Concurrency rows at a time
// until a claim comes back short; a failed attempt is due again one second later at the
// earliest, so with a clock that stands still RunOnce makes at most one attempt per row.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	total := 0
	for {
		ns, err := w.cfg.Store.ClaimDue(ctx, w.cfg.Clock(), w.cfg.Lease, w.cfg.Concurrency)
		if err != nil {
			return total, err
		}
		var wg sync.WaitGroup
		for _, n := range ns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.deliver(ctx, n)
			}()
		}
		wg.Wait()
		total += len(ns)
		if len(ns) < w.cfg.Concurrency {
			return total, nil
		}
	}
}

// outcome is what one attempt came to. text is what operators see as last_error and what the
// log says: it never holds a secret, a signature, the URL or the body. cause, when set, is a
// detail for the log only.
type outcome struct {
	ok        bool
	status    int // HTTP status; 0 when no response came back
	text      string
	permanent bool
	cause     error
}

// maxErrorText bounds last_error.
const maxErrorText = 300

// maxAnswer bounds how much of the receiver's answer is read: {"code":0,...} is short.
const maxAnswer = 64 << 10

// deliver makes one attempt and records it.
func (w *Worker) deliver(ctx context.Context, n *store.Notification) {
	o := w.attempt(ctx, n)
	now := w.cfg.Clock()
	log := w.log.With("id", n.ID, "app", n.AppID, "attempt", n.Attempts, "status", o.status)
	if o.cause != nil {
		log = log.With("cause", o.cause.Error())
	}
	// Recording must not be cut short by the attempt's deadline, only bounded.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.Timeout)
	defer cancel()
	var err error
	switch {
	case o.ok:
		err = w.cfg.Store.MarkDelivered(mctx, n.ID, n.Attempts, o.status, now)
		if err == nil {
			log.Info("webhook delivered")
		}
	case o.permanent || w.cfg.Policy.GiveUp(firstAttempt(n, now), now):
		err = w.cfg.Store.MarkFailed(mctx, n.ID, n.Attempts, o.status, o.text, now)
		if err == nil {
			log.Warn("webhook failed, no more retries", "error", o.text)
		}
	default:
		next := now.Add(w.cfg.Policy.Next(n.Attempts-n.BaseAttempts, w.cfg.Rand()))
		err = w.cfg.Store.MarkRetry(mctx, n.ID, n.Attempts, next, o.status, o.text, now)
		if err == nil {
			log.Info("webhook attempt failed, will retry", "error", o.text, "next", next)
		}
	}
	switch {
	case errors.Is(err, store.ErrLeaseLost):
		log.Warn("webhook result not recorded: the lease was lost", "delivered", o.ok)
	case err != nil:
		log.Error("webhook result not recorded", "delivered", o.ok, "error", err)
	}
}

// firstAttempt answers when n's schedule began; ClaimDue sets it, now stands in otherwise.
func firstAttempt(n *store.Notification, now time.Time) time.Time {
	if n.FirstAttemptAt.IsZero() {
		return now
	}
	return n.FirstAttemptAt
}

// attempt signs and posts n once, all of it within the attempt's timeout: the look-up of the
// target too, for an attempt that outlived its lease could send while another worker, having
// taken the row over, sends it as well.
func (w *Worker) attempt(ctx context.Context, n *store.Notification) outcome {
	actx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	target, err := w.cfg.Target(actx, n.AppID)
	if err != nil {
		var perm *PermanentError
		return outcome{permanent: errors.As(err, &perm), text: "webhook secret unavailable", cause: err}
	}
	dest, secrets := target.URL, target.Secrets
	if dest == "" {
		dest = n.URL
	}
	u, err := url.Parse(dest)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return outcome{permanent: true, text: "notify URL is not an absolute http or https URL"}
	}
	body := []byte(n.Body)
	ts := w.cfg.Clock()
	sig, err := SignAll(secrets, n.ID, ts, body)
	if err != nil {
		return outcome{text: "cannot sign: " + strings.TrimPrefix(err.Error(), "notify: ")}
	}

	req, err := http.NewRequestWithContext(actx, http.MethodPost, dest, bytes.NewReader(body))
	if err != nil {
		return outcome{permanent: true, text: "notify URL is not usable"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vsrp-webhook/1")
	req.Header.Set("webhook-id", n.ID)
	req.Header.Set("webhook-timestamp", fmt.Sprint(ts.Unix()))
	req.Header.Set("webhook-signature", sig)
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return outcome{text: transportText(err, w.cfg.Timeout)}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	o := outcome{status: resp.StatusCode}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		o.text = fmt.Sprintf("HTTP %d: redirects are not followed", resp.StatusCode)
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		o.text = fmt.Sprintf("HTTP %d", resp.StatusCode)
	case err != nil:
		o.text = fmt.Sprintf("HTTP %d: reading the answer: %s", resp.StatusCode, transportText(err, w.cfg.Timeout))
	default:
		var a struct {
			Code *int64 `json:"code"`
		}
		// A byte-order mark is not part of the JSON (RFC 8259 lets parsers ignore it): PHP
		// files saved by Windows editors send one before whatever they print.
		switch err := json.Unmarshal(bytes.TrimPrefix(answer, []byte("\ufeff")), &a); {
		case err != nil || a.Code == nil:
			o.text = fmt.Sprintf("HTTP %d: the answer is not JSON with a numeric code", resp.StatusCode)
		case *a.Code != 0:
			o.text = fmt.Sprintf("HTTP %d: answer code %d", resp.StatusCode, *a.Code)
		default:
			o.ok = true
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer)) // lets the connection be reused
	o.text = clip(o.text)
	return o
}

// transportText describes a failure to get an answer without the URL (which may carry an
// app's token in its query) that *url.Error would add.
func transportText(err error, timeout time.Duration) string {
	switch {
	case errors.Is(err, ErrDestinationNotAllowed):
		return "refused: " + ErrDestinationNotAllowed.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %v", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return clip(err.Error())
}

// clip cuts s to maxErrorText bytes at a rune boundary.
func clip(s string) string {
	if len(s) <= maxErrorText {
		return s
	}
	cut := maxErrorText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

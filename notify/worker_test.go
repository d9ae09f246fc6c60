package notify_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/notify"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// base is the tests' clock start, at the store's microsecond precision.
var base = time.Date(2026, time.March, 14, 9, 26, 53, 589793000, time.UTC)

// clock is a clock that moves only when a test moves it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// delivery is one request a receiver got.
type delivery struct {
	path   string
	header http.Header
	body   string
}

// receiver is a partner's webhook endpoint: it records every request and answers what
// answer says for the i-th (from 0).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []delivery
	answer func(i int, w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T, answer func(i int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		i := len(rc.got)
		rc.got = append(rc.got, delivery{path: r.URL.Path, header: r.Header.Clone(), body: string(body)})
		rc.mu.Unlock()
		rc.answer(i, w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// answerJSON answers with a status and a JSON body.
func answerJSON(status int, body string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

var accept = answerJSON(200, `{"code":0,"message":"success"}`)

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// bundle is what a worker test works with.
type bundle struct {
	s       *store.Store
	clock   *clock
	recv    *receiver
	w       *notify.Worker
	logs    *syncBuffer
	secrets []string
}

// setup makes a worker on s with a fake clock, a jitter draw of 0.5, private destinations
// allowed (the receiver is on loopback) and a JSON log; change adjusts the config.
func setup(t *testing.T, s *store.Store, answer func(int, http.ResponseWriter, *http.Request), change func(*notify.Config)) *bundle {
	t.Helper()
	b := &bundle{s: s, clock: &clock{now: base}, recv: newReceiver(t, answer), logs: &syncBuffer{}, secrets: []string{newSecret(t)}}
	cfg := notify.Config{
		Store:        s,
		Target:       func(context.Context, string) (notify.Target, error) { return notify.Target{Secrets: b.secrets}, nil },
		Clock:        b.clock.Now,
		AllowPrivate: true,
		Logger:       slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Rand:         func() float64 { return 0.5 },
	}
	if change != nil {
		change(&cfg)
	}
	w, err := notify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.w = w
	return b
}

// enqueue writes a notification to the receiver (at path) at the clock's now.
func (b *bundle) enqueue(t *testing.T, reward string) *store.Notification {
	t.Helper()
	n := &store.Notification{AppID: "app_1", RewardID: reward, URL: b.recv.URL + "/api/v1/reward/notification?token=s3cr3t-in-url",
		CreatedAt: b.clock.Now()}
	if err := b.s.WriteTx(t.Context(), func(tx *store.Tx) error { return tx.Enqueue(n) }); err != nil {
		t.Fatal(err)
	}
	return n
}

// runOnce runs the worker once and checks how many attempts it made.
func (b *bundle) runOnce(t *testing.T, want int) {
	t.Helper()
	got, err := b.w.RunOnce(t.Context())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if got != want {
		t.Fatalf("RunOnce made %d attempts, want %d", got, want)
	}
}

func (b *bundle) read(t *testing.T, id string) *store.Notification {
	t.Helper()
	n, err := b.s.Notification(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkLogs fails when the log holds a secret, a signature, the body or the URL.
func (b *bundle) checkLogs(t *testing.T, n *store.Notification) {
	t.Helper()
	logs := b.logs.String()
	if !strings.Contains(logs, n.ID) {
		t.Errorf("the log does not name %s:\n%s", n.ID, logs)
	}
	secret := []string{n.Body, "s3cr3t-in-url", b.recv.URL}
	for _, s := range b.secrets {
		secret = append(secret, s, strings.TrimPrefix(s, "whsec_"))
	}
	for _, d := range b.recv.deliveries() {
		for _, sig := range strings.Split(d.header.Get("webhook-signature"), " ") {
			secret = append(secret, sig, strings.TrimPrefix(sig, "v1,"))
		}
	}
	for _, s := range secret {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the log holds %q:\n%s", s, logs)
		}
	}
}

// A receiver that fails three times and then accepts gets four attempts of one message, at
// growing gaps, each signed, and the notification ends delivered.
func TestRetriesUntilDelivered(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		b := setup(t, s, func(i int, w http.ResponseWriter, r *http.Request) {
			switch i {
			case 0:
				answerJSON(500, `{"code":5000}`)(i, w, r)
			case 1:
				answerJSON(200, `{"code":1,"message":"busy"}`)(i, w, r)
			case 2:
				answerJSON(503, ``)(i, w, r)
			default:
				accept(i, w, r)
			}
		}, nil)
		n := b.enqueue(t, "rwd_1")
		var times []time.Time
		for i := range 4 {
			times = append(times, b.clock.Now())
			b.runOnce(t, 1)
			row := b.read(t, n.ID)
			if row.Attempts != i+1 {
				t.Fatalf("after attempt %d: Attempts = %d", i+1, row.Attempts)
			}
			if i == 3 {
				break
			}
			if row.Status != store.NotificationPending || row.LastError == "" {
				t.Fatalf("after failed attempt %d: %+v", i+1, row)
			}
			// Not due a moment before its time, due at it.
			b.clock.Set(row.NextAttemptAt.Add(-time.Millisecond))
			b.runOnce(t, 0)
			b.clock.Set(row.NextAttemptAt)
		}
		row := b.read(t, n.ID)
		if row.Status != store.NotificationDelivered || row.LastStatus != 200 || row.LastError != "" {
			t.Errorf("final row: %+v", row)
		}

		got := b.recv.deliveries()
		if len(got) != 4 {
			t.Fatalf("%d deliveries, want 4", len(got))
		}
		var gaps []time.Duration
		for i, d := range got {
			h := d.header
			if h.Get("webhook-id") != n.ID || d.body != `{"rewardId":"rwd_1"}` || d.path != "/api/v1/reward/notification" ||
				h.Get("Content-Type") != "application/json" {
				t.Errorf("delivery %d: id %q body %q path %q content-type %q", i, h.Get("webhook-id"), d.body, d.path,
					h.Get("Content-Type"))
			}
			if ts := h.Get("webhook-timestamp"); ts != strconv.FormatInt(times[i].Unix(), 10) {
				t.Errorf("delivery %d: webhook-timestamp %s, want %d", i, ts, times[i].Unix())
			}
			if !verifyWebhook(b.secrets[0], h, d.body) {
				t.Errorf("delivery %d: the signature does not verify", i)
			}
			if i > 0 {
				gaps = append(gaps, times[i].Sub(times[i-1]))
			}
		}
		// The policy's steps, each shortened by a tenth (jitter 0.2 × draw 0.5).
		want := []time.Duration{27 * time.Second, 108 * time.Second, 9 * time.Minute}
		for i := range want {
			if gaps[i] != want[i] {
				t.Errorf("gap %d = %v, want %v (gaps %v)", i+1, gaps[i], want[i], gaps)
			}
		}
		b.checkLogs(t, n)
	})
}

// An answer is a success only when it is HTTP 2xx with a JSON body whose code is 0.
func TestAnswersThatAreNotSuccess(t *testing.T) {
	redirected := make(chan struct{}, 10)
	cases := []struct {
		name       string
		answer     func(int, http.ResponseWriter, *http.Request)
		status     int
		errContain string
	}{
		{"code 1", answerJSON(200, `{"code":1,"message":"no"}`), 200, "code 1"},
		{"redirect", func(_ int, w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/moved" {
				redirected <- struct{}{}
				accept(0, w, r)
				return
			}
			http.Redirect(w, r, "/moved", http.StatusFound)
		}, 302, "redirects are not followed"},
		{"not JSON", answerJSON(200, `OK`), 200, "not JSON"},
		{"no code", answerJSON(200, `{"message":"success"}`), 200, "not JSON with a numeric code"},
		{"code as text", answerJSON(200, `{"code":"0"}`), 200, "not JSON with a numeric code"},
		{"no content", answerJSON(204, ``), 204, "not JSON"},
		{"server error with code 0", answerJSON(500, `{"code":0}`), 500, "HTTP 500"},
		{"client error", answerJSON(404, `{"code":0}`), 404, "HTTP 404"},
	}
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				// Every receiver here answers: the timeout only bounds a hung test (and a slow
				// answer under load must not be taken for none; TestAnswerTimeout covers that).
				b := setup(t, s, c.answer, func(cfg *notify.Config) { cfg.Timeout = 30 * time.Second })
				checkFirstFailure(t, b, "rwd_"+c.name, c.status, c.errContain)
			})
		}
	})
	if len(redirected) != 0 {
		t.Error("a redirect was followed")
	}
}

// A receiver that never answers is a failure once the attempt's timeout has passed, retried
// like any other.
func TestAnswerTimeout(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		never := make(chan struct{})
		b := setup(t, s, func(_ int, w http.ResponseWriter, r *http.Request) {
			select { // no answer: the attempt ends only by its timeout
			case <-r.Context().Done():
			case <-never:
			}
		}, func(cfg *notify.Config) { cfg.Timeout = 200 * time.Millisecond })
		t.Cleanup(func() { close(never) }) // before the receiver closes, which waits for its handlers
		checkFirstFailure(t, b, "rwd_timeout", 0, "no answer within 200ms")
	})
}

// checkFirstFailure enqueues a notification, makes one attempt, and checks that it was
// recorded as a failure to retry soon, with the HTTP status and an error holding errContain,
// and that neither the error nor the log gives a secret away.
func checkFirstFailure(t *testing.T, b *bundle, reward string, status int, errContain string) {
	t.Helper()
	n := b.enqueue(t, reward)
	b.runOnce(t, 1)
	row := b.read(t, n.ID)
	if row.Status != store.NotificationPending || row.Attempts != 1 || row.LastStatus != status ||
		!strings.Contains(row.LastError, errContain) {
		t.Errorf("row: status %s attempts %d last_status %d last_error %q; want pending, 1, %d, …%s…",
			row.Status, row.Attempts, row.LastStatus, row.LastError, status, errContain)
	}
	if gap := row.NextAttemptAt.Sub(b.clock.Now()); gap <= 0 || gap > 30*time.Second {
		t.Errorf("first retry in %v, want within 30 s", gap)
	}
	if strings.Contains(row.LastError, "s3cr3t-in-url") {
		t.Errorf("last_error shows the URL: %q", row.LastError)
	}
	b.checkLogs(t, n)
}

// Loopback destinations are refused at send time unless private destinations are allowed,
// and nothing reaches them.
func TestPrivateDestinationRefused(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		b := setup(t, s, accept, func(cfg *notify.Config) { cfg.AllowPrivate = false })
		byIP := b.enqueue(t, "rwd_ip")
		byName := &store.Notification{AppID: "app_1", RewardID: "rwd_name", CreatedAt: b.clock.Now(),
			URL: strings.Replace(b.recv.URL, "127.0.0.1", "localhost", 1) + "/hook"}
		if err := s.WriteTx(t.Context(), func(tx *store.Tx) error { return tx.Enqueue(byName) }); err != nil {
			t.Fatal(err)
		}
		b.runOnce(t, 2)
		for _, n := range []*store.Notification{byIP, byName} {
			row := b.read(t, n.ID)
			if row.Status != store.NotificationPending || row.LastStatus != 0 || !strings.Contains(row.LastError, "refused") {
				t.Errorf("%s: %+v", n.URL, row)
			}
		}
		if got := b.recv.deliveries(); len(got) != 0 {
			t.Errorf("%d requests reached a private destination", len(got))
		}
	})
}

// After 24 hours of failures the notification is failed; a redelivery sends it again under
// its id, on a fresh schedule.
func TestFailsAfterADayThenRedelivers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		var mu sync.Mutex
		up := false
		b := setup(t, s, func(i int, w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if up {
				accept(i, w, r)
				return
			}
			http.Error(w, "down", http.StatusBadGateway)
		}, nil)
		n := b.enqueue(t, "rwd_1")
		first := b.clock.Now()
		var times []time.Time
		for {
			times = append(times, b.clock.Now())
			b.runOnce(t, 1)
			row := b.read(t, n.ID)
			if row.Status == store.NotificationFailed {
				break
			}
			if len(times) > 30 {
				t.Fatalf("still pending after %d attempts", len(times))
			}
			b.clock.Set(row.NextAttemptAt)
		}
		last, before := times[len(times)-1], times[len(times)-2]
		if last.Sub(first) < 24*time.Hour || before.Sub(first) >= 24*time.Hour {
			t.Errorf("failed at +%v after a try at +%v; want the first failure at or past 24 h", last.Sub(first), before.Sub(first))
		}
		if times[1].Sub(first) > 30*time.Second {
			t.Errorf("first retry after %v", times[1].Sub(first))
		}
		t.Logf("%d attempts over %v", len(times), last.Sub(first))
		row := b.read(t, n.ID)
		if row.Attempts != len(times) || row.LastStatus != 502 || row.LastError != "HTTP 502" {
			t.Errorf("failed row: %+v", row)
		}
		failed, total, err := s.ListNotifications(t.Context(), store.NotificationFailed, 10, 0)
		if err != nil || total != 1 || failed[0].ID != n.ID {
			t.Fatalf("failed list: %v %d %v", err, total, err)
		}
		b.clock.Set(last.Add(time.Hour))
		b.runOnce(t, 0)

		// Redelivered while the receiver is still down: a new schedule, its first retry
		// within 30 s.
		redo := b.clock.Now()
		if err := s.Redeliver(t.Context(), n.ID, redo); err != nil {
			t.Fatal(err)
		}
		b.runOnce(t, 1)
		row = b.read(t, n.ID)
		if row.Status != store.NotificationPending || row.NextAttemptAt.Sub(redo) > 30*time.Second {
			t.Fatalf("after a failed redelivery: %+v", row)
		}
		mu.Lock()
		up = true
		mu.Unlock()
		b.clock.Set(row.NextAttemptAt)
		b.runOnce(t, 1)
		if row := b.read(t, n.ID); row.Status != store.NotificationDelivered {
			t.Fatalf("after redelivery: %+v", row)
		}
		got := b.recv.deliveries()
		if len(got) != len(times)+2 {
			t.Errorf("%d deliveries, want %d", len(got), len(times)+2)
		}
		for _, d := range got {
			if d.header.Get("webhook-id") != n.ID {
				t.Fatalf("a delivery under id %q, want %q", d.header.Get("webhook-id"), n.ID)
			}
		}
		b.checkLogs(t, n)
	})
}

// During a webhook secret's rotation both secrets sign; a receiver knowing either accepts.
func TestRotationSignsWithBothSecrets(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		b := setup(t, s, accept, nil)
		b.secrets = []string{newSecret(t), newSecret(t)}
		n := b.enqueue(t, "rwd_1")
		b.runOnce(t, 1)
		got := b.recv.deliveries()
		if len(got) != 1 {
			t.Fatalf("%d deliveries", len(got))
		}
		if sigs := strings.Split(got[0].header.Get("webhook-signature"), " "); len(sigs) != 2 {
			t.Errorf("webhook-signature %v, want two signatures", sigs)
		}
		for i, secret := range b.secrets {
			if !verifyWebhook(secret, got[0].header, got[0].body) {
				t.Errorf("secret %d does not verify", i)
			}
		}
		if row := b.read(t, n.ID); row.Status != store.NotificationDelivered {
			t.Errorf("row: %+v", row)
		}
		b.checkLogs(t, n)
	})
}

// Secrets that cannot be had are a failure like any other, retried; a permanent one fails the
// notification at once. Nothing unsigned is sent.
func TestSecretsUnavailable(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		var mu sync.Mutex
		var answer error = errors.New("vault is sealed")
		b := setup(t, s, accept, nil)
		w, err := notify.New(notify.Config{Store: s, Clock: b.clock.Now, AllowPrivate: true, Rand: func() float64 { return 0 },
			Target: func(context.Context, string) (notify.Target, error) {
				mu.Lock()
				defer mu.Unlock()
				return notify.Target{}, answer
			}})
		if err != nil {
			t.Fatal(err)
		}
		b.w = w
		n := b.enqueue(t, "rwd_1")
		b.runOnce(t, 1)
		if row := b.read(t, n.ID); row.Status != store.NotificationPending || row.LastError != "webhook secret unavailable" {
			t.Errorf("after a transient secrets error: %+v", row)
		}
		mu.Lock()
		answer = notify.Permanent(vsrp.ErrNotFound)
		mu.Unlock()
		b.clock.Set(base.Add(30 * time.Second))
		b.runOnce(t, 1)
		if row := b.read(t, n.ID); row.Status != store.NotificationFailed || row.Attempts != 2 {
			t.Errorf("after a permanent secrets error: %+v", row)
		}
		if got := b.recv.deliveries(); len(got) != 0 {
			t.Errorf("%d unsigned requests sent", len(got))
		}
	})
}

// A notification goes where the app's webhooks go now: after an operator corrects the
// notifyUrl, the next attempt leaves for the new one; an app with no destination any more
// fails the notification at once.
func TestFollowsTheCurrentDestination(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	current := newReceiver(t, accept)
	var mu sync.Mutex
	var b *bundle
	dest := func() (notify.Target, error) {
		return notify.Target{URL: current.URL + "/api/v1/reward/notification", Secrets: b.secrets}, nil
	}
	b = setup(t, s, answerJSON(500, `{}`), func(c *notify.Config) {
		c.Target = func(context.Context, string) (notify.Target, error) {
			mu.Lock()
			defer mu.Unlock()
			return dest()
		}
	})
	n := b.enqueue(t, "rwd_1") // written with the old URL (b.recv, which fails)
	b.runOnce(t, 1)
	if row := b.read(t, n.ID); row.Status != store.NotificationDelivered || len(current.deliveries()) != 1 || len(b.recv.deliveries()) != 0 {
		t.Fatalf("row %+v; %d to the current URL, %d to the old one", row, len(current.deliveries()), len(b.recv.deliveries()))
	}
	mu.Lock()
	dest = func() (notify.Target, error) {
		return notify.Target{}, notify.Permanent(errors.New("the app is disabled"))
	}
	mu.Unlock()
	m := b.enqueue(t, "rwd_2")
	b.runOnce(t, 1)
	if row := b.read(t, m.ID); row.Status != store.NotificationFailed || len(b.recv.deliveries()) != 0 {
		t.Fatalf("with no destination: %+v, %d sent to the old URL", row, len(b.recv.deliveries()))
	}
}

func TestBadURLFailsAtOnce(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	b := setup(t, s, accept, nil)
	n := &store.Notification{AppID: "app_1", RewardID: "rwd_1", URL: "ftp://partner.example/hook", CreatedAt: b.clock.Now()}
	if err := s.WriteTx(t.Context(), func(tx *store.Tx) error { return tx.Enqueue(n) }); err != nil {
		t.Fatal(err)
	}
	b.runOnce(t, 1)
	if row := b.read(t, n.ID); row.Status != store.NotificationFailed || !strings.Contains(row.LastError, "http") {
		t.Errorf("row: %+v", row)
	}
}

// claimCounter counts the claims a worker's store has answered.
type claimCounter struct {
	*store.Store
	n atomic.Int64
}

func (c *claimCounter) ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*store.Notification, error) {
	ns, err := c.Store.ClaimDue(ctx, now, lease, limit)
	c.n.Add(1)
	return ns, err
}

// Run sends a new notification when woken, finds one by polling otherwise, and on
// cancellation finishes and records the attempt in flight before it returns.
func TestRunWakePollAndStop(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	arrived := make(chan string, 10)
	release := make(chan struct{})
	var mu sync.Mutex
	hold := false
	b := setup(t, s, func(i int, w http.ResponseWriter, r *http.Request) {
		arrived <- r.Header.Get("webhook-id")
		mu.Lock()
		h := hold
		mu.Unlock()
		if h {
			<-release
		}
		accept(i, w, r)
	}, nil)
	var releasing sync.Once
	letGo := func() { releasing.Do(func() { close(release) }) }
	t.Cleanup(letGo) // a test that stops early lets the held attempt go: the receiver waits for it to close
	// Real time here: the wait between polls is real, so the notifications must be due by the
	// real clock.
	newWorker := func(poll time.Duration) (*notify.Worker, *claimCounter) {
		cs := &claimCounter{Store: s}
		w, err := notify.New(notify.Config{Store: cs, Target: func(context.Context, string) (notify.Target, error) { return notify.Target{Secrets: b.secrets}, nil },
			AllowPrivate: true, PollInterval: poll})
		if err != nil {
			t.Fatal(err)
		}
		return w, cs
	}
	run := func(w *notify.Worker) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := w.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
		return func() { cancel(); <-done }
	}
	// Deadlines only bound a test that would hang: under load an attempt may take seconds.
	const limit = 30 * time.Second
	wait := func(what string, n *store.Notification) {
		t.Helper()
		select {
		case id := <-arrived:
			if id != n.ID {
				t.Fatalf("%s: %s arrived, want %s", what, id, n.ID)
			}
		case <-time.After(limit):
			t.Fatalf("%s: nothing arrived within %v", what, limit)
		}
	}
	// Enqueued once Run has claimed (and found nothing), a notification is sent only by what
	// makes Run claim again.
	claimed := func(what string, cs *claimCounter) {
		t.Helper()
		for deadline := time.Now().Add(limit); cs.n.Load() < 1; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: Run made no claim within %v", what, limit)
			}
		}
	}

	// Woken: the worker polls only hourly, so the wake is what sends it.
	w, cs := newWorker(time.Hour)
	stop := run(w)
	claimed("woken", cs)
	b.clock.Set(time.Now())
	n := b.enqueue(t, "rwd_woken")
	w.Wake()
	wait("after Wake", n)
	stop()

	// Not woken: the poll (every second by default) finds it. The test's deadline is far past
	// the interval, so a loaded machine does not fail it; a worker that does not poll does.
	w, cs = newWorker(0)
	stop = run(w)
	claimed("polled", cs)
	b.clock.Set(time.Now())
	n = b.enqueue(t, "rwd_polled")
	wait("by polling", n)

	// Stopped during an attempt: Run waits for it and records it.
	mu.Lock()
	hold = true
	mu.Unlock()
	b.clock.Set(time.Now())
	n = b.enqueue(t, "rwd_in_flight")
	wait("in flight", n)
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	// A Run that did not wait would return at once; one that waits never returns while the
	// attempt is held, however long this takes.
	select {
	case <-stopped:
		t.Fatal("Run returned with an attempt in flight")
	case <-time.After(100 * time.Millisecond):
	}
	letGo()
	<-stopped
	if row := b.read(t, n.ID); row.Status != store.NotificationDelivered || !row.LeaseUntil.IsZero() {
		t.Errorf("the attempt in flight at stop: %+v", row)
	}
}

func TestNewChecksConfig(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	target := func(context.Context, string) (notify.Target, error) { return notify.Target{}, nil }
	for name, cfg := range map[string]notify.Config{
		"no store":          {Target: target},
		"no target":         {Store: s},
		"lease below limit": {Store: s, Target: target, Lease: 5 * time.Second, Timeout: 10 * time.Second},
	} {
		if _, err := notify.New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// A message claimed by a node that died during its attempt is sent by another node within 30
// seconds (contract 7: the first retry within 30 seconds), once the dead node's lease is over.
func TestMessageOfADeadNodeIsRetriedWithin30Seconds(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s, accept, nil)
		b.enqueue(t, "rw_1")
		if ns, err := s.ClaimDue(t.Context(), b.clock.Now(), notify.DefaultLease, 10); err != nil || len(ns) != 1 {
			t.Fatalf("the node that dies claims: %v %v", ns, err)
		}
		b.clock.Set(b.clock.Now().Add(30 * time.Second))
		b.runOnce(t, 1)
		if got := b.recv.deliveries(); len(got) != 1 {
			t.Fatalf("%d deliveries 30 s after the claim of a dead node, want 1", len(got))
		}
	})
}

package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/notify"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// The signature a partner computes from the contract's words alone (section 7): HMAC-SHA256
// keyed with the base64-decoded bytes after "whsec_", over the exact bytes
// webhook-id + "." + webhook-timestamp + "." + body, base64 (standard, padded) after "v1,".
// The timestamp is unix seconds, the time of this attempt (not of the change), so that a
// Standard Webhooks verifier's 5-minute tolerance accepts a retry sent hours later.
func TestReviewSignatureFromTheContract(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	b := setup(t, s, answerJSON(503, ``), nil)
	n := b.enqueue(t, "rwd_contract")
	b.runOnce(t, 1)
	later := b.clock.Now().Add(5 * time.Hour)
	b.clock.Set(later)
	if err := s.Redeliver(t.Context(), n.ID, later); err != nil {
		t.Fatal(err)
	}
	b.runOnce(t, 1)
	got := b.recv.deliveries()
	if len(got) != 2 {
		t.Fatalf("%d deliveries, want 2", len(got))
	}
	key, err := base64.StdEncoding.DecodeString(b.secrets[0][len("whsec_"):])
	if err != nil || len(key) != 32 {
		t.Fatalf("secret key: %d bytes, %v", len(key), err)
	}
	for i, d := range got {
		ts := d.header.Get("webhook-timestamp")
		sec, err := strconv.ParseInt(ts, 10, 64)
		wantAt := []time.Time{base, later}[i]
		if err != nil || sec != wantAt.Unix() {
			t.Errorf("delivery %d: webhook-timestamp %q, want the attempt's unix seconds %d", i, ts, wantAt.Unix())
		}
		if d.body != `{"rewardId":"rwd_contract"}` || d.header.Get("webhook-id") != n.ID {
			t.Errorf("delivery %d: id %q body %q", i, d.header.Get("webhook-id"), d.body)
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(n.ID + "." + ts + "." + d.body))
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if sig := d.header.Get("webhook-signature"); sig != want {
			t.Errorf("delivery %d: webhook-signature %q, want %q", i, sig, want)
		}
	}
}

// A receiver whose framework writes a UTF-8 byte-order mark before its JSON (PHP files saved
// by Windows editors do; the platform itself reads admin bodies with one, see e2e/bom_test.go)
// answered code 0: the message is delivered, not retried for a day and then failed.
func TestReviewAnswerWithByteOrderMark(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	b := setup(t, s, answerJSON(200, "\ufeff{\"code\":0,\"message\":\"success\"}"), nil)
	n := b.enqueue(t, "rwd_bom")
	b.runOnce(t, 1)
	if row := b.read(t, n.ID); row.Status != store.NotificationDelivered {
		t.Errorf("answer 200 with a BOM and code 0: status %s, last_error %q; want delivered", row.Status, row.LastError)
	}
	// The mark does not turn a refusal into a success.
	b2 := setup(t, s, answerJSON(200, "\ufeff{\"code\":1}"), nil)
	m := b2.enqueue(t, "rwd_bom_refused")
	b2.runOnce(t, 1)
	if row := b2.read(t, m.ID); row.Status != store.NotificationPending || row.LastError == "" {
		t.Errorf("answer 200 with a BOM and code 1: %+v; want pending, to retry", row)
	}
}

// The attempt's timeout bounds all of one attempt, the look-up of the app's target included:
// a worker whose look-up hangs past its lease (a stalled database connection) must not send
// afterwards, when another worker has taken the row over and may be sending it at that very
// moment. "Several server processes never send one message twice at once" (contract 7).
// Real time here: the lease and the attempt's timeout must be measured on one clock.
func TestReviewSlowTargetDoesNotOutliveTheLease(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		const timeout, lease = 300 * time.Millisecond, time.Second
		var inFlight, maxInFlight, sends atomic.Int32
		bHeld := make(chan struct{}, 1)
		secondCame := make(chan struct{})
		var secondOnce sync.Once
		b := setup(t, s, func(i int, w http.ResponseWriter, r *http.Request) {
			sends.Add(1)
			cur := inFlight.Add(1)
			for {
				m := maxInFlight.Load()
				if cur <= m || maxInFlight.CompareAndSwap(m, cur) {
					break
				}
			}
			if i == 0 {
				// The first request stays open (within the attempt's timeout), so that a late
				// send by the other worker would overlap it.
				bHeld <- struct{}{}
				select {
				case <-secondCame:
				case <-time.After(timeout * 2 / 3):
				}
			} else {
				secondOnce.Do(func() { close(secondCame) })
			}
			inFlight.Add(-1)
			accept(i, w, r)
		}, nil)
		b.clock.Set(time.Now().Add(-time.Second))
		n := b.enqueue(t, "rwd_slow_target")

		entered := make(chan struct{})
		release := make(chan struct{})
		var calls atomic.Int32
		target := func(ctx context.Context, _ string) (notify.Target, error) {
			if calls.Add(1) == 1 { // worker A's look-up stalls
				close(entered)
				select {
				case <-release:
				case <-ctx.Done():
					return notify.Target{}, ctx.Err()
				}
			}
			return notify.Target{Secrets: b.secrets}, nil
		}
		mk := func() *notify.Worker {
			w, err := notify.New(notify.Config{Store: s, Target: target, AllowPrivate: true,
				Rand: func() float64 { return 0.5 }, Timeout: timeout, Lease: lease})
			if err != nil {
				t.Fatal(err)
			}
			return w
		}
		wa, wb := mk(), mk()
		aDone := make(chan struct{})
		go func() {
			defer close(aDone)
			if _, err := wa.RunOnce(context.Background()); err != nil {
				t.Errorf("worker A: %v", err)
			}
		}()
		<-entered
		time.Sleep(lease + 100*time.Millisecond) // A's lease runs out while its look-up hangs
		bDone := make(chan struct{})
		go func() {
			defer close(bDone)
			if _, err := wb.RunOnce(context.Background()); err != nil {
				t.Errorf("worker B: %v", err)
			}
		}()
		// B sends (its request held open) or, when A's attempt ended at its timeout and was
		// recorded, finds nothing due; either way A's look-up comes back now.
		select {
		case <-bHeld:
		case <-bDone:
		case <-time.After(30 * time.Second):
			t.Fatal("worker B neither sent nor finished")
		}
		close(release)
		<-aDone
		<-bDone
		if m := maxInFlight.Load(); m > 1 {
			t.Errorf("%d requests of %s were in flight at once", m, n.ID)
		}
		if got := sends.Load(); got > 1 {
			t.Errorf("%d requests sent, want at most 1: worker A sent after losing its lease", got)
		}
	})
}

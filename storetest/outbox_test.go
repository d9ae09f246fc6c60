package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/store"
)

// ---- the webhook outbox ----

const lease = time.Minute

// enqueue writes notifications in one transaction and answers them as stored.
func enqueue(t *testing.T, s *store.Store, ns ...*store.Notification) []*store.Notification {
	t.Helper()
	noErr(t, "enqueue", s.WriteTx(t.Context(), func(tx *store.Tx) error {
		for _, n := range ns {
			if err := tx.Enqueue(n); err != nil {
				return err
			}
		}
		return nil
	}))
	return ns
}

func newNotification(reward string, created time.Time) *store.Notification {
	return &store.Notification{AppID: "app_1", RewardID: reward, URL: "https://partner.example/api/v1/reward/notification?k=v",
		CreatedAt: created}
}

func claim(t *testing.T, s *store.Store, now time.Time, limit int) []*store.Notification {
	t.Helper()
	ns, err := s.ClaimDue(t.Context(), now, lease, limit)
	noErr(t, "ClaimDue", err)
	return ns
}

func readNotification(t *testing.T, s *store.Store, id string) *store.Notification {
	t.Helper()
	n, err := s.Notification(t.Context(), id)
	noErr(t, "Notification "+id, err)
	return n
}

func TestOutboxRoundTrip(t *testing.T) {
	Run(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		n := enqueue(t, s, newNotification("rwd_1", at(0)))[0]
		if len(n.ID) < 20 || n.ID[:4] != "msg_" {
			t.Errorf("ID = %q, want msg_ and 128 random bits", n.ID)
		}
		if n.Body != `{"rewardId":"rwd_1"}` || n.Status != store.NotificationPending {
			t.Errorf("Body, Status = %s, %s", n.Body, n.Status)
		}
		got := readNotification(t, s, n.ID)
		if *got != *n {
			t.Errorf("stored\n%+v\nwant\n%+v", got, n)
		}
		wantTime(t, "NextAttemptAt", got.NextAttemptAt, at(0))

		// The outbox's point: a notification exists exactly when its transaction commits.
		dup := newNotification("rwd_1", at(0))
		dup.ID = n.ID
		wantErr(t, "Enqueue of an existing id", s.WriteTx(ctx, func(tx *store.Tx) error { return tx.Enqueue(dup) }),
			vsrp.ErrConflict)
		rolled := newNotification("rwd_2", at(0))
		boom := errors.New("boom")
		wantErr(t, "rolled back", s.WriteTx(ctx, func(tx *store.Tx) error {
			noErr(t, "Enqueue", tx.Enqueue(rolled))
			return boom
		}), boom)
		_, err := s.Notification(ctx, rolled.ID)
		wantErr(t, "Notification of a rolled-back enqueue", err, vsrp.ErrNotFound)
		if err := s.WriteTx(ctx, func(tx *store.Tx) error {
			return tx.Enqueue(&store.Notification{AppID: "a", RewardID: "r", CreatedAt: at(0)})
		}); err == nil {
			t.Error("Enqueue without URL succeeded")
		}

		if ns := claim(t, s, at(-time.Microsecond), 10); len(ns) != 0 {
			t.Fatalf("claimed %d before due", len(ns))
		}
		c := claim(t, s, at(time.Second), 10)
		if len(c) != 1 || c[0].ID != n.ID || c[0].Attempts != 1 || c[0].BaseAttempts != 0 {
			t.Fatalf("claim = %+v", c)
		}
		wantTime(t, "LeaseUntil", c[0].LeaseUntil, at(time.Second+lease))
		wantTime(t, "FirstAttemptAt", c[0].FirstAttemptAt, at(time.Second))
		if ns := claim(t, s, at(2*time.Second), 10); len(ns) != 0 {
			t.Fatalf("claimed a leased row again")
		}

		noErr(t, "MarkRetry", s.MarkRetry(ctx, n.ID, 1, at(40*time.Second), 503, "HTTP 503", at(3*time.Second)))
		got = readNotification(t, s, n.ID)
		if got.Status != store.NotificationPending || got.LastStatus != 503 || got.LastError != "HTTP 503" || !got.LeaseUntil.IsZero() {
			t.Errorf("after MarkRetry: %+v", got)
		}
		wantTime(t, "NextAttemptAt", got.NextAttemptAt, at(40*time.Second))
		wantTime(t, "UpdatedAt", got.UpdatedAt, at(3*time.Second))
		if ns := claim(t, s, at(39*time.Second), 10); len(ns) != 0 {
			t.Fatalf("claimed before the retry is due")
		}
		c = claim(t, s, at(40*time.Second), 10)
		if len(c) != 1 || c[0].Attempts != 2 {
			t.Fatalf("retry claim = %+v", c)
		}
		wantTime(t, "FirstAttemptAt kept", c[0].FirstAttemptAt, at(time.Second))

		noErr(t, "MarkFailed", s.MarkFailed(ctx, n.ID, 2, 0, "connection refused", at(41*time.Second)))
		got = readNotification(t, s, n.ID)
		if got.Status != store.NotificationFailed || got.LastStatus != 0 || got.LastError != "connection refused" {
			t.Errorf("after MarkFailed: %+v", got)
		}
		if ns := claim(t, s, at(time.Hour), 10); len(ns) != 0 {
			t.Fatalf("claimed a failed row")
		}

		wantErr(t, "Redeliver unknown", s.Redeliver(ctx, "msg_nope", at(time.Hour)), vsrp.ErrNotFound)
		noErr(t, "Redeliver", s.Redeliver(ctx, n.ID, at(time.Hour)))
		got = readNotification(t, s, n.ID)
		if got.ID != n.ID || got.Status != store.NotificationPending || got.Attempts != 2 || got.BaseAttempts != 2 ||
			!got.FirstAttemptAt.IsZero() {
			t.Errorf("after Redeliver: %+v", got)
		}
		wantTime(t, "NextAttemptAt", got.NextAttemptAt, at(time.Hour))
		c = claim(t, s, at(time.Hour), 10)
		if len(c) != 1 || c[0].Attempts != 3 || c[0].BaseAttempts != 2 {
			t.Fatalf("claim after Redeliver = %+v", c)
		}
		wantTime(t, "FirstAttemptAt restarted", c[0].FirstAttemptAt, at(time.Hour))
		noErr(t, "MarkDelivered", s.MarkDelivered(ctx, n.ID, 3, 200, at(time.Hour+time.Second)))
		got = readNotification(t, s, n.ID)
		if got.Status != store.NotificationDelivered || got.LastStatus != 200 || got.LastError != "" || !got.LeaseUntil.IsZero() {
			t.Errorf("after MarkDelivered: %+v", got)
		}
		wantTime(t, "DeliveredAt", got.DeliveredAt, at(time.Hour+time.Second))
		// A delivered row goes again too when an operator asks.
		noErr(t, "Redeliver delivered", s.Redeliver(ctx, n.ID, at(2*time.Hour)))
		if c := claim(t, s, at(2*time.Hour), 10); len(c) != 1 || c[0].Attempts != 4 {
			t.Fatalf("claim of a redelivered delivered row = %+v", c)
		}
	})
}

func TestOutboxClaimOrderAndList(t *testing.T) {
	Run(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		var ns []*store.Notification
		for i := range 5 {
			n := newNotification(fmt.Sprintf("rwd_%d", i), at(time.Duration(i)*time.Second))
			n.NextAttemptAt = at(time.Duration(10-i) * time.Second) // the newest is due first
			ns = append(ns, n)
		}
		enqueue(t, s, ns...)
		c := claim(t, s, at(time.Minute), 2)
		if len(c) != 2 || !(c[0].RewardID == "rwd_4" && c[1].RewardID == "rwd_3" || c[0].RewardID == "rwd_3" && c[1].RewardID == "rwd_4") {
			t.Fatalf("claimed %v, want the two due first", ids(c))
		}
		for _, n := range c {
			noErr(t, "MarkDelivered", s.MarkDelivered(ctx, n.ID, n.Attempts, 200, at(time.Minute)))
		}

		all, total, err := s.ListNotifications(ctx, "", 0, 0)
		noErr(t, "List all", err)
		if total != 5 || len(all) != 5 || all[0].RewardID != "rwd_4" || all[4].RewardID != "rwd_0" {
			t.Errorf("List all = %d %v, want 5 newest first", total, rewards(all))
		}
		page, total, err := s.ListNotifications(ctx, "", 2, 2)
		noErr(t, "List page", err)
		if total != 5 || len(page) != 2 || page[0].RewardID != "rwd_2" || page[1].RewardID != "rwd_1" {
			t.Errorf("List page = %d %v", total, rewards(page))
		}
		pending, total, err := s.ListNotifications(ctx, store.NotificationPending, 10, 0)
		noErr(t, "List pending", err)
		if total != 3 || len(pending) != 3 || pending[0].RewardID != "rwd_2" {
			t.Errorf("List pending = %d %v", total, rewards(pending))
		}
		delivered, total, err := s.ListNotifications(ctx, store.NotificationDelivered, 10, 0)
		noErr(t, "List delivered", err)
		if total != 2 || len(delivered) != 2 || delivered[0].RewardID != "rwd_4" {
			t.Errorf("List delivered = %d %v", total, rewards(delivered))
		}
		none, total, err := s.ListNotifications(ctx, store.NotificationFailed, 10, 0)
		noErr(t, "List failed", err)
		if total != 0 || len(none) != 0 || none == nil {
			t.Errorf("List failed = %d %v (want an empty, non-nil list)", total, none)
		}
	})
}

func ids(ns []*store.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func rewards(ns []*store.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.RewardID
	}
	return out
}

// A worker whose lease was taken over, expired or cancelled by a redelivery cannot record
// its result over another's.
func TestOutboxLeaseGuard(t *testing.T) {
	Run(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		n := enqueue(t, s, newNotification("rwd_1", at(0)))[0]

		a := claim(t, s, at(0), 1)[0] // worker A holds it until at(lease)
		if c := claim(t, s, at(lease-time.Microsecond), 1); len(c) != 0 {
			t.Fatalf("claimed while A's lease runs")
		}
		b := claim(t, s, at(lease), 1)[0] // A's lease is over: B takes it
		if b.Attempts != 2 {
			t.Fatalf("B's claim: Attempts = %d, want 2", b.Attempts)
		}
		now := at(lease + time.Second)
		wantErr(t, "A MarkDelivered", s.MarkDelivered(ctx, n.ID, a.Attempts, 200, now), store.ErrLeaseLost)
		wantErr(t, "A MarkRetry", s.MarkRetry(ctx, n.ID, a.Attempts, now, 500, "x", now), store.ErrLeaseLost)
		wantErr(t, "A MarkFailed", s.MarkFailed(ctx, n.ID, a.Attempts, 500, "x", now), store.ErrLeaseLost)
		wantErr(t, "ErrLeaseLost is a conflict", store.ErrLeaseLost, vsrp.ErrConflict)
		if got := readNotification(t, s, n.ID); got.Status != store.NotificationPending || !got.LeaseUntil.Equal(b.LeaseUntil) {
			t.Fatalf("A's refused marks changed the row: %+v", got)
		}
		noErr(t, "B MarkRetry", s.MarkRetry(ctx, n.ID, b.Attempts, at(2*lease), 500, "HTTP 500", now))
		wantErr(t, "B marks twice", s.MarkDelivered(ctx, n.ID, b.Attempts, 200, now), store.ErrLeaseLost)

		// A lease that expired with nobody taking over: the late result is refused as well,
		// and the row is free to claim.
		c := claim(t, s, at(2*lease), 1)[0]
		wantErr(t, "late MarkDelivered", s.MarkDelivered(ctx, n.ID, c.Attempts, 200, c.LeaseUntil), store.ErrLeaseLost)
		if again := claim(t, s, c.LeaseUntil, 1); len(again) != 1 {
			t.Fatalf("an expired lease was not claimable")
		}

		// A redelivery while a worker holds the row: the holder's result is refused, and the
		// next attempt waits for its lease to end, so two never run at once.
		d := claim(t, s, at(10*lease), 1)[0]
		noErr(t, "Redeliver", s.Redeliver(ctx, n.ID, at(10*lease+time.Second)))
		wantErr(t, "holder after Redeliver", s.MarkDelivered(ctx, n.ID, d.Attempts, 200, at(10*lease+2*time.Second)),
			store.ErrLeaseLost)
		if c := claim(t, s, d.LeaseUntil.Add(-time.Microsecond), 1); len(c) != 0 {
			t.Fatalf("a redelivered row was claimed while its old lease ran")
		}
		if c := claim(t, s, d.LeaseUntil, 1); len(c) != 1 {
			t.Fatalf("a redelivered row was not claimable after its old lease")
		}
	})
}

// Concurrent claimers never share a row: 20 goroutines claim 200 rows in small batches, and
// every row is handed out exactly once.
func TestOutboxConcurrentClaims(t *testing.T) {
	Run(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		const rows, claimers = 200, 20
		var ns []*store.Notification
		for i := range rows {
			ns = append(ns, newNotification(fmt.Sprintf("rwd_%03d", i), at(time.Duration(i)*time.Microsecond)))
		}
		enqueue(t, s, ns...)
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		errs := make(chan error, claimers)
		for range claimers {
			wg.Go(func() {
				for {
					c, err := s.ClaimDue(t.Context(), at(time.Second), time.Hour, 7)
					if err != nil {
						errs <- err
						return
					}
					if len(c) == 0 {
						return
					}
					mu.Lock()
					for _, n := range c {
						seen[n.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("ClaimDue: %v", err)
		}
		if len(seen) != rows {
			t.Errorf("%d rows claimed, want %d", len(seen), rows)
		}
		for id, k := range seen {
			if k != 1 {
				t.Errorf("%s claimed %d times", id, k)
			}
		}
	})
}

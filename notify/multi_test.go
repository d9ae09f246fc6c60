package notify_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/notify"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// countingReceiver counts deliveries per webhook-id and accepts them all.
type countingReceiver struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *countingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.counts[r.Header.Get("webhook-id")]++
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"code":0,"message":"success"}`))
}

// markCounter counts the deliveries one worker recorded, and calls claimed after each claim
// that gave it rows.
type markCounter struct {
	*store.Store
	claimed func()
	mu      sync.Mutex
	rows    int // claimed
	n       int // delivered
}

func (m *markCounter) ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*store.Notification, error) {
	ns, err := m.Store.ClaimDue(ctx, now, lease, limit)
	if len(ns) > 0 {
		m.mu.Lock()
		m.rows += len(ns)
		m.mu.Unlock()
		m.claimed()
	}
	return ns, err
}

func (m *markCounter) claimedRows() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rows
}

func (m *markCounter) MarkDelivered(ctx context.Context, id string, attempts, httpStatus int, now time.Time) error {
	err := m.Store.MarkDelivered(ctx, id, attempts, httpStatus, now)
	if err == nil {
		m.mu.Lock()
		m.n++
		m.mu.Unlock()
	}
	return err
}

// openShared answers two handles, each with its own connection pool, on one fresh database.
func openShared(t *testing.T, engine store.Engine) (*store.Store, *store.Store) {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "vsrp.db")
	if engine == store.Postgres {
		dsn = storetest.PostgresURL(t)
	}
	open := func() *store.Store {
		s, err := store.Open(dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	if err := a.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// Two workers, each on its own handle to one database (as two server processes would be),
// deliver each of 1,000 notifications exactly once.
//
// Both take part by construction, not by luck of scheduling: the receiver holds every request
// until each worker has claimed rows, so the first to claim cannot deliver everything before
// the other starts; the two hold leases at the same time.
func TestTwoWorkersDeliverEachOnce(t *testing.T) {
	for _, engine := range []store.Engine{store.SQLite, store.Postgres} {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			const total = 1000
			s1, s2 := openShared(t, engine)
			recv := &countingReceiver{counts: map[string]int{}}
			both := make(chan struct{}) // closed once both workers have claimed rows
			var opening sync.Once
			open := func() { opening.Do(func() { close(both) }) }
			t.Cleanup(open) // before the receiver closes, which waits for the requests it holds
			srv := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				select {
				case <-both:
				case <-r.Context().Done():
					return
				}
				recv.ServeHTTP(w, r)
			})
			now := time.Now()
			if err := s1.WriteTx(t.Context(), func(tx *store.Tx) error {
				for i := range total {
					if err := tx.Enqueue(&store.Notification{AppID: "app_1", RewardID: fmt.Sprintf("rwd_%04d", i), URL: srv.URL,
						CreatedAt: now}); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			secret := newSecret(t)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			counters := []*markCounter{{Store: s1}, {Store: s2}}
			for _, c := range counters {
				c.claimed = func() {
					if counters[0].claimedRows() > 0 && counters[1].claimedRows() > 0 {
						open()
					}
				}
			}
			for _, s := range counters {
				// Held at the receiver until the other worker claims, an attempt must neither
				// time out nor lose its lease meanwhile: either would send it again.
				w, err := notify.New(notify.Config{Store: s, AllowPrivate: true, Concurrency: 16,
					Timeout: 2 * time.Minute, Lease: 5 * time.Minute,
					Target: func(context.Context, string) (notify.Target, error) {
						return notify.Target{Secrets: []string{secret}}, nil
					}})
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() { w.Run(ctx) })
			}
			start := time.Now()
			// Only bounds a test that would hang: under -race on a loaded machine the deliveries
			// may take many times as long as on an idle one.
			deadline := start.Add(3 * time.Minute)
			for {
				_, n, err := s1.ListNotifications(t.Context(), store.NotificationDelivered, 1, 0)
				if err != nil {
					t.Fatal(err)
				}
				if n == total {
					break
				}
				if time.Now().After(deadline) {
					open()
					cancel()
					wg.Wait()
					t.Fatalf("%d of %d delivered by the deadline (claimed: %d and %d)", n, total,
						counters[0].claimedRows(), counters[1].claimedRows())
				}
				time.Sleep(20 * time.Millisecond)
			}
			elapsed := time.Since(start)
			cancel()
			wg.Wait()
			recv.mu.Lock()
			defer recv.mu.Unlock()
			if len(recv.counts) != total {
				t.Errorf("%d distinct webhook-ids received, want %d", len(recv.counts), total)
			}
			for id, k := range recv.counts {
				if k != 1 {
					t.Errorf("%s delivered %d times", id, k)
				}
			}
			a, b := counters[0].n, counters[1].n
			if a+b != total || a == 0 || b == 0 {
				t.Errorf("the workers recorded %d and %d deliveries, want %d between them, each its own claims", a, b, total)
			}
			t.Logf("%d delivered once each in %v (%d by one worker, %d by the other)", total, elapsed.Round(time.Millisecond), a, b)
		})
	}
}

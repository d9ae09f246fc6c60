package notify_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/notify"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// BenchmarkDeliver measures end-to-end delivery: b.N notifications already in the outbox,
// claimed, signed, posted to a local receiver and recorded by one Worker with its defaults.
// Enqueueing is not timed.
func BenchmarkDeliver(b *testing.B) {
	for _, engine := range []store.Engine{store.SQLite, store.Postgres} {
		b.Run(string(engine), func(b *testing.B) {
			s := storetest.Open(b, engine)
			var got atomic.Int64
			done := make(chan struct{})
			n := int64(b.N)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"code":0,"message":"success"}`))
				if got.Add(1) == n {
					close(done)
				}
			}))
			defer srv.Close()
			now := time.Now()
			for i := 0; i < b.N; i += 1000 {
				if err := s.WriteTx(b.Context(), func(tx *store.Tx) error {
					for j := i; j < min(i+1000, b.N); j++ {
						if err := tx.Enqueue(&store.Notification{AppID: "app_1", RewardID: fmt.Sprintf("rwd_%d", j), URL: srv.URL,
							CreatedAt: now}); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			secret := newSecret(b)
			w, err := notify.New(notify.Config{Store: s, AllowPrivate: true,
				Target: func(context.Context, string) (notify.Target, error) {
					return notify.Target{Secrets: []string{secret}}, nil
				}})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			b.ResetTimer()
			stopped := make(chan struct{})
			go func() { w.Run(ctx); close(stopped) }()
			<-done
			cancel()
			<-stopped // Run returns once every attempt is recorded
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
			if _, total, err := s.ListNotifications(context.Background(), store.NotificationDelivered, 1, 0); err != nil || total != b.N {
				b.Fatalf("%d of %d delivered (%v)", total, b.N, err)
			}
		})
	}
}

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// Two server processes on one PostgreSQL database deliver each of 1,000 notifications exactly
// once to a counting receiver. Duplicates are counted once nothing more can arrive: every
// notification received and recorded as delivered (none pending or leased, which a lost
// result would leave to be sent again), both processes stopped, and the receiver's requests
// all answered.
func TestTwoProcessesDeliverEachNotificationOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes; skipped with -short")
	}
	db := storetest.PostgresURL(t)
	var mu sync.Mutex
	count := map[string]int{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		count[r.Header.Get("webhook-id")]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"code":0,"message":"success"}`))
	}))
	defer rcv.Close()
	dir := t.TempDir()
	key := "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="
	one := startChild(t, db, key, dir)
	two := startChild(t, db, key, dir)
	var creds struct{ AppID string }
	one.admin(t, "POST", "/admin/v1/apps", map[string]any{"name": "two", "scopes": []string{"reward"}, "ipWhitelist": []string{"127.0.0.1/32"},
		"notifyUrl": rcv.URL + "/api/v1/reward/notification", "campaignIds": []string{}}, &creds)

	// The notifications are written straight into the outbox, as a settlement would.
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 1000
	now := time.Now()
	err = st.WriteTx(context.Background(), func(tx *store.Tx) error {
		for i := range n {
			if err := tx.Enqueue(&store.Notification{AppID: creds.AppID, RewardID: fmt.Sprintf("rw_two_%04d", i),
				URL: rcv.URL + "/api/v1/reward/notification", CreatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Deadlines only bound a test that would hang: under -race on a loaded machine the
	// deliveries may take many times as long as on an idle one.
	const limit = 3 * time.Minute
	// received answers how many notifications arrived, and fails the test at the first one
	// that arrived twice.
	received := func() int {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		for id, c := range count {
			if c != 1 {
				t.Fatalf("notification %s delivered %d times", id, c)
			}
		}
		return len(count)
	}
	for deadline := time.Now().Add(limit); received() < n; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d notifications received within %v", received(), n, limit)
		}
	}
	for deadline := time.Now().Add(limit); ; time.Sleep(100 * time.Millisecond) {
		received()
		_, delivered, err := st.ListNotifications(context.Background(), store.NotificationDelivered, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, pending, err := st.ListNotifications(context.Background(), store.NotificationPending, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if delivered == n && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d notifications recorded as delivered within %v, %d still pending or leased", delivered, n, limit, pending)
		}
	}
	// Stopped (SIGTERM: as an operator stops one) and exited, neither process can send more.
	for _, c := range []*child{one, two} {
		if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- c.cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("server process: %v", err)
			}
		case <-time.After(time.Minute):
			_ = c.cmd.Process.Kill()
			<-exited
			t.Fatal("a server process did not exit within a minute of SIGTERM")
		}
	}
	rcv.Close() // waits for the requests in its hands
	if got := received(); got != n {
		t.Fatalf("%d of %d notifications delivered", got, n)
	}
}

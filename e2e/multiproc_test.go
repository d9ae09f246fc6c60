package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// Two server processes on one PostgreSQL database deliver each of 1,000 notifications exactly
// once to a counting receiver.
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
	startChild(t, db, key, dir)
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
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		got := len(count)
		mu.Unlock()
		if got == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a second delivery of any message would show by now
	mu.Lock()
	defer mu.Unlock()
	if len(count) != n {
		t.Fatalf("%d of %d notifications delivered", len(count), n)
	}
	for id, c := range count {
		if c != 1 {
			t.Fatalf("notification %s delivered %d times", id, c)
		}
	}
}

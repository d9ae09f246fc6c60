package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/store"
)

// TestGracefulShutdown: a request in flight when Shutdown is called completes with its
// answer; meanwhile no new connection is accepted; then the server stops.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	c := h.client(a)
	access, err := c.AccessToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	body := mustJSON(map[string]any{"appId": a.AppID, "encryptedData": seal(t, a.PublicKeyPEM, map[string]string{"auid": "008618600000010"})})

	// Send the headers by hand, asking to be told when the body is wanted: the server's "100
	// Continue" says a handler has the request and is reading its body. Then send the start of
	// the body, so that the request cannot finish until the rest arrives.
	addr := h.srv.Addr()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Deadlines here only bound a test that would hang; under load the steps may take seconds.
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	head := fmt.Sprintf("POST /api/v1/user/getVuid HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, access, len(body))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	answers := bufio.NewReader(conn)
	if resp, err := http.ReadResponse(answers, nil); err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("before the body: %v, %v; want 100 Continue", resp, err)
	}
	if _, err := conn.Write(body[:20]); err != nil {
		t.Fatal(err)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- h.stop() }()
	// Shutdown closes the listener first: wait until a new connection is refused. (Those
	// accepted before are closed at once, unused, as a client that gave up would.)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		c2, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) { // reset: caught closing
			break
		}
		if err != nil {
			t.Fatalf("a new connection during shutdown: %v, want it refused", err)
		}
		c2.Close()
		if time.Now().After(deadline) {
			t.Fatal("new connections were still accepted a minute after Shutdown began")
		}
	}
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	default:
	}
	if c2, err := net.DialTimeout("tcp", addr, 10*time.Second); err == nil {
		c2.Close()
		t.Error("a new connection was accepted during shutdown, after one was refused")
	}

	if _, err := conn.Write(body[20:]); err != nil {
		t.Fatalf("finishing the body: %v", err)
	}
	resp, err := http.ReadResponse(answers, nil)
	if err != nil {
		t.Fatalf("the in-flight request got no answer: %v", err)
	}
	defer resp.Body.Close()
	var ans struct {
		Code int `json:"code"`
		Data struct {
			Vuid string `json:"vuid"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != http.StatusOK || ans.Code != 0 || ans.Data.Vuid == "" {
		t.Errorf("in-flight request: HTTP %d, %+v, %v", resp.StatusCode, ans, err)
	}

	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Shutdown did not return within a minute of the last request finishing")
	}
	if _, err := http.Get(h.url + "/healthz"); err == nil {
		t.Error("the server still answers after Shutdown")
	}
}

// TestShutdownRecordsWebhookInFlight: a webhook attempt in flight when Shutdown is called
// holds Shutdown until the receiver answers; its result is then recorded before the database
// closes (delivered, its lease released, nothing left for a restarted server to send again),
// Shutdown answers no error and the log reports no result left unrecorded.
func TestShutdownRecordsWebhookInFlight(t *testing.T) {
	t.Parallel()
	held := make(chan string, 1) // the webhook-id of the first attempt, while the receiver holds it
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseHeld := func() { releaseOnce.Do(func() { close(release) }) }
	var received atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if received.Add(1) == 1 {
			held <- r.Header.Get("webhook-id")
			<-release
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"code":0,"message":"success"}`))
	}))
	defer rcv.Close()
	defer releaseHeld() // before rcv.Close, which waits for the handler, when the test ends early

	h := start(t)
	h.loadBINs()
	now := h.clock.Now()
	h.adminDo(http.MethodPut, "/admin/v1/campaigns/CMP-SD", openCampaign("CMP-SD", now,
		monthlyOffer("OF-SD", map[string]any{}, each, map[string]any{"type": "Cash", "amount": 5})), http.StatusOK, nil)
	a := h.createApp(map[string]any{"notifyUrl": rcv.URL + "/api/v1/reward/notification", "campaignIds": []string{"CMP-SD"}})
	c := h.client(a)
	ctx := context.Background()
	user, err := c.GetVuid(ctx, "008618600000042")
	if err != nil {
		t.Fatal(err)
	}
	card := pan("411111", 42)
	if err := c.AddCard(ctx, user.Vuid, card); err != nil { // a bound card: its app is notified
		t.Fatal(err)
	}
	if err := c.Call(ctx, "enroll", map[string]any{"cardId": card, "enrollmentGroupId": "EG-SD"}, nil); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute) // the purchase comes after the enrollment
	var sum struct{ Accepted, Rejected int }
	h.adminDo(http.MethodPost, "/admin/v1/transactions", []map[string]any{{"transactionId": "T-SD", "type": "purchase", "pan": card,
		"amount": 100, "currency": "CNY", "transactionTime": h.clock.Now().Add(-time.Second).Format(time.RFC3339Nano), "merchantId": "M",
		"merchantName": "Shop", "mcc": "5812", "merchantCountry": "CN"}}, http.StatusOK, &sum)
	if sum.Accepted != 1 || sum.Rejected != 0 {
		t.Fatalf("ingest: %+v", sum)
	}
	var bills struct{ Bills []struct{ BillID string } }
	h.adminDo(http.MethodGet, "/admin/v1/bills?campaignId=CMP-SD", nil, http.StatusOK, &bills)
	if len(bills.Bills) != 1 {
		t.Fatalf("bills: %+v, want one", bills)
	}
	bill := bills.Bills[0].BillID
	h.adminDo(http.MethodPost, "/admin/v1/bills/"+bill+"/generate", map[string]any{"force": true}, http.StatusOK, nil)
	h.adminDo(http.MethodPost, "/admin/v1/bills/"+bill+"/approve", nil, http.StatusOK, nil)
	h.adminDo(http.MethodPost, "/admin/v1/bills/"+bill+"/settle", map[string]any{"all": 4}, http.StatusOK, nil)

	// Deadlines here only bound a test that would hang; the attempt's own timeout is 10 s.
	var id string
	select {
	case id = <-held:
	case <-time.After(time.Minute):
		t.Fatal("no webhook attempt within a minute of the settlement")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- h.stop() }()
	// Unheld, Shutdown closes the listener and the database in milliseconds: still running a
	// second later, it is waiting for the attempt. (This bounds a check that Shutdown does not
	// return; nothing below relies on the attempt being answered late.)
	var stopErr error
	returned := false
	select {
	case stopErr = <-stopped:
		returned = true
		t.Errorf("Shutdown returned (%v) while a webhook attempt was in flight", stopErr)
	case <-time.After(time.Second):
	}
	releaseHeld()
	if !returned {
		select {
		case stopErr = <-stopped:
		case <-time.After(time.Minute):
			t.Fatal("Shutdown did not return within a minute of the receiver's answer")
		}
	}
	if stopErr != nil {
		t.Errorf("Shutdown: %v", stopErr)
	}

	// The worker logs the attempt's outcome once it has tried to record it. After a Shutdown
	// that waited, the line is already there; after one that did not, it comes when the
	// recording fails. (The harness prints the log when the test fails.)
	outcomes := []string{"webhook delivered", "webhook result not recorded", "webhook attempt failed", "webhook failed"}
	var log string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		log = h.log.String()
		if slices.ContainsFunc(outcomes, func(o string) bool { return strings.Contains(log, o) }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no outcome of the webhook attempt logged within a minute")
		}
	}
	for _, bad := range []string{"database is closed", "not recorded", "webhook attempt failed", "webhook failed", `"level":"ERROR"`} {
		if strings.Contains(log, bad) {
			t.Errorf("the log says %q", bad)
		}
	}
	if n := strings.Count(log, "webhook delivered"); n != 1 {
		t.Errorf("%d lines of a webhook delivered, want 1", n)
	}

	st, err := store.Open(h.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.Notification(ctx, id)
	if err != nil {
		t.Fatalf("notification %s: %v", id, err)
	}
	if n.Status != store.NotificationDelivered || n.Attempts != 1 || !n.LeaseUntil.IsZero() || n.LastStatus != http.StatusOK ||
		n.DeliveredAt.IsZero() {
		t.Errorf("notification after Shutdown: status %s, %d attempts, lease until %v, last status %d, delivered at %v; "+
			"want delivered, 1 attempt, no lease, 200, a time", n.Status, n.Attempts, n.LeaseUntil, n.LastStatus, n.DeliveredAt)
	}
	if _, total, err := st.ListNotifications(ctx, "", 10, 0); err != nil || total != 1 {
		t.Errorf("%d notifications (%v), want 1", total, err)
	}
	// What a restarted server's worker would claim, at any time from now on: nothing.
	again, err := st.ClaimDue(ctx, h.clock.Now().AddDate(1, 0, 0), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range again {
		t.Errorf("notification %s (status %s, %d attempts before) would be sent again after a restart", n.ID, n.Status, n.Attempts-1)
	}
	rcv.Close() // waits for the requests in its hands
	if got := received.Load(); got != 1 {
		t.Errorf("the receiver got %d requests, want 1", got)
	}
}

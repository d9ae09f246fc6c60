package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookDelivery is one request a partner's webhook endpoint received.
type hookDelivery struct {
	header http.Header
	body   string
}

// hookReceiver records every request and answers 503 while down, else 200 {"code":0}.
type hookReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	down bool
	got  []hookDelivery
	ch   chan hookDelivery
}

func newHookReceiver(t *testing.T) *hookReceiver {
	rc := &hookReceiver{down: true, ch: make(chan hookDelivery, 100)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		d := hookDelivery{header: r.Header.Clone(), body: string(b)}
		rc.mu.Lock()
		rc.got = append(rc.got, d)
		down := rc.down
		rc.mu.Unlock()
		rc.ch <- d
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"code":0,"message":"success"}`))
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *hookReceiver) setDown(down bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.down = down
}

func (rc *hookReceiver) next(t *testing.T, what string) hookDelivery {
	t.Helper()
	select {
	case d := <-rc.ch:
		return d
	case <-time.After(time.Minute):
		t.Fatalf("%s: no webhook within a minute", what)
		return hookDelivery{}
	}
}

// contractSignatures answers how many of the space-separated signatures in webhook-signature
// there are and whether one is, as contract 7 words it, "v1," and the base64 of the
// HMAC-SHA256, keyed with the decoded bytes after "whsec_", of "id.timestamp.body".
func contractSignatures(t *testing.T, secret string, d hookDelivery) (int, bool) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) != 32 || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("webhook secret %d bytes (%v), want whsec_ and the base64 of 32 bytes", len(key), err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(d.header.Get("webhook-id") + "." + d.header.Get("webhook-timestamp") + "." + d.body))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	sigs := strings.Split(d.header.Get("webhook-signature"), " ")
	for _, s := range sigs {
		if s == want {
			return len(sigs), true
		}
	}
	return len(sigs), false
}

// settledReward makes one reward of a card bound to a user of app a reach status 4 (an operator
// settles its bill), which notifies a.
func settledReward(t *testing.T, h *harness, a *app, campaign string) {
	t.Helper()
	c := h.client(a)
	ctx := context.Background()
	user, err := c.GetVuid(ctx, "008618600000077")
	if err != nil {
		t.Fatal(err)
	}
	card := pan("411111", 77)
	if err := c.AddCard(ctx, user.Vuid, card); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "enroll", map[string]any{"cardId": card, "enrollmentGroupId": "EG-" + strings.TrimPrefix(campaign, "CMP-")}, nil); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	var sum struct{ Accepted, Rejected int }
	h.adminDo(http.MethodPost, "/admin/v1/transactions", []map[string]any{{"transactionId": "T-" + campaign, "type": "purchase", "pan": card,
		"amount": 100, "currency": "CNY", "transactionTime": h.clock.Now().Add(-time.Second).Format(time.RFC3339Nano), "merchantId": "M",
		"merchantName": "Shop", "mcc": "5812", "merchantCountry": "CN"}}, http.StatusOK, &sum)
	if sum.Accepted != 1 {
		t.Fatalf("ingest: %+v", sum)
	}
	var bills struct{ Bills []struct{ BillID string } }
	h.adminDo(http.MethodGet, "/admin/v1/bills?campaignId="+campaign, nil, http.StatusOK, &bills)
	if len(bills.Bills) != 1 {
		t.Fatalf("bills: %+v, want one", bills)
	}
	bill := bills.Bills[0].BillID
	h.adminDo(http.MethodPost, "/admin/v1/bills/"+bill+"/generate", map[string]any{"force": true}, http.StatusOK, nil)
	h.adminDo(http.MethodPost, "/admin/v1/bills/"+bill+"/approve", nil, http.StatusOK, nil)
	h.adminDo(http.MethodPost, "/admin/v1/bills/"+bill+"/settle", map[string]any{"all": 4}, http.StatusOK, nil)
}

// A retry queued before POST /admin/v1/apps/{id}/secret goes out signed by both secrets
// (contract 7: "keeps the old one signing for 24 hours: both signatures travel
// space-separated"), each verifiable from the contract's words; past the 24 hours only the
// new one signs. The timestamp is the attempt's, in unix seconds by the server's clock.
func TestReviewWebhookSecretRotationSignsRetries(t *testing.T) {
	t.Parallel()
	rcv := newHookReceiver(t)
	h := start(t)
	h.loadBINs()
	h.adminDo(http.MethodPut, "/admin/v1/campaigns/CMP-ROT", openCampaign("CMP-ROT", h.clock.Now(),
		monthlyOffer("OF-ROT", map[string]any{}, each, map[string]any{"type": "Cash", "amount": 5})), http.StatusOK, nil)
	a := h.createApp(map[string]any{"notifyUrl": rcv.URL + "/api/v1/reward/notification", "campaignIds": []string{"CMP-ROT"}})
	settledReward(t, h, a, "CMP-ROT")

	first := rcv.next(t, "first attempt")
	checkTimestamp := func(what string, d hookDelivery) {
		t.Helper()
		sec, err := strconv.ParseInt(d.header.Get("webhook-timestamp"), 10, 64)
		if now := h.clock.Now().Unix(); err != nil || sec < now-60 || sec > now+1 {
			t.Errorf("%s: webhook-timestamp %q, want unix seconds near %d", what, d.header.Get("webhook-timestamp"), now)
		}
	}
	checkTimestamp("first attempt", first)
	if n, ok := contractSignatures(t, a.WebhookSecret, first); n != 1 || !ok || first.body != `{"rewardId":`+strconvQuote(t, first.body)+`}` {
		t.Fatalf("first attempt: %d signatures, verifies %v, body %s", n, ok, first.body)
	}
	id := first.header.Get("webhook-id")

	var rotated struct{ WebhookSecret string }
	h.adminDo(http.MethodPost, "/admin/v1/apps/"+a.AppID+"/secret", nil, http.StatusOK, &rotated)
	rcv.setDown(false)
	h.clock.Advance(31 * time.Second) // the first retry comes within 30 s
	retry := rcv.next(t, "retry after the rotation")
	checkTimestamp("retry", retry)
	if retry.header.Get("webhook-id") != id || retry.body != first.body {
		t.Errorf("retry: id %q body %s, want %q %s", retry.header.Get("webhook-id"), retry.body, id, first.body)
	}
	nNew, okNew := contractSignatures(t, rotated.WebhookSecret, retry)
	_, okOld := contractSignatures(t, a.WebhookSecret, retry)
	if nNew != 2 || !okNew || !okOld {
		t.Errorf("retry after rotation: %d signatures, new secret verifies %v, old one %v; want 2, both",
			nNew, okNew, okOld)
	}
	waitStatus(t, h, id, "delivered")

	// Past the grace period an operator's redelivery is signed by the new secret alone.
	h.clock.Advance(25 * time.Hour)
	h.adminDo(http.MethodPost, "/admin/v1/notifications/"+id+"/redeliver", nil, http.StatusOK, nil)
	again := rcv.next(t, "redelivery past the grace period")
	checkTimestamp("redelivery", again)
	n, okNew := contractSignatures(t, rotated.WebhookSecret, again)
	_, okOld = contractSignatures(t, a.WebhookSecret, again)
	if n != 1 || !okNew || okOld || again.header.Get("webhook-id") != id {
		t.Errorf("redelivery past 24 h: %d signatures, new verifies %v, old %v, id %q", n, okNew, okOld, again.header.Get("webhook-id"))
	}
	waitStatus(t, h, id, "delivered")

	// The webhook log lines (one per attempt) name the message, never a secret, a signature,
	// the card number or the receiver's URL.
	logs := h.log.String()
	if strings.Count(logs, `"msg":"webhook`) < 3 || !strings.Contains(logs, id) {
		t.Errorf("the log does not show the three attempts of %s", id)
	}
	leaks := []string{a.WebhookSecret, rotated.WebhookSecret, strings.TrimPrefix(a.WebhookSecret, "whsec_"),
		strings.TrimPrefix(rotated.WebhookSecret, "whsec_"), pan("411111", 77), rcv.URL}
	for _, d := range []hookDelivery{first, retry, again} {
		for _, sig := range strings.Split(d.header.Get("webhook-signature"), " ") {
			leaks = append(leaks, strings.TrimPrefix(sig, "v1,"))
		}
	}
	for _, l := range leaks {
		if strings.Contains(logs, l) {
			t.Errorf("the server log holds %q", l)
		}
	}
}

// strconvQuote answers the JSON string inside {"rewardId":...} of body, failing when it has
// another shape: the payload is exactly the one field of the contract.
func strconvQuote(t *testing.T, body string) string {
	t.Helper()
	v, ok := strings.CutPrefix(body, `{"rewardId":"`)
	if !ok || !strings.HasSuffix(v, `"}`) || strings.ContainsAny(strings.TrimSuffix(v, `"}`), `",`) {
		t.Fatalf("body %s is not {\"rewardId\":\"...\"}", body)
	}
	return `"` + strings.TrimSuffix(v, `"}`) + `"`
}

// waitStatus waits until the admin list shows notification id in status.
func waitStatus(t *testing.T, h *harness, id, status string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var list struct {
			Notifications []struct{ ID, Status string }
		}
		h.adminDo(http.MethodGet, "/admin/v1/notifications?status="+status, nil, http.StatusOK, &list)
		for _, n := range list.Notifications {
			if n.ID == id {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("notification %s not %s within a minute", id, status)
		}
	}
}

// GET /admin/v1/notifications?status= refuses a status it does not know, naming it, also next
// to another bad parameter ("a validation error lists every problem found, not just the
// first", contract 9); redelivering an unknown notification answers 404.
func TestReviewNotificationsAdminInput(t *testing.T) {
	t.Parallel()
	h := start(t)
	for _, c := range []struct {
		query  string
		fields []string
	}{
		{"status=junk", []string{"status"}},
		{"status=PENDING", []string{"status"}},
		{"status=junk&limit=abc", []string{"status", "limit"}},
		{"status=failed&offset=-1", []string{"offset"}},
	} {
		status, body := h.adminRaw(http.MethodGet, "/admin/v1/notifications?"+c.query, "application/json", "")
		if status != http.StatusBadRequest {
			t.Errorf("?%s: HTTP %d %s, want 400", c.query, status, body)
			continue
		}
		for _, f := range c.fields {
			if !strings.Contains(body, `"field":"`+f+`"`) {
				t.Errorf("?%s: %s does not name %s", c.query, body, f)
			}
		}
	}
	for _, s := range []string{"", "pending", "delivered", "failed"} {
		if status, body := h.adminRaw(http.MethodGet, "/admin/v1/notifications?status="+s, "application/json", ""); status != http.StatusOK ||
			!strings.Contains(body, `"notifications":[]`) {
			t.Errorf("?status=%s: HTTP %d %s", s, status, body)
		}
	}
	if status, body := h.adminRaw(http.MethodPost, "/admin/v1/notifications/msg_unknown/redeliver", "application/json", ""); status != http.StatusNotFound ||
		!strings.Contains(body, `"not_found"`) {
		t.Errorf("redeliver an unknown notification: HTTP %d %s, want 404", status, body)
	}
}

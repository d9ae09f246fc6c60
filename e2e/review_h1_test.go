package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/client"
	"github.com/vsrp-dev/vsrp/server"
)

// simTxn is a sandbox transaction of the card: a 100.00 CNY dining purchase.
func simTxn(cardID string) map[string]any {
	return map[string]any{"cardId": cardID, "amount": 100, "currency": "CNY", "mcc": "5812", "merchantId": "M-1",
		"merchantName": "Bistro", "merchantCountry": "CN"}
}

// TestSandboxSimulatedTransactionStaysInTheAppsCampaigns: app A is granted CMP-H1A, app B
// CMP-H1B. A card that both apps bound and that B enrolled in its own campaign is one of A's
// cards, yet a transaction A simulates must not earn a reward in B's campaign (which A cannot
// even see, and for which B would pay and be notified): simulateTransaction answers 2007 and
// nothing is stored. A card enrolled only in A's campaigns still earns as before.
func TestSandboxSimulatedTransactionStaysInTheAppsCampaigns(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, h *harness) {
		h.loadBINs()
		ctx := context.Background()
		now := h.clock.Now()
		for _, id := range []string{"CMP-H1A", "CMP-H1B"} {
			h.adminDo(http.MethodPut, "/admin/v1/campaigns/"+id, openCampaign(id, now, monthlyOffer("OF-"+id,
				map[string]any{"mcc": []string{"5812"}}, each, map[string]any{"type": "Cash", "percent": 10})), http.StatusOK, nil)
		}
		appA := h.createApp(map[string]any{"campaignIds": []string{"CMP-H1A"}})
		appB := h.createApp(map[string]any{"campaignIds": []string{"CMP-H1B"}})
		ca, cb := h.client(appA), h.client(appB)
		ua, err := ca.GetVuid(ctx, "h1-user-a")
		if err != nil {
			t.Fatal(err)
		}
		ub, err := cb.GetVuid(ctx, "h1-user-b")
		if err != nil {
			t.Fatal(err)
		}
		shared, err := ca.GetCardInfo(ctx, pan("411111", 901))
		if err != nil {
			t.Fatal(err)
		}
		own, err := ca.GetCardInfo(ctx, pan("411111", 902))
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []error{
			ca.AddCard(ctx, ua.Vuid, shared.CardID),
			ca.AddCard(ctx, ua.Vuid, own.CardID),
			cb.AddCard(ctx, ub.Vuid, shared.CardID),
			ca.Call(ctx, "enroll", map[string]any{"cardId": shared.CardID, "enrollmentGroupId": "EG-H1A"}, nil),
			ca.Call(ctx, "enroll", map[string]any{"cardId": own.CardID, "enrollmentGroupId": "EG-H1A"}, nil),
			cb.Call(ctx, "enroll", map[string]any{"cardId": shared.CardID, "enrollmentGroupId": "EG-H1B"}, nil),
		} {
			if step != nil {
				t.Fatal(step)
			}
		}

		wantCode(t, "A simulating a transaction of a card enrolled in B's campaign",
			ca.Call(ctx, "sandbox/simulateTransaction", simTxn(shared.CardID), nil), client.CodeForbidden)
		var listB struct {
			TotalRewards int `json:"totalRewards"`
		}
		if err := cb.Call(ctx, "listRewards", map[string]any{"vuid": ub.Vuid, "status": 0}, &listB); err != nil {
			t.Fatal(err)
		}
		if listB.TotalRewards != 0 {
			t.Errorf("B's user has %d rewards in B's campaign after A's sandbox call, want 0", listB.TotalRewards)
		}
		var search struct{ Total int }
		h.adminDo(http.MethodGet, "/admin/v1/rewards?campaignId=CMP-H1B", nil, http.StatusOK, &search)
		if search.Total != 0 {
			t.Errorf("rewards in CMP-H1B after A's sandbox call: %d, want 0", search.Total)
		}

		var sum struct{ Accepted int }
		if err := ca.Call(ctx, "sandbox/simulateTransaction", simTxn(own.CardID), &sum); err != nil || sum.Accepted != 1 {
			t.Fatalf("A simulating a transaction of a card enrolled only in its campaign: %+v, %v", sum, err)
		}
		var listA struct {
			TotalRewards int `json:"totalRewards"`
		}
		if err := ca.Call(ctx, "listRewards", map[string]any{"cardId": own.CardID, "status": 0}, &listA); err != nil {
			t.Fatal(err)
		}
		if listA.TotalRewards != 1 {
			t.Errorf("A's own card after its sandbox transaction: %d rewards, want 1", listA.TotalRewards)
		}
	}, func(c *server.Config) { c.Sandbox = true })
}

// TestSandboxSimulateTransactionAmountNotANumber: an amount that is not a decimal number is a
// parameter with an invalid value (1003), not a malformed request (1001: the payload is a JSON
// object).
func TestSandboxSimulateTransactionAmountNotANumber(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *server.Config) { c.Sandbox = true })
	h.loadBINs()
	ctx := context.Background()
	h.adminDo(http.MethodPut, "/admin/v1/campaigns/CMP-H1N", openCampaign("CMP-H1N", h.clock.Now(), monthlyOffer("OF-H1N",
		map[string]any{"mcc": []string{"5812"}}, each, map[string]any{"type": "Cash", "percent": 10})), http.StatusOK, nil)
	a := h.createApp(map[string]any{"campaignIds": []string{"CMP-H1N"}})
	c := h.client(a)
	card, err := c.GetCardInfo(ctx, pan("411111", 903))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "enroll", map[string]any{"cardId": card.CardID, "enrollmentGroupId": "EG-H1N"}, nil); err != nil {
		t.Fatal(err)
	}
	for what, amount := range map[string]any{"a word": "abc", "exponent notation": json.Number("1e2"),
		"an object": map[string]any{"value": 1}, "a boolean": true} {
		txn := simTxn(card.CardID)
		txn["amount"] = amount
		wantCode(t, "simulateTransaction with "+what+" for amount", c.Call(ctx, "sandbox/simulateTransaction", txn, nil), client.CodeInvalidParam)
	}
	var sum struct{ Accepted int }
	if err := c.Call(ctx, "sandbox/simulateTransaction", simTxn(card.CardID), &sum); err != nil || sum.Accepted != 1 {
		t.Errorf("simulateTransaction with amount 100: %+v, %v", sum, err)
	}
}

// adminReasons answers the reasons of an admin validation error by field.
func adminReasons(t *testing.T, body string) map[string]string {
	t.Helper()
	var e struct {
		Error struct {
			Details []struct{ Field, Reason string }
		}
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	out := map[string]string{}
	for _, d := range e.Error.Details {
		out[d.Field] = d.Reason
	}
	return out
}

// TestAdminRewardSearchAppIDWithoutVuid: the reward search takes appId as the app of the vuid
// (a user belongs to one app). Without vuid, appId used to be ignored in silence: an operator
// asking for app A's rewards got every app's, B's included. It answers 400 on appId instead.
func TestAdminRewardSearchAppIDWithoutVuid(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.loadBINs()
	ctx := context.Background()
	h.adminDo(http.MethodPut, "/admin/v1/campaigns/CMP-H1S", openCampaign("CMP-H1S", h.clock.Now(), monthlyOffer("OF-H1S",
		map[string]any{"mcc": []string{"5812"}}, each, map[string]any{"type": "Cash", "percent": 10})), http.StatusOK, nil)
	appA := h.createApp(map[string]any{"campaignIds": []string{"CMP-H1S"}})
	appB := h.createApp(map[string]any{"campaignIds": []string{"CMP-H1S"}})
	cb := h.client(appB)
	card, err := cb.GetCardInfo(ctx, pan("411111", 904))
	if err != nil {
		t.Fatal(err)
	}
	if err := cb.Call(ctx, "enroll", map[string]any{"cardId": card.CardID, "enrollmentGroupId": "EG-H1S"}, nil); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	var sum struct{ Accepted int }
	h.adminDo(http.MethodPost, "/admin/v1/transactions", []map[string]any{{"transactionId": "H1S-1", "type": "purchase",
		"cardId": card.CardID, "amount": 100, "currency": "CNY", "transactionTime": h.clock.Now().Add(-time.Second).Format(time.RFC3339Nano),
		"merchantId": "M", "merchantName": "S", "mcc": "5812", "merchantCountry": "CN"}}, http.StatusOK, &sum)
	if sum.Accepted != 1 {
		t.Fatalf("ingest: %+v", sum)
	}
	status, body := h.adminRaw(http.MethodGet, "/admin/v1/rewards?appId="+appA.AppID, "application/json", "")
	if status != http.StatusBadRequest || adminReasons(t, body)["appId"] == "" {
		t.Errorf("reward search by appId of A alone: HTTP %d %.300s; want 400 on appId (not every app's rewards)", status, body)
	}
	var inCampaign struct{ Total int }
	h.adminDo(http.MethodGet, "/admin/v1/rewards?campaignId=CMP-H1S", nil, http.StatusOK, &inCampaign)
	if inCampaign.Total != 1 {
		t.Errorf("rewards of CMP-H1S: %d, want 1", inCampaign.Total)
	}
}

// TestAdminRewardSearchLimitBound: limit is 1 to 500; a limit over it says so, whatever its
// size (a limit over 1,000 was told "1 to 1000", and 1,000 was then refused as over 500).
func TestAdminRewardSearchLimitBound(t *testing.T) {
	t.Parallel()
	h := start(t)
	for _, limit := range []string{"501", "1000", "1001", "5000"} {
		status, body := h.adminRaw(http.MethodGet, "/admin/v1/rewards?limit="+limit, "application/json", "")
		reason := adminReasons(t, body)["limit"]
		if status != http.StatusBadRequest || !strings.Contains(reason, "500") || strings.Contains(reason, "1000") {
			t.Errorf("limit=%s: HTTP %d, reason %q; want 400 saying 1 to 500", limit, status, reason)
		}
	}
	h.adminDo(http.MethodGet, "/admin/v1/rewards?limit=500", nil, http.StatusOK, nil)
}

// TestListRewardsByAnotherAppsCardOfAnAccount: under account aggregation, app A's user has
// cards X and Y; app B (granted the same campaign) knows X alone, bound to a user of its own.
// B sees the account's reward through X, without Y among its cardIds. Asked for Y's rewards
// (a cardId B can get from Y's number with getCardInfo), B must answer as for any card it does
// not know, an empty list: the reward answered there told B that Y is bound, in A, to the same
// person as X.
func TestListRewardsByAnotherAppsCardOfAnAccount(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, h *harness) {
		h.loadBINs()
		ctx := context.Background()
		now := h.clock.Now()
		doc := openCampaign("CMP-H1ACC", now, monthlyOffer("OF-H1ACC", map[string]any{"mcc": []string{"5812"}}, each,
			map[string]any{"type": "Cash", "percent": 10}))
		doc["aggregation"] = "account"
		h.adminDo(http.MethodPut, "/admin/v1/campaigns/CMP-H1ACC", doc, http.StatusOK, nil)
		appA := h.createApp(map[string]any{"campaignIds": []string{"CMP-H1ACC"}})
		appB := h.createApp(map[string]any{"campaignIds": []string{"CMP-H1ACC"}})
		ca, cb := h.client(appA), h.client(appB)
		ua, err := ca.GetVuid(ctx, "h1-acc-a")
		if err != nil {
			t.Fatal(err)
		}
		ub, err := cb.GetVuid(ctx, "h1-acc-b")
		if err != nil {
			t.Fatal(err)
		}
		panX, panY, panZ := pan("411111", 911), pan("411111", 912), pan("411111", 913)
		x, err := ca.GetCardInfo(ctx, panX)
		if err != nil {
			t.Fatal(err)
		}
		y, err := ca.GetCardInfo(ctx, panY)
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []error{
			ca.AddCard(ctx, ua.Vuid, x.CardID),
			ca.AddCard(ctx, ua.Vuid, y.CardID),
			ca.Call(ctx, "enroll", map[string]any{"cardId": x.CardID, "enrollmentGroupId": "EG-H1ACC"}, nil),
			ca.Call(ctx, "enroll", map[string]any{"cardId": y.CardID, "enrollmentGroupId": "EG-H1ACC"}, nil),
			cb.AddCard(ctx, ub.Vuid, x.CardID),
		} {
			if step != nil {
				t.Fatal(step)
			}
		}
		h.clock.Advance(time.Minute)
		var sum struct{ Accepted int }
		h.adminDo(http.MethodPost, "/admin/v1/transactions", []map[string]any{{"transactionId": "H1ACC-Y", "type": "purchase",
			"cardId": y.CardID, "amount": 100, "currency": "CNY", "transactionTime": h.clock.Now().Add(-time.Second).Format(time.RFC3339Nano),
			"merchantId": "M", "merchantName": "S", "mcc": "5812", "merchantCountry": "CN"}}, http.StatusOK, &sum)
		if sum.Accepted != 1 {
			t.Fatalf("ingest: %+v", sum)
		}
		type page struct {
			TotalRewards int `json:"totalRewards"`
			Rewards      []struct {
				CardIDs []string `json:"cardIds"`
			} `json:"rewards"`
		}
		list := func(c *client.Client, cardID string) page {
			t.Helper()
			var p page
			if err := c.Call(ctx, "listRewards", map[string]any{"cardId": cardID, "status": 0}, &p); err != nil {
				t.Fatalf("listRewards of %s: %v", cardID, err)
			}
			return p
		}
		if p := list(ca, y.CardID); p.TotalRewards != 1 {
			t.Fatalf("A's rewards of Y: %+v, want the account's reward", p)
		}
		if p := list(cb, x.CardID); p.TotalRewards != 1 || len(p.Rewards[0].CardIDs) != 1 || p.Rewards[0].CardIDs[0] != x.CardID {
			t.Errorf("B's rewards of X: %+v, want the account's reward with X alone", p)
		}
		yOfB, err := cb.GetCardInfo(ctx, panY)
		if err != nil {
			t.Fatal(err)
		}
		z, err := cb.GetCardInfo(ctx, panZ)
		if err != nil {
			t.Fatal(err)
		}
		unknown, got := list(cb, z.CardID), list(cb, yOfB.CardID)
		if got.TotalRewards != unknown.TotalRewards || len(got.Rewards) != 0 {
			t.Errorf("B's rewards of Y, a card B does not know: %+v; a card B does not know answers %+v", got, unknown)
		}
	})
}

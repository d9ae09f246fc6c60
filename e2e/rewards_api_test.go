package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/client"
	"github.com/vsrp-dev/vsrp/server"
)

// TestRewardsAPI drives listRewards, showReward, claimReward and updateRewardStatus through
// the HTTP App API with the Go client, as a partner app would, and checks the answers as the
// contract writes them (sections 6.8–6.11): literal field names, types, and values worked out
// from the campaign and the server's clock.
func TestRewardsAPI(t *testing.T) {
	t.Parallel()
	scenarioRewardsAPI(t, start(t))
}

// TestRewardsAPIOnPostgres runs the same scenario on PostgreSQL when VSRP_TEST_POSTGRES_URL
// names a server.
func TestRewardsAPIOnPostgres(t *testing.T) {
	base := os.Getenv("VSRP_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("VSRP_TEST_POSTGRES_URL is not set")
	}
	t.Parallel()
	dsn := freshPostgres(t, base)
	scenarioRewardsAPI(t, start(t, func(c *server.Config) {
		c.DB = dsn
		c.MasterKey = newMasterKey()
	}))
}

// object is a JSON object decoded with json.Number for numbers, so that a test can tell a
// number from a string holding digits.
type object = map[string]any

func decodeObject(t *testing.T, what string, raw []byte) object {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var o object
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("%s: %v: %s", what, err, raw)
	}
	return o
}

// callObject makes an App API call with the client and answers its data as an object.
func callObject(t *testing.T, c *client.Client, name string, params any) object {
	t.Helper()
	var raw json.RawMessage
	if err := c.Call(context.Background(), name, params, &raw); err != nil {
		t.Fatalf("%s %v: %v", name, params, err)
	}
	return decodeObject(t, name, raw)
}

// wantNumber fails the test unless o[key] is a JSON number equal to want.
func wantNumber(t *testing.T, what string, o object, key string, want float64) {
	t.Helper()
	n, ok := o[key].(json.Number)
	if !ok {
		t.Errorf("%s: %s is %T %v, want a JSON number", what, key, o[key], o[key])
		return
	}
	if f, err := strconv.ParseFloat(n.String(), 64); err != nil || f != want {
		t.Errorf("%s: %s = %s, want %v", what, key, n, want)
	}
}

// isNumber reports whether v is a JSON number equal to want.
func isNumber(v any, want float64) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	return err == nil && f == want
}

// wantString fails the test unless o[key] is the JSON string want.
func wantString(t *testing.T, what string, o object, key, want string) {
	t.Helper()
	if s, ok := o[key].(string); !ok || s != want {
		t.Errorf("%s: %s is %T %#v, want the string %q", what, key, o[key], o[key], want)
	}
}

// wantNull fails the test unless o has key, set to null.
func wantNull(t *testing.T, what string, o object, key string) {
	t.Helper()
	if v, ok := o[key]; !ok || v != nil {
		t.Errorf("%s: %s is %#v (present: %v), want null", what, key, v, ok)
	}
}

// wantTime fails the test unless o[key] is an RFC 3339 datetime with the deployment's offset
// (+08:00) within [from, to] (the API writes whole seconds: from is truncated), and answers it.
func wantTime(t *testing.T, what string, o object, key string, from, to time.Time) time.Time {
	t.Helper()
	s, ok := o[key].(string)
	if !ok {
		t.Errorf("%s: %s is %T %#v, want a datetime", what, key, o[key], o[key])
		return time.Time{}
	}
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Errorf("%s: %s = %q: %v", what, key, s, err)
		return time.Time{}
	}
	if _, off := at.Zone(); off != shanghaiOffset {
		t.Errorf("%s: %s = %q, want the +08:00 offset", what, key, s)
	}
	if at.Before(from.Truncate(time.Second)) || at.After(to) {
		t.Errorf("%s: %s = %s, want between %s and %s", what, key, s, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	}
	return at
}

// rewardInfoKeys are RewardInfo's names (contract 6.8), spelled as the source document does.
var rewardInfoKeys = []string{"rewardId", "vuid", "bill", "status", "name", "type", "provider", "code", "currency",
	"calculatedAmount", "confirmedAmount", "RewardItems", "claimRequired", "claimBefore", "expiredAt", "createdAt",
	"calculatedAt", "calculateMessage", "claimedAt", "claimMessage", "settledAt", "settleMessage", "redeemedAt",
	"redeemMessage", "eventCount", "eventTotalAmount", "cardIds"}

// checkRewardInfo checks the names and types every RewardInfo has, and its bill's.
func checkRewardInfo(t *testing.T, what string, r object, vuid, cardID string) {
	t.Helper()
	for _, k := range rewardInfoKeys {
		if _, ok := r[k]; !ok {
			t.Errorf("%s: no %q in %v", what, k, r)
		}
	}
	for _, k := range []string{"rewardItems", "confirmAmount", "cardIDs", "cardId"} {
		if _, ok := r[k]; ok {
			t.Errorf("%s: has %q, which RewardInfo does not name", what, k)
		}
	}
	if s, ok := r["status"].(string); !ok || len(s) != 1 || s[0] < '0' || s[0] > '7' {
		t.Errorf("%s: status is %T %#v, want a string holding one digit", what, r["status"], r["status"])
	}
	wantString(t, what, r, "vuid", vuid)
	wantString(t, what, r, "currency", "CNY")
	if ids, ok := r["cardIds"].([]any); !ok || len(ids) != 1 || ids[0] != cardID {
		t.Errorf("%s: cardIds %#v, want [%q]", what, r["cardIds"], cardID)
	}
	if _, ok := r["RewardItems"].([]any); !ok {
		t.Errorf("%s: RewardItems is %T, want an array", what, r["RewardItems"])
	}
	if !isNumber(r["claimRequired"], 0) && !isNumber(r["claimRequired"], 1) {
		t.Errorf("%s: claimRequired %#v, want the number 0 or 1", what, r["claimRequired"])
	}
	for _, k := range []string{"calculatedAmount", "eventCount", "eventTotalAmount"} {
		if _, ok := r[k].(json.Number); !ok {
			t.Errorf("%s: %s is %T, want a number", what, k, r[k])
		}
	}
	bill, ok := r["bill"].(object)
	if !ok {
		t.Fatalf("%s: bill is %T, want an object", what, r["bill"])
	}
	for _, k := range []string{"campaignId", "offerId", "billId", "status", "name", "type", "StartDate", "EndDate", "SettlementDate"} {
		if _, ok := bill[k]; !ok {
			t.Errorf("%s: bill has no %q: %v", what, k, bill)
		}
	}
	for _, k := range []string{"startDate", "endDate", "settlementDate"} {
		if _, ok := bill[k]; ok {
			t.Errorf("%s: bill has %q; the contract spells it with a capital", what, k)
		}
	}
	if _, ok := bill["status"].(json.Number); !ok {
		t.Errorf("%s: bill.status is %T %#v, want a number (BillInfo.status is an int)", what, bill["status"], bill["status"])
	}
	wantString(t, what+" bill", bill, "type", "SYSTEM")
	wantString(t, what+" bill", bill, "campaignId", "CMP-RW")
}

func scenarioRewardsAPI(t *testing.T, h *harness) {
	ctx := context.Background()
	h.loadBINs()
	now := h.clock.Now()
	offer := func(id, mcc string, goal, reward map[string]any) map[string]any {
		return monthlyOffer(id, map[string]any{"mcc": []string{mcc}}, goal, reward)
	}
	h.adminDo(http.MethodPut, "/admin/v1/campaigns/CMP-RW", openCampaign("CMP-RW", now,
		offer("OF-CASH", "5812", each,
			map[string]any{"type": "Cash", "amount": 5, "claimRequired": true, "claimDays": 30, "validityDays": 60, "provider": "Acme Bank", "code": "CASH5"}),
		offer("OF-CPN", "5499", each,
			map[string]any{"type": "Coupon", "amount": 2, "claimRequired": true, "claimDays": 30, "validityDays": 90}),
		offer("OF-SP", "5411", map[string]any{"type": "spend", "threshold": 300}, map[string]any{"type": "Cash", "percent": 10}),
	), http.StatusOK, nil)
	a := h.createApp(map[string]any{"campaignIds": []string{"CMP-RW"}})
	c := h.client(a)
	user, err := c.GetVuid(ctx, "008618600000077")
	if err != nil {
		t.Fatal(err)
	}
	cardPAN := pan("411111", 77)
	ci, err := c.GetCardInfo(ctx, cardPAN)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddCard(ctx, user.Vuid, ci.CardID); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "enroll", map[string]any{"cardId": ci.CardID, "enrollmentGroupId": "EG-RW"}, nil); err != nil {
		t.Fatal(err)
	}

	// Four purchases, each arriving a minute after the last, so each reward has its own
	// createdAt: P1 cash, P2 coupon, P3 spend (short of its goal), P4 cash.
	type arrival struct {
		id, mcc     string
		amount      float64
		offer       string
		from, until time.Time // the server's clock around the ingestion
	}
	arrivals := []*arrival{{id: "P1", mcc: "5812", amount: 100, offer: "OF-CASH"}, {id: "P2", mcc: "5499", amount: 88, offer: "OF-CPN"},
		{id: "P3", mcc: "5411", amount: 120.5, offer: "OF-SP"}, {id: "P4", mcc: "5812", amount: 60, offer: "OF-CASH"}}
	for _, x := range arrivals {
		h.clock.Advance(time.Minute)
		x.from = h.clock.Now()
		var sum struct{ Accepted, Rejected int }
		h.adminDo(http.MethodPost, "/admin/v1/transactions", []map[string]any{{"transactionId": x.id, "type": "purchase", "cardId": ci.CardID,
			"amount": x.amount, "currency": "CNY", "transactionTime": x.from.Add(-time.Second).Format(time.RFC3339Nano), "merchantId": "M1",
			"merchantName": "Shop", "mcc": x.mcc, "merchantCountry": "CN"}}, http.StatusOK, &sum)
		x.until = h.clock.Now()
		if sum.Accepted != 1 || sum.Rejected != 0 {
			t.Fatalf("ingest %s: %+v", x.id, sum)
		}
	}
	// The bills are the month of the purchases in the campaign's zone; settlement falls due the
	// day after the month ends (no settlement delay).
	sh := time.FixedZone("UTC+8", shanghaiOffset)
	bought := arrivals[0].from.In(sh)
	monthStart := time.Date(bought.Year(), bought.Month(), 1, 0, 0, 0, 0, sh)
	monthEnd := monthStart.AddDate(0, 1, -1)
	startDate, endDate, settleDate := monthStart.Format(time.DateOnly), monthEnd.Format(time.DateOnly), monthEnd.AddDate(0, 0, 1).Format(time.DateOnly)

	// listRewards by vuid, status 0: every reward, newest first, the default page of 20.
	list := callObject(t, c, "listRewards", map[string]any{"vuid": user.Vuid, "status": 0})
	for _, k := range []string{"totalRewards", "page", "pageSize", "totalPages", "rewards"} {
		if _, ok := list[k]; !ok {
			t.Errorf("listRewards: no %q in %v", k, list)
		}
	}
	wantNumber(t, "listRewards", list, "totalRewards", 4)
	wantNumber(t, "listRewards", list, "page", 0)
	wantNumber(t, "listRewards", list, "pageSize", 20)
	wantNumber(t, "listRewards", list, "totalPages", 1)
	rewards, _ := list["rewards"].([]any)
	if len(rewards) != 4 {
		t.Fatalf("listRewards: %d rewards, want 4: %v", len(rewards), list)
	}
	ids := map[string]string{} // purchase → rewardId
	byID := map[string]object{}
	for i, x := range []*arrival{arrivals[3], arrivals[2], arrivals[1], arrivals[0]} {
		r, _ := rewards[i].(object)
		what := fmt.Sprintf("listRewards[%d] (%s)", i, x.id)
		checkRewardInfo(t, what, r, user.Vuid, ci.CardID)
		wantTime(t, what, r, "createdAt", x.from, x.until)
		bill, _ := r["bill"].(object)
		wantString(t, what+" bill", bill, "offerId", x.offer)
		wantString(t, what+" bill", bill, "StartDate", startDate)
		wantString(t, what+" bill", bill, "EndDate", endDate)
		wantString(t, what+" bill", bill, "SettlementDate", settleDate)
		wantNumber(t, what+" bill", bill, "status", 0)
		wantNumber(t, what, r, "eventCount", 1)
		wantNumber(t, what, r, "eventTotalAmount", x.amount)
		for _, k := range []string{"confirmedAmount", "claimBefore", "expiredAt", "claimedAt", "settledAt", "redeemedAt"} {
			wantNull(t, what, r, k)
		}
		id, _ := r["rewardId"].(string)
		ids[x.id], byID[id] = id, r
	}
	cash1, coupon, spend, cash4 := byID[ids["P1"]], byID[ids["P2"]], byID[ids["P3"]], byID[ids["P4"]]
	wantString(t, "P1", cash1, "status", "1")
	wantString(t, "P1", cash1, "type", "Cash")
	wantString(t, "P1", cash1, "provider", "Acme Bank")
	wantString(t, "P1", cash1, "code", "CASH5")
	wantNumber(t, "P1", cash1, "calculatedAmount", 5)
	wantNumber(t, "P1", cash1, "claimRequired", 1)
	wantString(t, "P2", coupon, "type", "Coupon")
	wantNumber(t, "P2", coupon, "calculatedAmount", 2)
	wantString(t, "P3", spend, "status", "0") // 120.50 of 300.00
	wantNumber(t, "P3", spend, "calculatedAmount", 0)
	wantNumber(t, "P3", spend, "claimRequired", 0)
	wantNumber(t, "P4", cash4, "calculatedAmount", 5)

	// Pages, by cardId: page 1 of 3 holds the oldest reward.
	page := callObject(t, c, "listRewards", map[string]any{"cardId": ci.CardID, "status": 0, "page": 1, "pageSize": 3})
	wantNumber(t, "page 1 of 3", page, "totalRewards", 4)
	wantNumber(t, "page 1 of 3", page, "totalPages", 2)
	wantNumber(t, "page 1 of 3", page, "page", 1)
	wantNumber(t, "page 1 of 3", page, "pageSize", 3)
	if rs, _ := page["rewards"].([]any); len(rs) != 1 || rs[0].(object)["rewardId"] != ids["P1"] {
		t.Errorf("page 1 of 3: %v, want P1's reward alone", page["rewards"])
	}
	if none := callObject(t, c, "listRewards", map[string]any{"vuid": user.Vuid, "status": 2}); !isNumber(none["totalRewards"], 0) {
		t.Errorf("status 2 before any bill is generated: %v", none)
	}
	if rs, ok := callObject(t, c, "listRewards", map[string]any{"vuid": user.Vuid, "status": 4})["rewards"].([]any); !ok || len(rs) != 0 {
		t.Errorf("an empty page's rewards: %#v, want []", rs)
	}
	for what, params := range map[string]map[string]any{
		"no status":           {"vuid": user.Vuid},
		"neither vuid nor id": {"status": 0},
	} {
		wantCode(t, "listRewards with "+what, c.Call(ctx, "listRewards", params, nil), client.CodeMissingParam)
	}
	for what, params := range map[string]map[string]any{
		"status 3":     {"vuid": user.Vuid, "status": 3},
		"pageSize 101": {"vuid": user.Vuid, "status": 0, "pageSize": 101},
		"pageSize 0":   {"vuid": user.Vuid, "status": 0, "pageSize": 0}, // 1 to 100 when sent; absent, 20
		"page -1":      {"vuid": user.Vuid, "status": 0, "page": -1},
	} {
		wantCode(t, "listRewards with "+what, c.Call(ctx, "listRewards", params, nil), client.CodeInvalidParam)
	}

	// showReward answers what the list shows.
	shown := callObject(t, c, "showReward", map[string]any{"rewardId": ids["P1"]})
	if got, want := mustJSON(shown), mustJSON(cash1); !bytes.Equal(got, want) {
		t.Errorf("showReward:\n%s\nlistRewards shows:\n%s", got, want)
	}
	wantCode(t, "showReward of an unknown reward", c.Call(ctx, "showReward", map[string]any{"rewardId": "rw_unknown"}, nil), 3012)
	wantCode(t, "showReward without rewardId", c.Call(ctx, "showReward", map[string]any{}, nil), client.CodeMissingParam)

	// Generation confirms the met rewards and sets claimBefore = generation + claimDays (30).
	var bills struct {
		Bills []struct{ BillID, OfferID string }
	}
	h.adminDo(http.MethodGet, "/admin/v1/bills?campaignId=CMP-RW", nil, http.StatusOK, &bills)
	if len(bills.Bills) != 3 {
		t.Fatalf("bills: %+v, want one per offer", bills)
	}
	h.clock.Advance(time.Minute)
	genFrom := h.clock.Now()
	for _, b := range bills.Bills {
		h.adminDo(http.MethodPost, "/admin/v1/bills/"+b.BillID+"/generate", map[string]any{"force": true}, http.StatusOK, nil)
	}
	genUntil := h.clock.Now()
	show := func(p string) object { return callObject(t, c, "showReward", map[string]any{"rewardId": ids[p]}) }
	for _, p := range []string{"P1", "P4"} {
		r := show(p)
		wantString(t, p+" generated", r, "status", "2")
		wantNumber(t, p+" generated", r, "confirmedAmount", 5)
		wantTime(t, p+" generated", r, "claimBefore", genFrom.AddDate(0, 0, 30), genUntil.AddDate(0, 0, 30))
		bill, _ := r["bill"].(object)
		wantNumber(t, p+" generated bill", bill, "status", 1)
	}
	// A reward not met stays 0, with 0 confirmed.
	p3 := show("P3")
	wantString(t, "P3 generated", p3, "status", "0")
	wantNumber(t, "P3 generated", p3, "confirmedAmount", 0)
	wantCode(t, "claim before approval", c.Call(ctx, "claimReward", map[string]any{"rewardId": ids["P1"]}, nil), 1)
	for _, b := range bills.Bills {
		h.adminDo(http.MethodPost, "/admin/v1/bills/"+b.BillID+"/approve", nil, http.StatusOK, nil)
	}
	if l := callObject(t, c, "listRewards", map[string]any{"vuid": user.Vuid, "status": 2}); !isNumber(l["totalRewards"], 3) {
		t.Errorf("status 2 after approval: %v, want the three met rewards", l["totalRewards"])
	}

	// claimReward, raw, in Chinese: code 0, message "success" in every language, data
	// {"confirmAmount"} (not confirmedAmount).
	h.clock.Advance(time.Minute)
	claimFrom := h.clock.Now()
	ans := h.raw(http.MethodPost, "/api/v1/user/claimReward",
		map[string]string{"Authorization": "Bearer " + h.getToken(a).AccessToken, "Accept-Language": "zh-CN"},
		mustJSON(map[string]any{"appId": a.AppID, "encryptedData": seal(t, a.PublicKeyPEM, map[string]any{"rewardId": ids["P1"]})}))
	claimUntil := h.clock.Now()
	if ans.Status != http.StatusOK || ans.Code != 0 || ans.Message != "success" {
		t.Errorf("claimReward: HTTP %d code %d message %q, want 200, 0, \"success\"", ans.Status, ans.Code, ans.Message)
	}
	if data := decodeObject(t, "claimReward data", ans.Data); len(data) != 1 || !isNumber(data["confirmAmount"], 5) {
		t.Errorf("claimReward data: %s, want {\"confirmAmount\": 5}", ans.Data)
	}
	r := show("P1")
	wantString(t, "P1 claimed", r, "status", "3")
	wantTime(t, "P1 claimed", r, "claimedAt", claimFrom, claimUntil)
	var ce *client.Error
	if err := c.Call(ctx, "claimReward", map[string]any{"rewardId": ids["P1"]}, nil); !asErr(err, &ce) || ce.Code != 1 || ce.Message == "" {
		t.Errorf("claiming a claimed reward: %v, want code 1 with the reason", err)
	}
	wantCode(t, "claim of a coupon with an empty pool", c.Call(ctx, "claimReward", map[string]any{"rewardId": ids["P2"]}, nil), 1)
	wantString(t, "P2 after a refused claim", show("P2"), "status", "2")
	wantCode(t, "claim of a reward that needs none", c.Call(ctx, "claimReward", map[string]any{"rewardId": ids["P3"]}, nil), 1)
	wantCode(t, "claim of an unknown reward", c.Call(ctx, "claimReward", map[string]any{"rewardId": "rw_unknown"}, nil), 3012)

	// A coupon worth 2 gets two codes of the pool at its claim and is issued (4) at once.
	pool := []string{"QR-A", "QR-B", "QR-C"}
	var codes []map[string]any
	for _, code := range pool {
		codes = append(codes, map[string]any{"type": "QR", "code": code})
	}
	h.adminDo(http.MethodPost, "/admin/v1/campaigns/CMP-RW/offers/OF-CPN/codes", map[string]any{"codes": codes}, http.StatusOK, nil)
	h.clock.Advance(time.Minute)
	couponFrom := h.clock.Now()
	claimed := callObject(t, c, "claimReward", map[string]any{"rewardId": ids["P2"]})
	couponUntil := h.clock.Now()
	wantNumber(t, "coupon claim", claimed, "confirmAmount", 2)
	r = show("P2")
	wantString(t, "P2 claimed", r, "status", "4")
	wantTime(t, "P2 claimed", r, "expiredAt", couponFrom.AddDate(0, 0, 90), couponUntil.AddDate(0, 0, 90))
	items, _ := r["RewardItems"].([]any)
	if len(items) != 2 {
		t.Fatalf("P2's RewardItems: %v, want 2 codes", r["RewardItems"])
	}
	seen := map[string]bool{}
	for i, x := range items {
		it, _ := x.(object)
		what := fmt.Sprintf("P2 RewardItems[%d]", i)
		for _, k := range []string{"type", "code", "status", "expiredAt", "voidedAt", "redeemedAt", "settledAt"} {
			if _, ok := it[k]; !ok {
				t.Errorf("%s: no %q", what, k)
			}
		}
		wantString(t, what, it, "type", "QR")
		wantString(t, what, it, "status", "ISSUED")
		wantNull(t, what, it, "redeemedAt")
		wantTime(t, what, it, "settledAt", couponFrom, couponUntil)
		code, _ := it["code"].(string)
		if !slices.Contains(pool, code) || seen[code] {
			t.Errorf("%s: code %q, want one of the pool, not given twice", what, code)
		}
		seen[code] = true
	}
	wantNumber(t, "claim of P4", callObject(t, c, "claimReward", map[string]any{"rewardId": ids["P4"]}), "confirmAmount", 5)

	// Now P1 and P4 are 3, P2 is 4: status 4 lists P2 alone, status 2 all three.
	if l := callObject(t, c, "listRewards", map[string]any{"vuid": user.Vuid, "status": 4}); !isNumber(l["totalRewards"], 1) ||
		l["rewards"].([]any)[0].(object)["rewardId"] != ids["P2"] {
		t.Errorf("status 4: %v, want P2's reward alone", l)
	}
	if l := callObject(t, c, "listRewards", map[string]any{"vuid": user.Vuid, "status": 2}); !isNumber(l["totalRewards"], 3) {
		t.Errorf("status 2: %v rewards, want 3", l["totalRewards"])
	}

	// updateRewardStatus: 3→4 stores settleMessage and expiredAt = settlement + validityDays
	// (60); the same status again changes nothing; 3→5; 4→6 marks the items REDEEMED.
	update := func(p string, status int, msg string) error {
		return c.Call(ctx, "updateRewardStatus", map[string]any{"rewardId": ids[p], "status": status, "message": msg}, nil)
	}
	h.clock.Advance(time.Minute)
	settleFrom := h.clock.Now()
	if err := update("P1", 4, "paid to the wallet"); err != nil {
		t.Fatalf("3 → 4: %v", err)
	}
	settleUntil := h.clock.Now()
	h.clock.Advance(time.Minute)
	if err := update("P1", 4, "paid again"); err != nil {
		t.Errorf("4 → 4 again: %v, want 0", err)
	}
	wantCode(t, "4 → 5", update("P1", 5, ""), 3013)
	wantCode(t, "3 → 6", update("P4", 6, ""), 3013)
	wantCode(t, "status 7", update("P4", 7, ""), 3013)
	wantCode(t, "no status", c.Call(ctx, "updateRewardStatus", map[string]any{"rewardId": ids["P4"]}, nil), client.CodeMissingParam)
	wantCode(t, "an unknown reward", c.Call(ctx, "updateRewardStatus", map[string]any{"rewardId": "rw_unknown", "status": 4}, nil), 3012)
	r = show("P1")
	wantString(t, "P1 settled", r, "status", "4")
	wantString(t, "P1 settled", r, "settleMessage", "paid to the wallet")
	wantTime(t, "P1 settled", r, "settledAt", settleFrom, settleUntil)
	wantTime(t, "P1 settled", r, "expiredAt", settleFrom.AddDate(0, 0, 60), settleUntil.AddDate(0, 0, 60))
	wantNull(t, "P1 settled", r, "redeemedAt")
	if err := update("P4", 5, "card closed"); err != nil {
		t.Fatalf("3 → 5: %v", err)
	}
	r = show("P4")
	wantString(t, "P4 failed", r, "status", "5")
	wantString(t, "P4 failed", r, "settleMessage", "card closed")
	wantNull(t, "P4 failed", r, "settledAt")

	h.clock.Advance(time.Minute)
	redeemFrom := h.clock.Now()
	if err := update("P2", 6, "scanned at till 3"); err != nil {
		t.Fatalf("4 → 6: %v", err)
	}
	redeemUntil := h.clock.Now()
	r = show("P2")
	wantString(t, "P2 redeemed", r, "status", "6")
	wantString(t, "P2 redeemed", r, "redeemMessage", "scanned at till 3")
	wantTime(t, "P2 redeemed", r, "redeemedAt", redeemFrom, redeemUntil)
	items, _ = r["RewardItems"].([]any)
	if len(items) != 2 {
		t.Fatalf("P2's RewardItems after 4 → 6: %v", r["RewardItems"])
	}
	for i, x := range items {
		it, _ := x.(object)
		wantString(t, fmt.Sprintf("P2 RewardItems[%d] redeemed", i), it, "status", "REDEEMED")
		wantTime(t, fmt.Sprintf("P2 RewardItems[%d] redeemed", i), it, "redeemedAt", redeemFrom, redeemUntil)
	}

	// status 4: the rewards in 4 or later (P2 6, P4 5, P1 4), newest first; P3 stays 0.
	final := callObject(t, c, "listRewards", map[string]any{"vuid": user.Vuid, "status": 4})
	var got []string
	for _, x := range final["rewards"].([]any) {
		got = append(got, x.(object)["rewardId"].(string))
	}
	if want := []string{ids["P4"], ids["P2"], ids["P1"]}; !slices.Equal(got, want) {
		t.Errorf("status 4 at the end: %v, want %v (P4, P2, P1)", got, want)
	}
	wantString(t, "P3 at the end", show("P3"), "status", "0")
}

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/client"
	"github.com/vsrp-dev/vsrp/envelope"
	"github.com/vsrp-dev/vsrp/server"
)

// These tests look at the App API from the outside as a second partner app would: another
// app's vuid, cardId, enrollment and rewardId in every call that takes one, scopes, tokens of a
// disabled app, and what reaches the server's log and the answers.

// checkLogClean fails the test for every log line of the server that holds one of never, or
// a Luhn-valid run of 16 digits.
func checkLogClean(t *testing.T, h *harness, never ...string) {
	t.Helper()
	for i, line := range strings.Split(strings.TrimRight(h.log.String(), "\n"), "\n") {
		if run := luhnRun(line); run != "" {
			t.Errorf("log line %d holds a Luhn-valid 16-digit run %s: %.300s", i+1, run, line)
		}
		for _, s := range never {
			if s != "" && strings.Contains(line, s) {
				t.Errorf("log line %d holds %.24q…: %.300s", i+1, s, line)
			}
		}
	}
}

// TestClientRequestIDIsNotAPANInTheLog: the server echoes a client's well-formed X-Request-Id
// and puts it on every log line of the request. A partner that uses a card number or a phone
// number as its request id (an order reference, the auid) must not get it written to the log:
// the log holds no PAN and no phone number, whatever the client sends (the same rule that masks
// card numbers in a URL path).
func TestClientRequestIDIsNotAPANInTheLog(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	for _, id := range []string{"4111111111111111", "4111-1111-1111-1111", "008618612345678", "order-4242424242424242"} {
		ans := h.raw(http.MethodPost, "/api/v1/auth/getToken", map[string]string{"X-Request-Id": id},
			mustJSON(map[string]string{"appId": a.AppID, "appSecret": a.AppSecret}))
		if ans.Code != 0 {
			t.Fatalf("getToken: code %d", ans.Code)
		}
		if got := ans.Header.Get("X-Request-Id"); got == "" || strings.Contains(got, strings.Trim(id, "order-")) {
			t.Errorf("request id %q: answered X-Request-Id %q, which holds the number", id, got)
		}
	}
	// An ordinary client id is still echoed.
	ans := h.raw(http.MethodPost, "/api/v1/auth/getToken", map[string]string{"X-Request-Id": "req-2026.abc_42"},
		mustJSON(map[string]string{"appId": a.AppID, "appSecret": a.AppSecret}))
	if got := ans.Header.Get("X-Request-Id"); got != "req-2026.abc_42" {
		t.Errorf("a well-formed request id without a number in it: answered %q", got)
	}
	checkLogClean(t, h, "4111111111111111", "4111-1111-1111-1111", "8618612345678", a.AppSecret)
}

// Codes of the contract that the client package has no name for.
const (
	codeGroupNotFound    = 3006
	codeCampaignNotFound = 3011
	codeRewardNotFound   = 3012
)

// sameAsMissing fails the test unless err carries want, and the very message that missing (the
// call with an object that never existed) carries: another app's object answers exactly as a
// missing one.
func sameAsMissing(t *testing.T, what string, err, missing error, want int) {
	t.Helper()
	wantCode(t, what, err, want)
	wantCode(t, what+" (an object that never existed)", missing, want)
	var e, m *client.Error
	if asErr(err, &e) && asErr(missing, &m) && e.Message != m.Message {
		t.Errorf("%s: message %q, a missing object's %q", what, e.Message, m.Message)
	}
}

// isoCampaign applies a campaign with one open group and one each-purchase offer whose
// rewards need a claim.
func isoCampaign(h *harness, id, group, mcc string) {
	now := h.clock.Now()
	h.adminDo(http.MethodPut, "/admin/v1/campaigns/"+id, map[string]any{"campaignId": id, "name": "isolation " + id,
		"timezone": "Asia/Shanghai", "startDate": now.AddDate(0, 0, -10).Format(time.DateOnly),
		"endDate": now.AddDate(0, 0, 40).Format(time.DateOnly), "currency": "CNY", "aggregation": "card",
		"enrollmentGroups": []any{map[string]any{"enrollmentGroupId": group, "name": "g", "enrollStart": now.Add(-time.Hour).Format(time.RFC3339),
			"enrollEnd": now.Add(24 * time.Hour).Format(time.RFC3339), "capacity": 0, "eligibility": map[string]any{}}},
		"offers": []any{map[string]any{"offerId": "OF-" + id, "name": "offer", "billing": map[string]any{"period": "month"},
			"match": map[string]any{"mcc": []string{mcc}}, "goal": map[string]any{"type": "each"},
			"reward": map[string]any{"type": "Cash", "amount": 5, "claimRequired": true, "claimDays": 30, "validityDays": 60}}},
	}, http.StatusOK, nil)
}

// TestAnotherAppsObjectsAnswerAsMissing: apps A and B are granted one campaign; A alone a
// second one. A binds a card to its user, enrolls it (with extended data) and the card earns
// a reward. B, holding A's vuid, cardId, enrollment and rewardId, neither sees nor changes any
// of them through any App API call that takes one, and every refusal answers as for an object
// that never existed. Nothing of it reaches the server's log.
func TestAnotherAppsObjectsAnswerAsMissing(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, scenarioAnotherAppsObjects)
}

// onBothDatabases runs the scenario on SQLite and, when VSRP_TEST_POSTGRES_URL names a server,
// on a fresh PostgreSQL database.
func onBothDatabases(t *testing.T, scenario func(*testing.T, *harness), opts ...option) {
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		scenario(t, start(t, opts...))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		base := os.Getenv("VSRP_TEST_POSTGRES_URL")
		if base == "" {
			t.Skip("VSRP_TEST_POSTGRES_URL is not set")
		}
		t.Parallel()
		dsn := freshPostgres(t, base)
		scenario(t, start(t, append(append([]option{}, opts...), func(c *server.Config) {
			c.DB = dsn
			c.MasterKey = newMasterKey()
		})...))
	})
}

func scenarioAnotherAppsObjects(t *testing.T, h *harness) {
	h.loadBINs()
	ctx := context.Background()
	isoCampaign(h, "CMP-ISO", "EG-ISO", "5812")
	isoCampaign(h, "CMP-AONLY", "EG-AONLY", "5999")
	appA := h.createApp(map[string]any{"campaignIds": []string{"CMP-ISO", "CMP-AONLY"}})
	appB := h.createApp(map[string]any{"campaignIds": []string{"CMP-ISO"}})
	ca, cb := h.client(appA), h.client(appB)

	const auid = "008618655556666"
	cardPAN := pan("411111", 4242)
	ua, err := ca.GetVuid(ctx, auid)
	if err != nil {
		t.Fatal(err)
	}
	card, err := ca.GetCardInfo(ctx, cardPAN)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.AddCard(ctx, ua.Vuid, card.CardID); err != nil {
		t.Fatal(err)
	}
	var enr struct {
		EnrollmentID    string `json:"enrollmentId"`
		AlreadyEnrolled bool   `json:"alreadyEnrolled"`
	}
	ext := map[string]any{"phone": "008613912345678"}
	if err := ca.Call(ctx, "enroll", map[string]any{"cardId": card.CardID, "enrollmentGroupId": "EG-ISO", "userExtendedData": ext}, &enr); err != nil {
		t.Fatal(err)
	}
	if err := ca.Call(ctx, "enroll", map[string]any{"cardId": card.CardID, "enrollmentGroupId": "EG-AONLY"}, nil); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	var sum struct{ Accepted, Rejected int }
	h.adminDo(http.MethodPost, "/admin/v1/transactions", []map[string]any{{"transactionId": "ISO-1", "type": "purchase", "cardId": card.CardID,
		"amount": 100, "currency": "CNY", "transactionTime": h.clock.Now().Add(-time.Second).Format(time.RFC3339Nano), "merchantId": "M1",
		"merchantName": "Shop", "mcc": "5812", "merchantCountry": "CN"}}, http.StatusOK, &sum)
	if sum.Accepted != 1 {
		t.Fatalf("ingest: %+v", sum)
	}
	listA := callObject(t, ca, "listRewards", map[string]any{"vuid": ua.Vuid, "status": 0})
	rewardsA, _ := listA["rewards"].([]any)
	if len(rewardsA) != 1 {
		t.Fatalf("A's rewards: %v", listA)
	}
	rewardID, _ := rewardsA[0].(object)["rewardId"].(string)

	// B has its own user of the same auid, and a card of its own.
	ub, err := cb.GetVuid(ctx, auid)
	if err != nil {
		t.Fatal(err)
	}
	missingVuid, missingCard, missingReward := "vu_"+randomHex(11), "card_"+randomHex(11), "rw_"+randomHex(11)
	call := func(c *client.Client, name string, params map[string]any) error {
		return c.Call(ctx, name, params, nil)
	}

	// vuid: every call that takes one.
	for _, name := range []string{"listCards", "addCard", "removeCard"} {
		p := func(v string) map[string]any { return map[string]any{"vuid": v, "cardId": card.CardID} }
		sameAsMissing(t, "B "+name+" with A's vuid", call(cb, name, p(ua.Vuid)), call(cb, name, p(missingVuid)), client.CodeVuidNotFound)
	}
	sameAsMissing(t, "B showEnrollment with A's vuid",
		call(cb, "showEnrollment", map[string]any{"vuid": ua.Vuid, "enrollmentGroupId": "EG-ISO"}),
		call(cb, "showEnrollment", map[string]any{"vuid": missingVuid, "enrollmentGroupId": "EG-ISO"}), client.CodeVuidNotFound)
	sameAsMissing(t, "B listRewards with A's vuid",
		call(cb, "listRewards", map[string]any{"vuid": ua.Vuid, "status": 0}),
		call(cb, "listRewards", map[string]any{"vuid": missingVuid, "status": 0}), client.CodeVuidNotFound)

	// rewardId: every call that takes one.
	for _, c := range []struct {
		name   string
		params func(id string) map[string]any
	}{
		{"showReward", func(id string) map[string]any { return map[string]any{"rewardId": id} }},
		{"claimReward", func(id string) map[string]any { return map[string]any{"rewardId": id} }},
		{"updateRewardStatus 4", func(id string) map[string]any { return map[string]any{"rewardId": id, "status": 4, "message": "x"} }},
		{"updateRewardStatus 5", func(id string) map[string]any { return map[string]any{"rewardId": id, "status": 5} }},
		{"updateRewardStatus 6", func(id string) map[string]any { return map[string]any{"rewardId": id, "status": 6} }},
	} {
		name, _, _ := strings.Cut(c.name, " ")
		sameAsMissing(t, "B "+c.name+" of A's reward", call(cb, name, c.params(rewardID)), call(cb, name, c.params(missingReward)),
			codeRewardNotFound)
	}

	// cardId: B's lists of A's card hold nothing of A's; B cannot unbind it.
	listB := callObject(t, cb, "listRewards", map[string]any{"cardId": card.CardID, "status": 0})
	if n, _ := listB["totalRewards"].(json.Number).Int64(); n != 0 || len(listB["rewards"].([]any)) != 0 {
		t.Errorf("B lists A's card's rewards: %v", listB)
	}
	sameAsMissing(t, "B listRewards of a campaign granted to A only",
		call(cb, "listRewards", map[string]any{"cardId": card.CardID, "campaignId": "CMP-AONLY", "status": 0}),
		call(cb, "listRewards", map[string]any{"cardId": card.CardID, "campaignId": "CMP-NONE", "status": 0}), codeCampaignNotFound)
	sameAsMissing(t, "B removeCard of A's card from B's user",
		call(cb, "removeCard", map[string]any{"vuid": ub.Vuid, "cardId": card.CardID}),
		call(cb, "removeCard", map[string]any{"vuid": ub.Vuid, "cardId": missingCard}), client.CodeCardNotFound)

	// Enrollment: B may not enroll A's card, by cardId or PAN, in a group of a campaign it is
	// not granted, nor look at that group.
	for _, ref := range []string{card.CardID, cardPAN} {
		sameAsMissing(t, "B enroll in a group of A's campaign",
			call(cb, "enroll", map[string]any{"cardId": ref, "enrollmentGroupId": "EG-AONLY"}),
			call(cb, "enroll", map[string]any{"cardId": ref, "enrollmentGroupId": "EG-MISSING"}), codeGroupNotFound)
		sameAsMissing(t, "B showEnrollment in a group of A's campaign",
			call(cb, "showEnrollment", map[string]any{"cardId": ref, "enrollmentGroupId": "EG-AONLY"}),
			call(cb, "showEnrollment", map[string]any{"cardId": ref, "enrollmentGroupId": "EG-MISSING"}), codeGroupNotFound)
	}
	// In the shared campaign the enrollment is the card's (contract 6.7): B sees it without
	// A's data and without A's user, and enrolling again answers alreadyEnrolled.
	var shown []struct {
		EnrollmentID string          `json:"enrollmentId"`
		ExtendedData json.RawMessage `json:"extendedData"`
		Card         struct {
			CardID string `json:"cardId"`
			Vuid   string `json:"vuid"`
		} `json:"card"`
	}
	if err := cb.Call(ctx, "showEnrollments", map[string]any{"cardId": card.CardID, "enrollmentGroupId": "EG-ISO"}, &shown); err != nil {
		t.Fatal(err)
	}
	if len(shown) != 1 || shown[0].EnrollmentID != enr.EnrollmentID || string(shown[0].ExtendedData) != "null" || shown[0].Card.Vuid != "" {
		t.Errorf("B's showEnrollment of A's enrolled card: %+v, want the enrollment without A's data or user", shown)
	}
	var again struct {
		EnrollmentID    string `json:"enrollmentId"`
		AlreadyEnrolled bool   `json:"alreadyEnrolled"`
	}
	if err := cb.Call(ctx, "enroll", map[string]any{"cardId": card.CardID, "enrollmentGroupId": "EG-ISO", "userExtendedData": map[string]any{"b": 1}}, &again); err != nil ||
		!again.AlreadyEnrolled || again.EnrollmentID != enr.EnrollmentID {
		t.Errorf("B enrolling A's enrolled card: %+v %v, want alreadyEnrolled", again, err)
	}
	// That answer made B no enrollment of its own: A's reward stays out of B's sight.
	sameAsMissing(t, "B showReward after its alreadyEnrolled", call(cb, "showReward", map[string]any{"rewardId": rewardID}),
		call(cb, "showReward", map[string]any{"rewardId": missingReward}), codeRewardNotFound)

	// A's objects are as they were.
	if r := callObject(t, ca, "showReward", map[string]any{"rewardId": rewardID}); r["status"] != "1" || r["vuid"] != ua.Vuid {
		t.Errorf("A's reward after B's attempts: status %v vuid %v", r["status"], r["vuid"])
	}
	var mine []struct {
		ExtendedData json.RawMessage `json:"extendedData"`
	}
	if err := ca.Call(ctx, "showEnrollment", map[string]any{"vuid": ua.Vuid, "enrollmentGroupId": "EG-ISO"}, &mine); err != nil ||
		len(mine) != 1 || !strings.Contains(string(mine[0].ExtendedData), "008613912345678") {
		t.Errorf("A's enrollment after B's attempts: %+v %v", mine, err)
	}
	if cs, err := ca.ListCards(ctx, ua.Vuid, ""); err != nil || cs.TotalCards != 1 {
		t.Errorf("A's cards after B's attempts: %+v %v", cs, err)
	}

	tokA, _ := ca.AccessToken(ctx)
	tokB, _ := cb.AccessToken(ctx)
	checkLogClean(t, h, cardPAN, "8618655556666", "8613912345678", appA.AppSecret, appB.AppSecret,
		appA.WebhookSecret, appB.WebhookSecret, tokA, tokB)
}

// TestEveryCallOutsideItsScopes: each App API call of the contract's section 4.3, the
// showEnrollments alias included, answers 2007 to an app without its scope and is let through
// (to whatever it answers then) with it. The scope is checked before the payload is opened.
func TestEveryCallOutsideItsScopes(t *testing.T) {
	t.Parallel()
	h := start(t)
	calls := map[string][]string{
		"user":   {"getVuid", "getCardInfo", "addCard", "removeCard", "listCards"},
		"enroll": {"enroll", "showEnrollment", "showEnrollments"},
		"reward": {"listRewards", "showReward", "claimReward", "updateRewardStatus"},
	}
	for _, scopes := range [][]string{{"user"}, {"enroll"}, {"reward"}, {"user", "reward"}, {}} {
		a := h.createApp(map[string]any{"scopes": scopes})
		tk := h.getToken(a)
		if tk.Scope != strings.Join(scopes, " ") {
			t.Errorf("scopes %v: getToken answered scope %q", scopes, tk.Scope)
		}
		has := map[string]bool{}
		for _, s := range scopes {
			has[s] = true
		}
		for scope, names := range calls {
			for _, name := range names {
				for _, data := range []string{seal(t, a.PublicKeyPEM, map[string]any{}), "not even base64"} {
					ans := h.userCall(name, tk.AccessToken, map[string]any{"appId": a.AppID, "encryptedData": data})
					if has[scope] && ans.Code == client.CodeForbidden {
						t.Errorf("app with scopes %v: %s answered 2007", scopes, name)
					}
					if !has[scope] && ans.Code != client.CodeForbidden {
						t.Errorf("app with scopes %v: %s (scope %s) answered %d, want 2007", scopes, name, scope, ans.Code)
					}
				}
			}
		}
	}
}

// TestDisabledAppRefreshAndReenable: a disabled app's refresh token answers 2008 and is not
// used up by it; a token of a disabled app answers 2008 also for a call outside its scopes or
// with another app's envelope (the app's state comes before anything of the call).
func TestDisabledAppRefreshAndReenable(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(map[string]any{"scopes": []string{"user"}})
	other := h.createApp(nil)
	tk := h.getToken(a)
	h.patchApp(a.AppID, map[string]any{"enabled": false})
	if code, _ := h.refresh(tk.RefreshToken); code != client.CodeAppDisabled {
		t.Errorf("refresh token of a disabled app: code %d, want 2008", code)
	}
	for name, env := range map[string]map[string]any{
		"listRewards (outside the scopes)": {"appId": a.AppID, "encryptedData": seal(t, a.PublicKeyPEM, map[string]any{"status": 0})},
		"getVuid with the other app's id":  {"appId": other.AppID, "encryptedData": seal(t, other.PublicKeyPEM, map[string]any{"auid": "x"})},
	} {
		call, _, _ := strings.Cut(name, " ")
		if ans := h.userCall(call, tk.AccessToken, env); ans.Code != client.CodeAppDisabled {
			t.Errorf("disabled app's token, %s: code %d, want 2008", name, ans.Code)
		}
	}
	h.patchApp(a.AppID, map[string]any{"enabled": true})
	if code, _ := h.refresh(tk.RefreshToken); code != 0 {
		t.Errorf("the refresh token after re-enabling: code %d, want 0 (a refused refresh does not use it up)", code)
	}
}

// TestSandboxSimulateTransactionOfAnotherAppsCard: in sandbox mode simulateTransaction takes
// only the calling app's cards: another app's cardId or PAN answers 3005 exactly like a card
// that never existed, and simulateTransaction needs the reward scope.
func TestSandboxSimulateTransactionOfAnotherAppsCard(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *server.Config) { c.Sandbox = true })
	h.loadBINs()
	ctx := context.Background()
	appA, appB := h.createApp(nil), h.createApp(nil)
	ca, cb := h.client(appA), h.client(appB)
	cardPAN := pan("411111", 777)
	ua, err := ca.GetVuid(ctx, "008618677778888")
	if err != nil {
		t.Fatal(err)
	}
	card, err := ca.GetCardInfo(ctx, cardPAN)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.AddCard(ctx, ua.Vuid, card.CardID); err != nil {
		t.Fatal(err)
	}
	txn := func(ref string) map[string]any {
		return map[string]any{"cardId": ref, "amount": 10, "currency": "CNY", "merchantId": "M", "merchantName": "S", "mcc": "5812", "merchantCountry": "CN"}
	}
	sim := func(c *client.Client, ref string) error {
		return c.Call(ctx, "sandbox/simulateTransaction", txn(ref), nil)
	}
	if err := sim(ca, card.CardID); err != nil {
		t.Fatalf("A simulating a transaction of its own card: %v", err)
	}
	missing := sim(cb, "card_"+randomHex(11))
	sameAsMissing(t, "B simulating a transaction of A's cardId", sim(cb, card.CardID), missing, client.CodeCardNotFound)
	sameAsMissing(t, "B simulating a transaction of A's PAN", sim(cb, cardPAN), missing, client.CodeCardNotFound)

	userOnly := h.createApp(map[string]any{"scopes": []string{"user", "enroll"}})
	wantCode(t, "simulateTransaction without the reward scope", sim(h.client(userOnly), card.CardID), client.CodeForbidden)
	checkLogClean(t, h, cardPAN, "8618677778888", appA.AppSecret, appB.AppSecret)
}

// TestExtendedDataNotUTF8: userExtendedData whose strings are not valid UTF-8 (Go's JSON
// parser lets such bytes through) answers the same on every database: PostgreSQL refuses the
// text (the store turns that into 1003, "text must be UTF-8"), so SQLite must not store it.
func TestExtendedDataNotUTF8(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, h *harness) {
		h.loadBINs()
		isoCampaign(h, "CMP-UTF", "EG-UTF", "5812")
		a := h.createApp(map[string]any{"campaignIds": []string{"CMP-UTF"}})
		tk := h.getToken(a)
		pub, err := envelope.ParsePublicKeyPEM([]byte(a.PublicKeyPEM))
		if err != nil {
			t.Fatal(err)
		}
		payload := []byte(`{"cardId":"` + pan("411111", 31) + `","enrollmentGroupId":"EG-UTF","userExtendedData":{"note":"caf\xe9 \xff"}}`)
		payload = bytes.ReplaceAll(bytes.ReplaceAll(payload, []byte(`\xe9`), []byte{0xe9}), []byte(`\xff`), []byte{0xff})
		data, err := envelope.Seal(pub, payload, envelope.SHA256MGF1SHA256)
		if err != nil {
			t.Fatal(err)
		}
		ans := h.userCall("enroll", tk.AccessToken, map[string]any{"appId": a.AppID, "encryptedData": data})
		if ans.Code != client.CodeInvalidParam {
			t.Errorf("enroll with userExtendedData not UTF-8: code %d, want 1003", ans.Code)
		}
		// Nothing was enrolled: the card enrolls afterwards as a first enrollment.
		var enr struct {
			AlreadyEnrolled bool `json:"alreadyEnrolled"`
		}
		if err := h.client(a).Call(context.Background(), "enroll", map[string]any{"cardId": pan("411111", 31), "enrollmentGroupId": "EG-UTF"}, &enr); err != nil || enr.AlreadyEnrolled {
			t.Errorf("enroll after the refused one: %+v %v, want a first enrollment", enr, err)
		}
	})
}

// TestSecretRotationRacesLeaveNoRefreshToken: the old appSecret stops working at once, and
// refresh tokens issued before a rotation renew nothing (RotateSecret). Neither may a getToken
// that checked the old secret while the rotation committed, nor a refreshToken exchanged while
// it committed, leave a refresh token that still renews once the rotation is done: such a
// token would let whoever holds the leaked secret renew for ever.
func TestSecretRotationRacesLeaveNoRefreshToken(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, h *harness) {
		a := h.createApp(nil)
		rotate := func() {
			var rotated struct {
				AppSecret string `json:"appSecret"`
			}
			h.adminDo(http.MethodPost, "/admin/v1/apps/"+a.AppID+"/secret", nil, http.StatusOK, &rotated)
			a.AppSecret = rotated.AppSecret
		}
		// outlived counts the refresh tokens that still renew now that the rotation is done
		// (checked before the next rotation, which revokes every refresh token of the app).
		outlived := map[string]int{}
		check := func(what string, toks []string) {
			for _, rt := range toks {
				if rt == "" {
					continue
				}
				if code, _ := h.refresh(rt); code == 0 {
					outlived[what]++
				}
			}
		}
		const rounds, n = 4, 8
		for range rounds {
			h.clock.Advance(time.Minute) // out of the failed attempts' window: the old secret fails too
			// getToken with the secret that the concurrent rotation replaces.
			secret := a.AppSecret
			got := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					ans := h.raw(http.MethodPost, "/api/v1/auth/getToken", nil, mustJSON(map[string]string{"appId": a.AppID, "appSecret": secret}))
					var tk tokens
					if ans.Code == 0 && json.Unmarshal(ans.Data, &tk) == nil {
						got[i] = tk.RefreshToken
					}
				})
			}
			wg.Go(rotate)
			wg.Wait()
			check("getToken", got)

			// refreshToken of pairs issued before the concurrent rotation.
			pairs := make([]tokens, n)
			for i := range pairs {
				pairs[i] = h.getToken(a)
			}
			for i := range n {
				wg.Go(func() {
					got[i] = ""
					if code, tk := h.refresh(pairs[i].RefreshToken); code == 0 {
						got[i] = tk.RefreshToken
					}
				})
			}
			wg.Go(rotate)
			wg.Wait()
			check("refreshToken", got)
		}
		for what, k := range outlived {
			t.Errorf("%d refresh tokens answered by a %s that raced a secret rotation still renewed after it", k, what)
		}
	}, func(c *server.Config) { c.Platform.TokensPerHour = 100000 })
}

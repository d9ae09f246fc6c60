package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/client"
)

// The scenarios below take a running harness, so that the same checks run on SQLite here and
// on PostgreSQL in TestPostgres.

func TestHappyPath(t *testing.T) {
	t.Parallel()
	scenarioHappyPath(t, start(t))
}

func TestConcurrentFirstGetVuid(t *testing.T) {
	t.Parallel()
	scenarioConcurrentFirstGetVuid(t, start(t))
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	scenarioTenantIsolation(t, start(t))
}

func TestRefreshTokenReuseDetection(t *testing.T) {
	t.Parallel()
	scenarioRefreshReuse(t, start(t))
}

const shanghaiOffset = 8 * 3600

// inShanghai fails the test unless the time carries the deployment's default offset.
func inShanghai(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if tm.IsZero() {
		t.Errorf("%s is zero", what)
		return
	}
	if _, off := tm.Zone(); off != shanghaiOffset {
		t.Errorf("%s has offset %d s, want +08:00 (Asia/Shanghai)", what, off)
	}
}

// scenarioHappyPath walks every user API's success path: getVuid, getCardInfo, addCard (by
// cardId and by PAN), listCards (with and without bid), removeCard (by cardId and by PAN).
func scenarioHappyPath(t *testing.T, h *harness) {
	h.loadBINs()
	a := h.createApp(nil)
	c := h.client(a)
	ctx := context.Background()

	// getVuid: idempotent, opaque, per auid.
	const auid1, auid2 = "008618612345678", "008613900000000"
	u1, err := c.GetVuid(ctx, auid1)
	if err != nil {
		t.Fatalf("getVuid: %v", err)
	}
	if u1.Vuid == "" || strings.Contains(u1.Vuid, "18612345678") {
		t.Errorf("vuid %q is empty or shows the auid", u1.Vuid)
	}
	inShanghai(t, "getVuid createdAt", u1.CreatedAt)
	again, err := c.GetVuid(ctx, auid1)
	if err != nil {
		t.Fatal(err)
	}
	if again.Vuid != u1.Vuid || !again.CreatedAt.Equal(u1.CreatedAt) {
		t.Errorf("second getVuid answered %+v, first %+v", again, u1)
	}
	u2, err := c.GetVuid(ctx, auid2)
	if err != nil {
		t.Fatal(err)
	}
	if u2.Vuid == u1.Vuid {
		t.Error("two auids got one vuid")
	}
	if _, err := c.GetVuid(ctx, strings.Repeat("用", 255)); err != nil {
		t.Errorf("getVuid with 255 code points: %v", err)
	}
	var viaCall client.Vuid
	if err := c.Call(ctx, "getVuid", map[string]string{"auid": auid1}, &viaCall); err != nil || viaCall.Vuid != u1.Vuid {
		t.Errorf("generic Call getVuid: %+v %v", viaCall, err)
	}

	// getCardInfo: attributes from the BIN table, the same cardId on every look-up.
	pan1, pan2, pan3 := "4111111111111111", "4242424242424242", pan("424242", 1)
	ci1, err := c.GetCardInfo(ctx, pan1)
	if err != nil {
		t.Fatalf("getCardInfo: %v", err)
	}
	want1 := client.CardInfo{CardID: ci1.CardID, BIN: "411111", PanLast4: "1111", IssuerName: "E2E Bank", IssuerNameNative: "端到端银行",
		IssuingCountryCode: "CN", BID: "B-E2E-1", AccountFundingSource: "C", ProductID: "P-PLAT", ProductName: "Visa Platinum",
		ProductNameNative: "白金卡", IsDualBrand: false, IsChip: true, CreatedAt: ci1.CreatedAt}
	if *ci1 != want1 || ci1.CardID == "" || strings.Contains(ci1.CardID, "411111") {
		t.Errorf("getCardInfo answered\n%+v, want\n%+v", *ci1, want1)
	}
	inShanghai(t, "getCardInfo createdAt", ci1.CreatedAt)
	ci1b, err := c.GetCardInfo(ctx, pan1)
	if err != nil || ci1b.CardID != ci1.CardID || !ci1b.CreatedAt.Equal(ci1.CreatedAt) {
		t.Errorf("second getCardInfo: %+v %v", ci1b, err)
	}
	ci2, err := c.GetCardInfo(ctx, pan2)
	if err != nil {
		t.Fatal(err)
	}
	if ci2.BIN != "42424242" || ci2.BID != "B-E2E-2" || !ci2.IsDualBrand || ci2.AccountFundingSource != "D" || ci2.PanLast4 != "4242" {
		t.Errorf("8-digit BIN card: %+v (the longest prefix must win)", ci2)
	}
	ci3, err := c.GetCardInfo(ctx, pan3)
	if err != nil {
		t.Fatal(err)
	}
	if ci3.BIN != "424242" || ci3.BID != "B-E2E-3" || ci3.IsChip || ci3.PanLast4 != pan3[12:] {
		t.Errorf("6-digit BIN card: %+v", ci3)
	}

	// addCard by cardId (twice: idempotent) and by PAN.
	if err := c.AddCard(ctx, u1.Vuid, ci1.CardID); err != nil {
		t.Fatalf("addCard: %v", err)
	}
	if err := c.AddCard(ctx, u1.Vuid, ci1.CardID); err != nil {
		t.Errorf("addCard again to the same user: %v", err)
	}
	time.Sleep(2 * time.Millisecond) // distinct binding times for the order check
	if err := c.AddCard(ctx, u1.Vuid, pan2); err != nil {
		t.Fatalf("addCard by PAN: %v", err)
	}
	if got, _ := c.GetCardInfo(ctx, pan1); got == nil || got.Vuid != u1.Vuid {
		t.Errorf("getCardInfo of a bound card: %+v, want vuid %s", got, u1.Vuid)
	}

	// listCards: newest binding first, the listCards names and 0/1 flags.
	cs, err := c.ListCards(ctx, u1.Vuid, "")
	if err != nil {
		t.Fatalf("listCards: %v", err)
	}
	if cs.TotalCards != 2 || len(cs.Cards) != 2 {
		t.Fatalf("listCards: %+v, want 2 cards", cs)
	}
	first, second := cs.Cards[0], cs.Cards[1]
	wantFirst := client.ListedCard{CardID: ci2.CardID, BIN: "42424242", IssuingCountryCode: "HK", PanLastFour: "4242", BID: "B-E2E-2",
		IssuerName: "E2E Savings", IssuerNameNative: "端到端储蓄", FundingSourceType: "D", ProductID: "P-CLS", ProductName: "Visa Classic",
		ProductNameNative: "普卡", IsDualBrand: 1, IsChip: 1, CreatedAt: first.CreatedAt}
	if first != wantFirst {
		t.Errorf("listCards[0] =\n%+v, want\n%+v", first, wantFirst)
	}
	if second.CardID != ci1.CardID || second.IsDualBrand != 0 || second.IsChip != 1 || second.FundingSourceType != "C" || second.PanLastFour != "1111" {
		t.Errorf("listCards[1] = %+v", second)
	}
	inShanghai(t, "listCards createdAt", first.CreatedAt)
	if first.CreatedAt.Before(second.CreatedAt) {
		t.Errorf("listCards is not newest binding first: %v before %v", first.CreatedAt, second.CreatedAt)
	}
	if byBID, err := c.ListCards(ctx, u1.Vuid, "B-E2E-1"); err != nil || byBID.TotalCards != 1 || byBID.Cards[0].CardID != ci1.CardID {
		t.Errorf("listCards with bid: %+v %v", byBID, err)
	}
	if none, err := c.ListCards(ctx, u2.Vuid, ""); err != nil || none.TotalCards != 0 || len(none.Cards) != 0 {
		t.Errorf("listCards of a user without cards: %+v %v", none, err)
	}

	// removeCard by cardId and by PAN; the card can then go to another user.
	if err := c.RemoveCard(ctx, u1.Vuid, ci1.CardID); err != nil {
		t.Fatalf("removeCard: %v", err)
	}
	if cs, err := c.ListCards(ctx, u1.Vuid, ""); err != nil || cs.TotalCards != 1 || cs.Cards[0].CardID != ci2.CardID {
		t.Errorf("listCards after removeCard: %+v %v", cs, err)
	}
	if got, _ := c.GetCardInfo(ctx, pan1); got == nil || got.Vuid != "" {
		t.Errorf("getCardInfo of an unbound card: %+v, want no vuid", got)
	}
	if err := c.RemoveCard(ctx, u1.Vuid, pan2); err != nil {
		t.Fatalf("removeCard by PAN: %v", err)
	}
	if cs, err := c.ListCards(ctx, u1.Vuid, ""); err != nil || cs.TotalCards != 0 {
		t.Errorf("listCards after removing every card: %+v %v", cs, err)
	}
	if err := c.AddCard(ctx, u2.Vuid, ci1.CardID); err != nil {
		t.Errorf("addCard to another user after removeCard: %v", err)
	}
	if got, _ := c.GetCardInfo(ctx, pan1); got == nil || got.Vuid != u2.Vuid {
		t.Errorf("getCardInfo after rebinding: %+v, want vuid %s", got, u2.Vuid)
	}
}

// scenarioConcurrentFirstGetVuid: 40 goroutines ask for one new auid at once; all must get
// one vuid and one createdAt, and the shared client must have fetched one token.
func scenarioConcurrentFirstGetVuid(t *testing.T, h *harness) {
	a := h.createApp(nil)
	c := h.client(a)
	const n = 40
	auid := "00861" + randomHex(5)
	tokensBefore := metric(t, h, "vsrp_http_requests_total", `api="auth/getToken"`, `code="0"`)
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	got := make([]*client.Vuid, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-startGate
			got[i], errs[i] = c.GetVuid(context.Background(), auid)
		})
	}
	close(startGate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if got[i].Vuid != got[0].Vuid || !got[i].CreatedAt.Equal(got[0].CreatedAt) {
			t.Errorf("goroutine %d got %+v, goroutine 0 got %+v", i, got[i], got[0])
		}
	}
	if m := metric(t, h, "vsrp_http_requests_total", `api="auth/getToken"`, `code="0"`) - tokensBefore; m != 1 {
		t.Errorf("the client fetched %v tokens for %d concurrent calls, want 1", m, n)
	}
}

// scenarioTenantIsolation: app B cannot reach app A's users, bindings or key, and A's objects
// answer in B exactly as missing ones.
func scenarioTenantIsolation(t *testing.T, h *harness) {
	h.loadBINs()
	appA, appB := h.createApp(nil), h.createApp(nil)
	ca, cb := h.client(appA), h.client(appB)
	ctx := context.Background()
	const auid, cardPAN = "008618611112222", "4111111111111111"

	ua, err := ca.GetVuid(ctx, auid)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.AddCard(ctx, ua.Vuid, cardPAN); err != nil {
		t.Fatal(err)
	}
	inA, err := ca.GetCardInfo(ctx, cardPAN)
	if err != nil || inA.Vuid != ua.Vuid {
		t.Fatalf("A's getCardInfo: %+v %v", inA, err)
	}

	// A's vuid in B is unknown, and says so exactly as a vuid that never existed.
	_, errOther := cb.ListCards(ctx, ua.Vuid, "")
	_, errNone := cb.ListCards(ctx, "vu_"+randomHex(11), "")
	wantCode(t, "B listCards with A's vuid", errOther, client.CodeVuidNotFound)
	var eo, en *client.Error
	if asErr(errOther, &eo) && asErr(errNone, &en) && eo.Message != en.Message {
		t.Errorf("A's vuid answers %q in B, a missing vuid %q", eo.Message, en.Message)
	}
	wantCode(t, "B addCard with A's vuid", cb.AddCard(ctx, ua.Vuid, cardPAN), client.CodeVuidNotFound)
	wantCode(t, "B removeCard with A's vuid", cb.RemoveCard(ctx, ua.Vuid, inA.CardID), client.CodeVuidNotFound)

	// The same auid in B is another user.
	ub, err := cb.GetVuid(ctx, auid)
	if err != nil {
		t.Fatal(err)
	}
	if ub.Vuid == ua.Vuid {
		t.Error("the same auid in two apps gave the same vuid")
	}

	// B sees the card (cards are global) but not A's binding.
	inB, err := cb.GetCardInfo(ctx, cardPAN)
	if err != nil {
		t.Fatal(err)
	}
	if inB.CardID != inA.CardID || inB.Vuid != "" {
		t.Errorf("B's getCardInfo: cardId %s (A: %s), vuid %q (want none)", inB.CardID, inA.CardID, inB.Vuid)
	}
	if cs, err := cb.ListCards(ctx, ub.Vuid, ""); err != nil || cs.TotalCards != 0 {
		t.Errorf("B's listCards shows %+v %v, want nothing", cs, err)
	}
	wantCode(t, "B removeCard of a card bound only in A", cb.RemoveCard(ctx, ub.Vuid, inA.CardID), client.CodeCardNotFound)

	// Bindings are per app: B may bind the card too, and A's binding stays.
	if err := cb.AddCard(ctx, ub.Vuid, cardPAN); err != nil {
		t.Errorf("B binding a card bound in A: %v", err)
	}
	if got, _ := ca.GetCardInfo(ctx, cardPAN); got == nil || got.Vuid != ua.Vuid {
		t.Errorf("A's binding after B's: %+v", got)
	}
	if got, _ := cb.GetCardInfo(ctx, cardPAN); got == nil || got.Vuid != ub.Vuid {
		t.Errorf("B's binding: %+v", got)
	}
	if cs, err := ca.ListCards(ctx, ua.Vuid, ""); err != nil || cs.TotalCards != 1 {
		t.Errorf("A's listCards after B bound the card: %+v %v", cs, err)
	}

	// B cannot use A's key: with A's public key, with or without A's keyId.
	withAKey := h.clientWithKey(appB, appA.PublicKeyPEM)
	_, err = withAKey.GetVuid(ctx, auid)
	wantCode(t, "B encrypting with A's key", err, client.CodeDecrypt)
	withAKeyID := h.clientWithKey(appB, appA.PublicKeyPEM, client.WithKeyID(appA.KeyID))
	_, err = withAKeyID.GetVuid(ctx, auid)
	wantCode(t, "B encrypting with A's key and keyId", err, client.CodeDecrypt)

	// B's token with A's appId in the envelope.
	tokB, err := cb.AccessToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ans := h.userCall("getVuid", tokB, map[string]any{"appId": appA.AppID, "encryptedData": seal(t, appA.PublicKeyPEM, map[string]string{"auid": auid})})
	if ans.Code != client.CodeAppMismatch {
		t.Errorf("B's token with A's envelope: code %d, want 2010", ans.Code)
	}
}

// scenarioRefreshReuse: a refresh token works once; presenting it again answers 2004 and
// revokes what was issued from it.
func scenarioRefreshReuse(t *testing.T, h *harness) {
	a := h.createApp(nil)
	t0 := h.getToken(a)
	if t0.RefreshToken == "" || t0.RefreshToken != t0.RefereshToken {
		t.Fatalf("getToken: refreshToken %q, refereshToken %q: want both, equal", t0.RefreshToken, t0.RefereshToken)
	}
	code1, t1 := h.refresh(t0.RefreshToken)
	if code1 != 0 || t1.AccessToken == t0.AccessToken || t1.RefreshToken == t0.RefreshToken || t1.RefereshToken != t1.RefreshToken {
		t.Fatalf("refreshToken: code %d, %+v", code1, t1)
	}
	env := map[string]any{"appId": a.AppID, "encryptedData": seal(t, a.PublicKeyPEM, map[string]string{"auid": "008618600000009"})}
	if ans := h.userCall("getVuid", t1.AccessToken, env); ans.Code != 0 {
		t.Fatalf("call with the refreshed access token: code %d", ans.Code)
	}
	if code, _ := h.refresh(t0.RefreshToken); code != client.CodeRefreshInvalid {
		t.Errorf("reused refresh token: code %d, want 2004", code)
	}
	if ans := h.userCall("getVuid", t1.AccessToken, env); ans.Code != client.CodeTokenInvalid {
		t.Errorf("access token descended from a reused refresh token: code %d, want 2002", ans.Code)
	}
	if code, _ := h.refresh(t1.RefreshToken); code != client.CodeRefreshInvalid {
		t.Errorf("refresh token descended from a reused one: code %d, want 2004", code)
	}
	// A fresh getToken is not affected.
	t2 := h.getToken(a)
	if ans := h.userCall("getVuid", t2.AccessToken, env); ans.Code != 0 {
		t.Errorf("a new token after reuse detection: code %d", ans.Code)
	}
}

package e2e

import (
	"context"
	"strings"
	"testing"
	"unicode"

	"github.com/vsrp-dev/vsrp/client"
	"github.com/vsrp-dev/vsrp/envelope"
)

// TestUserAPIErrors covers the codes an integrator meets on the user APIs.
func TestUserAPIErrors(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.loadBINs()
	a := h.createApp(nil)
	c := h.client(a)
	ctx := context.Background()
	u1, err := c.GetVuid(ctx, "008618600000001")
	if err != nil {
		t.Fatal(err)
	}
	u2, err := c.GetVuid(ctx, "008618600000002")
	if err != nil {
		t.Fatal(err)
	}
	const bound = "4111111111111111"
	card, err := c.GetCardInfo(ctx, bound)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddCard(ctx, u1.Vuid, card.CardID); err != nil {
		t.Fatal(err)
	}
	other, err := c.GetCardInfo(ctx, "4242424242424242")
	if err != nil {
		t.Fatal(err)
	}
	unknownVuid := "vu_" + randomHex(11)
	call := func(name string, params any) func() error {
		return func() error { return c.Call(ctx, name, params, nil) }
	}
	getVuid := func(auid string) func() error {
		return func() error { _, err := c.GetVuid(ctx, auid); return err }
	}
	getCardInfo := func(p string) func() error {
		return func() error { _, err := c.GetCardInfo(ctx, p); return err }
	}
	tests := []struct {
		name string
		call func() error
		want int
	}{
		{"getVuid empty auid", getVuid(""), client.CodeAuidInvalid},
		{"getVuid 256 code points", getVuid(strings.Repeat("用", 256)), client.CodeAuidInvalid},
		{"getVuid newline in auid", getVuid("0086186\n12345678"), client.CodeAuidInvalid},
		{"getVuid NUL in auid", getVuid("0086186\x0012345678"), client.CodeAuidInvalid},
		{"getVuid DEL in auid", getVuid("0086186\x7f12345678"), client.CodeAuidInvalid},
		{"getVuid C1 control in auid", getVuid("0086186\u008512345678"), client.CodeAuidInvalid},
		{"getVuid auid missing", call("getVuid", map[string]any{}), client.CodeMissingParam},
		{"getVuid auid a number", call("getVuid", map[string]any{"auid": 8618612345678}), client.CodeInvalidParam},
		{"payload an array", call("getVuid", []string{"008618600000001"}), client.CodeMalformed},
		{"payload a string", call("getVuid", "008618600000001"), client.CodeMalformed},

		{"getCardInfo pan missing", call("getCardInfo", map[string]any{}), client.CodeMissingParam},
		{"getCardInfo Luhn fails", getCardInfo("4111111111111112"), client.CodeCardInvalid},
		{"getCardInfo not Visa", getCardInfo("5555555555554444"), client.CodeCardInvalid},
		{"getCardInfo 15 digits", getCardInfo("411111111111111"), client.CodeCardInvalid},
		{"getCardInfo 17 digits", getCardInfo("41111111111111111"), client.CodeCardInvalid},
		{"getCardInfo with dashes", getCardInfo("4111-1111-1111-1111"), client.CodeCardInvalid},
		{"getCardInfo with spaces", getCardInfo("4111 1111 1111 1111"), client.CodeCardInvalid},
		{"getCardInfo a cardId", getCardInfo(card.CardID), client.CodeCardInvalid},
		{"getCardInfo BIN not configured", getCardInfo("4000000000000002"), client.CodeCardNoBIN},
		{"getCardInfo 8-digit BIN's neighbour not configured", getCardInfo(pan("424243", 5)), client.CodeCardNoBIN},

		{"addCard unknown vuid", func() error { return c.AddCard(ctx, unknownVuid, card.CardID) }, client.CodeVuidNotFound},
		{"addCard invalid PAN", func() error { return c.AddCard(ctx, u1.Vuid, "4111111111111112") }, client.CodeCardInvalid},
		{"addCard PAN outside BINs", func() error { return c.AddCard(ctx, u1.Vuid, "4000000000000002") }, client.CodeCardNoBIN},
		{"addCard bound to another user", func() error { return c.AddCard(ctx, u2.Vuid, card.CardID) }, client.CodeCardBound},
		{"addCard bound to another user, by PAN", func() error { return c.AddCard(ctx, u2.Vuid, bound) }, client.CodeCardBound},
		{"addCard unknown cardId", func() error { return c.AddCard(ctx, u1.Vuid, "card_"+randomHex(11)) }, client.CodeCardNotFound},
		{"addCard cardId missing", call("addCard", map[string]any{"vuid": u1.Vuid}), client.CodeMissingParam},

		{"removeCard unknown vuid", func() error { return c.RemoveCard(ctx, unknownVuid, card.CardID) }, client.CodeVuidNotFound},
		{"removeCard bound to another user", func() error { return c.RemoveCard(ctx, u2.Vuid, card.CardID) }, client.CodeCardNotFound},
		{"removeCard not bound", func() error { return c.RemoveCard(ctx, u1.Vuid, other.CardID) }, client.CodeCardNotFound},
		{"removeCard unknown cardId", func() error { return c.RemoveCard(ctx, u1.Vuid, "card_"+randomHex(11)) }, client.CodeCardNotFound},

		{"listCards unknown vuid", func() error { _, err := c.ListCards(ctx, unknownVuid, ""); return err }, client.CodeVuidNotFound},
		{"listCards vuid missing", call("listCards", map[string]any{}), client.CodeMissingParam},
	}
	for _, tt := range tests {
		wantCode(t, tt.name, tt.call(), tt.want)
	}
	// None of the failures changed the binding.
	if cs, err := c.ListCards(ctx, u1.Vuid, ""); err != nil || cs.TotalCards != 1 || cs.Cards[0].CardID != card.CardID {
		t.Errorf("listCards after the failures: %+v %v", cs, err)
	}
}

// TestIssuerAndScopeGrants: an app sees only the issuers (bids) granted to it and calls only
// the APIs of its scopes (2007).
func TestIssuerAndScopeGrants(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.loadBINs()
	ctx := context.Background()

	limited := h.createApp(map[string]any{"bids": []string{"B-E2E-1"}})
	c := h.client(limited)
	u, err := c.GetVuid(ctx, "008618600000003")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetCardInfo(ctx, "4111111111111111"); err != nil {
		t.Errorf("getCardInfo of a granted issuer: %v", err)
	}
	_, err = c.GetCardInfo(ctx, "4242424242424242")
	wantCode(t, "getCardInfo of an issuer not granted", err, client.CodeForbidden)
	wantCode(t, "addCard of an issuer not granted", c.AddCard(ctx, u.Vuid, "4242424242424242"), client.CodeForbidden)
	_, err = c.ListCards(ctx, u.Vuid, "B-E2E-2")
	wantCode(t, "listCards with a bid not granted", err, client.CodeForbidden)
	if cs, err := c.ListCards(ctx, u.Vuid, "B-E2E-1"); err != nil || cs.TotalCards != 0 {
		t.Errorf("listCards with a granted bid: %+v %v", cs, err)
	}

	// A card of another issuer, bound through an app that may see it, stays out of the list.
	open := h.createApp(nil)
	other := h.client(open)
	ci, err := other.GetCardInfo(ctx, "4242424242424242")
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "addCard by cardId of an issuer not granted", c.AddCard(ctx, u.Vuid, ci.CardID), client.CodeForbidden)

	// Scopes: an app with only "enroll" may not call the user APIs.
	enrollOnly := h.createApp(map[string]any{"scopes": []string{"enroll"}})
	tk := h.getToken(enrollOnly)
	if tk.Scope != "enroll" {
		t.Errorf("getToken scope %q, want \"enroll\"", tk.Scope)
	}
	ce := h.client(enrollOnly)
	_, err = ce.GetVuid(ctx, "008618600000003")
	wantCode(t, "getVuid without the user scope", err, client.CodeForbidden)
	_, err = ce.GetCardInfo(ctx, "4111111111111111")
	wantCode(t, "getCardInfo without the user scope", err, client.CodeForbidden)
	_, err = ce.ListCards(ctx, u.Vuid, "")
	wantCode(t, "listCards without the user scope", err, client.CodeForbidden)

	// Scopes are read at each call: taking one away stops tokens issued before.
	h.patchApp(limited.AppID, map[string]any{"scopes": []string{"enroll", "reward"}})
	_, err = c.GetVuid(ctx, "008618600000003")
	wantCode(t, "getVuid after the user scope was taken away", err, client.CodeForbidden)
}

// TestMessagesFollowAcceptLanguage: the message follows Accept-Language, the code does not.
func TestMessagesFollowAcceptLanguage(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	ctx := context.Background()
	msgs := map[string]string{}
	for _, lang := range []string{"", "en-US", "zh-CN", "zh-TW", "zh-HK"} {
		_, err := h.client(a, client.WithLanguage(lang)).GetVuid(ctx, "")
		var e *client.Error
		if !asErr(err, &e) || e.Code != client.CodeAuidInvalid {
			t.Fatalf("%q: %v, want 3014", lang, err)
		}
		msgs[lang] = e.Message
	}
	if msgs[""] == "" || msgs[""] != msgs["en-US"] || hasHan(msgs[""]) {
		t.Errorf("English messages: %q, %q", msgs[""], msgs["en-US"])
	}
	if !hasHan(msgs["zh-CN"]) || !hasHan(msgs["zh-TW"]) || msgs["zh-CN"] == msgs["zh-TW"] || msgs["zh-TW"] != msgs["zh-HK"] {
		t.Errorf("Chinese messages: zh-CN %q, zh-TW %q, zh-HK %q", msgs["zh-CN"], msgs["zh-TW"], msgs["zh-HK"])
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// TestEncryptionFormsAgainstServer: every accepted envelope form opens on the server,
// segmented payloads included.
func TestEncryptionFormsAgainstServer(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	ctx := context.Background()
	long := strings.Repeat("长", 250) // 750 bytes of UTF-8: several blocks
	forms := []struct {
		name string
		opts []client.Option
	}{
		{"SHA-256/MGF1-SHA-256", nil},
		{"SHA-256/MGF1-SHA-1", []client.Option{client.WithVariant(envelope.SHA256MGF1SHA1)}},
		{"SHA-1/MGF1-SHA-1", []client.Option{client.WithVariant(envelope.SHA1MGF1SHA1)}},
		{"SHA-1 with keyId", []client.Option{client.WithVariant(envelope.SHA1MGF1SHA1), client.WithKeyID(a.KeyID)}},
		{"JWE RSA-OAEP-256 A256GCM", []client.Option{client.WithJWE("RSA-OAEP-256", "A256GCM"), client.WithKeyID(a.KeyID)}},
		{"JWE RSA-OAEP A128GCM", []client.Option{client.WithJWE("RSA-OAEP", "A128GCM")}},
	}
	// The largest block envelope (32 blocks of 190 bytes), and beyond it the client's JWE.
	for _, pad := range []int{6000, 9000, 30000} {
		params := map[string]string{"auid": "008618612345678", "pad": strings.Repeat("p", pad)}
		if err := h.client(a).Call(ctx, "getVuid", params, nil); err != nil {
			t.Errorf("getVuid with %d bytes of padding: %v", pad, err)
		}
	}
	var want string
	for _, f := range forms {
		c := h.client(a, f.opts...)
		for _, auid := range []string{"008618612345678", long} {
			v, err := c.GetVuid(ctx, auid)
			if err != nil {
				t.Errorf("%s, %d-byte auid: %v", f.name, len(auid), err)
				continue
			}
			if auid == long {
				continue
			}
			if want == "" {
				want = v.Vuid
			} else if v.Vuid != want {
				t.Errorf("%s: vuid %s, want %s", f.name, v.Vuid, want)
			}
		}
	}
}

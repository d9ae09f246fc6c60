package notify_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/notify"
)

// verifyWebhook mirrors verifyWebhook in shared/conformance/lib.mjs, the check a partner's
// receiver makes: one of the space-separated "v1,<base64>" signatures must be the HMAC-SHA256,
// keyed with the base64-decoded text after "whsec_", of "id.timestamp.body".
func verifyWebhook(secret string, h http.Header, body string) bool {
	id, ts, sig := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sig == "" || !strings.HasPrefix(secret, "whsec_") {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + body))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Split(sig, " ") {
		v, b, _ := strings.Cut(s, ",")
		if v == "v1" && hmac.Equal([]byte(b), []byte(want)) {
			return true
		}
	}
	return false
}

func newSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// The example published with the Standard Webhooks specification (and Svix's documentation):
// what their verifier libraries accept, ours makes.
func TestSignStandardWebhooksVector(t *testing.T) {
	got, err := notify.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestSignAllVerifies(t *testing.T) {
	cur, old, other := newSecret(t), newSecret(t), newSecret(t)
	body := `{"rewardId":"rwd_1"}`
	ts := time.Unix(1767225600, 999_000_000) // the fraction is dropped: the header is in seconds
	sig, err := notify.SignAll([]string{cur, old}, "msg_1", ts, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if parts := strings.Split(sig, " "); len(parts) != 2 || !strings.HasPrefix(parts[0], "v1,") || !strings.HasPrefix(parts[1], "v1,") {
		t.Fatalf("SignAll = %q, want two space-separated v1 signatures", sig)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", "1767225600")
	h.Set("webhook-signature", sig)
	for name, secret := range map[string]string{"current": cur, "previous": old} {
		if !verifyWebhook(secret, h, body) {
			t.Errorf("the %s secret does not verify", name)
		}
	}
	if verifyWebhook(other, h, body) {
		t.Error("an unrelated secret verifies")
	}
	if verifyWebhook(cur, h, body+" ") {
		t.Error("a changed body verifies")
	}
	h.Set("webhook-id", "msg_2")
	if verifyWebhook(cur, h, body) {
		t.Error("another id verifies")
	}
}

func TestSignRefusesBadSecrets(t *testing.T) {
	for _, secret := range []string{"", "whsec_", "whsec_not base64!", "whsec_c2VjcmV0cy1zaG91bGQtbm90LWxlYWs=x"} {
		_, err := notify.Sign(secret, "msg_1", time.Unix(0, 0), nil)
		if err == nil {
			t.Errorf("Sign(%q) succeeded", secret)
			continue
		}
		if rest := strings.TrimPrefix(secret, "whsec_"); rest != "" && strings.Contains(err.Error(), rest) {
			t.Errorf("the error %q shows the secret", err)
		}
	}
	if _, err := notify.SignAll(nil, "msg_1", time.Unix(0, 0), nil); err == nil {
		t.Error("SignAll without secrets succeeded")
	}
}

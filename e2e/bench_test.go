package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/server"
)

// reportRate reports requests per second over the benchmark's whole run (all goroutines).
func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkGetVuidHTTP: an encrypted getVuid of an existing user through the whole HTTP stack
// (client encryption, token check, RSA decryption, SQLite look-up), on every core.
func BenchmarkGetVuidHTTP(b *testing.B) {
	h := start(b, discardLog)
	a := h.createApp(nil)
	c := h.client(a)
	ctx := context.Background()
	const auid = "008618612345678"
	if _, err := c.GetVuid(ctx, auid); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(2) // two callers per core keep both cores busy across network waits
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.GetVuid(ctx, auid); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

// BenchmarkRSADecryptBare: one RSA-OAEP (SHA-256) decryption with a 2048-bit key, on every
// core: the floor under an encrypted call's cost.
func BenchmarkRSADecryptBare(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &key.PublicKey, []byte(`{"auid":"008618612345678"}`), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		h := sha256.New() // a hash.Hash is not safe for concurrent use: one per goroutine
		for pb.Next() {
			if _, err := rsa.DecryptOAEP(h, nil, key, ct, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

// BenchmarkGetToken: getToken through HTTP (argon2id of the secret, token inserts), one call
// at a time; reports the 99th percentile latency.
func BenchmarkGetToken(b *testing.B) {
	h := start(b, discardLog, func(c *server.Config) { c.Platform = platform.Config{TokensPerHour: 1 << 30} })
	a := h.createApp(nil)
	body := mustJSON(map[string]string{"appId": a.AppID, "appSecret": a.AppSecret})
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		ans := h.raw("POST", "/api/v1/auth/getToken", nil, body)
		durations = append(durations, time.Since(t0))
		if ans.Code != 0 {
			b.Fatalf("getToken: code %d", ans.Code)
		}
	}
	b.StopTimer()
	slices.Sort(durations)
	p99 := durations[min(len(durations)-1, len(durations)*99/100)]
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
}

// BenchmarkTokenCheck: what authenticating a bearer token costs a request (token hash look-up,
// app read, whitelist), called on the platform directly.
func BenchmarkTokenCheck(b *testing.B) {
	h := start(b, discardLog)
	a := h.createApp(nil)
	tk := h.getToken(a)
	ctx := context.Background()
	addr := netip.MustParseAddr("127.0.0.1")
	p := h.srv.Platform()
	if _, err := p.Authenticate(ctx, tk.AccessToken, addr); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := p.Authenticate(ctx, tk.AccessToken, addr); err != nil {
			b.Fatal(err)
		}
	}
}

package envelope

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

const testKeyID = "test-key-1"

var variants = []Variant{SHA256MGF1SHA256, SHA256MGF1SHA1, SHA1MGF1SHA1}

// testKey is the committed test key (testdata/TEST-ONLY-rsa2048-private.pem).
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	b, err := os.ReadFile("testdata/TEST-ONLY-rsa2048-private.pem")
	if err != nil {
		panic(err)
	}
	block, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		panic(err)
	}
	return k.(*rsa.PrivateKey)
})

// otherKey is a second key, made once per test run.
var otherKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func testKeys() []Key { return []Key{{ID: testKeyID, Private: testKey()}} }

func seal(t testing.TB, pt []byte, v Variant) string {
	t.Helper()
	s, err := Seal(&testKey().PublicKey, pt, v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sealJWE(t testing.TB, kid string, pt []byte, alg, enc string) string {
	t.Helper()
	s, err := SealJWE(&testKey().PublicKey, kid, pt, alg, enc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustOpen(t *testing.T, o *Opener, data string, keys []Key, want []byte, wantID string) {
	t.Helper()
	got, id, err := o.Open(data, keys)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Open = %q, want %q", got, want)
	}
	if id != wantID {
		t.Fatalf("key id = %q, want %q", id, wantID)
	}
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func TestVariant(t *testing.T) {
	for _, c := range []struct {
		v    Variant
		name string
		seg  int
	}{
		{SHA256MGF1SHA256, "SHA-256/MGF1-SHA-256", 190},
		{SHA256MGF1SHA1, "SHA-256/MGF1-SHA-1", 190},
		{SHA1MGF1SHA1, "SHA-1/MGF1-SHA-1", 214},
		{Variant(7), "Variant(7)", 0},
	} {
		if got := c.v.String(); got != c.name {
			t.Errorf("String() = %q, want %q", got, c.name)
		}
		if got := c.v.MaxSegment(); got != c.seg {
			t.Errorf("%v.MaxSegment() = %d, want %d", c.v, got, c.seg)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	o := NewOpener()
	for _, v := range variants {
		seg := v.MaxSegment()
		for _, n := range []int{0, 1, seg, seg + 1, 5*seg + 7, MaxBlocks * seg} {
			pt := payload(n)
			data := seal(t, pt, v)
			blocks := max(1, (n+seg-1)/seg)
			if raw, err := base64.StdEncoding.DecodeString(data); err != nil || len(raw) != blocks*BlockSize {
				t.Fatalf("%v, %d bytes: %d bytes of ciphertext (%v), want %d blocks", v, n, len(raw), err, blocks)
			}
			mustOpen(t, o, data, testKeys(), pt, testKeyID)
		}
	}
}

func TestRoundTripEncodings(t *testing.T) {
	pt := payload(500)
	raw, err := base64.StdEncoding.DecodeString(seal(t, pt, SHA256MGF1SHA256))
	if err != nil {
		t.Fatal(err)
	}
	mime := base64.StdEncoding.EncodeToString(raw)
	var b strings.Builder
	for len(mime) > 76 {
		b.WriteString(mime[:76] + "\r\n")
		mime = mime[76:]
	}
	b.WriteString(mime + "\r\n")
	o := NewOpener()
	for name, data := range map[string]string{
		"std":         base64.StdEncoding.EncodeToString(raw),
		"std, raw":    base64.RawStdEncoding.EncodeToString(raw),
		"url":         base64.URLEncoding.EncodeToString(raw),
		"url, raw":    base64.RawURLEncoding.EncodeToString(raw),
		"line breaks": b.String(),
	} {
		t.Run(name, func(t *testing.T) { mustOpen(t, o, data, testKeys(), pt, testKeyID) })
	}
}

func TestSealErrors(t *testing.T) {
	pub := &testKey().PublicKey
	if _, err := Seal(pub, payload(MaxBlocks*190+1), SHA256MGF1SHA256); err != ErrTooLarge {
		t.Errorf("Seal of 33 segments: %v, want ErrTooLarge", err)
	}
	if _, err := Seal(pub, nil, Variant(3)); err == nil {
		t.Error("Seal with an unknown variant: no error")
	}
	if _, err := Seal(nil, nil, SHA256MGF1SHA256); err == nil {
		t.Error("Seal with no key: no error")
	}
	if _, err := SealJWE(pub, "", payload(MaxPlaintext+1), "RSA-OAEP-256", "A256GCM"); err != ErrTooLarge {
		t.Errorf("SealJWE over MaxPlaintext: %v, want ErrTooLarge", err)
	}
	for _, ae := range [][2]string{{"RSA1_5", "A128GCM"}, {"dir", "A128GCM"}, {"RSA-OAEP", "A128CBC-HS256"}} {
		if _, err := SealJWE(pub, "", nil, ae[0], ae[1]); err == nil {
			t.Errorf("SealJWE %s/%s: no error", ae[0], ae[1])
		}
	}
}

func TestRoundTripJWE(t *testing.T) {
	o := NewOpener()
	for _, alg := range []string{"RSA-OAEP-256", "RSA-OAEP"} {
		for _, enc := range []string{"A128GCM", "A256GCM"} {
			for _, kid := range []string{testKeyID, ""} {
				for _, n := range []int{0, 26, MaxPlaintext} {
					pt := payload(n)
					data := sealJWE(t, kid, pt, alg, enc)
					if strings.Count(data, ".") != 4 {
						t.Fatalf("not compact: %.80s", data)
					}
					obj, err := jose.ParseEncryptedCompact(data, jweKeyAlgorithms, jweContentEncryption)
					if err != nil || obj.Header.KeyID != kid {
						t.Fatalf("%s/%s: header kid %q (%v), want %q", alg, enc, obj.Header.KeyID, err, kid)
					}
					mustOpen(t, o, data, testKeys(), pt, testKeyID)
				}
			}
		}
	}
}

func TestKeySelection(t *testing.T) {
	o := NewOpener()
	pt := []byte(`{"auid":"1"}`)
	current := Key{ID: "new", Private: otherKey()}
	grace := Key{ID: testKeyID, Private: testKey()}
	keys := []Key{current, grace}
	mustOpen(t, o, seal(t, pt, SHA1MGF1SHA1), keys, pt, testKeyID)
	mustOpen(t, o, sealJWE(t, "", pt, "RSA-OAEP-256", "A256GCM"), keys, pt, testKeyID)
	mustOpen(t, o, sealJWE(t, testKeyID, pt, "RSA-OAEP", "A128GCM"), keys, pt, testKeyID)
	// A kid picks the key by id only: the right private key under another id does not do.
	renamed := []Key{{ID: "renamed", Private: testKey()}}
	if _, _, err := o.Open(sealJWE(t, testKeyID, pt, "RSA-OAEP-256", "A256GCM"), renamed); err != ErrDecrypt {
		t.Errorf("JWE with an unknown kid: %v, want ErrDecrypt", err)
	}
}

// jweWithHeader replaces the protected header of a JWE; the result fails authentication
// unless the header is refused first.
func jweWithHeader(t *testing.T, header string) string {
	parts := strings.Split(sealJWE(t, "", payload(10), "RSA-OAEP-256", "A128GCM"), ".")
	parts[0] = base64.RawURLEncoding.EncodeToString([]byte(header))
	return strings.Join(parts, ".")
}

func TestOpenFailures(t *testing.T) {
	pt := payload(400) // three SHA-256 blocks
	good := seal(t, pt, SHA256MGF1SHA256)
	raw, _ := base64.StdEncoding.DecodeString(good)
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		return base64.StdEncoding.EncodeToString(b)
	}
	garbage := func(n int) string {
		b := make([]byte, n)
		rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	goodJWE := sealJWE(t, testKeyID, pt, "RSA-OAEP-256", "A256GCM")
	jweParts := strings.Split(goodJWE, ".")
	tamperJWE := func(part int) string {
		p := bytes.Clone([]byte(jweParts[part]))
		if p[2] == 'A' {
			p[2] = 'B'
		} else {
			p[2] = 'A'
		}
		q := append([]string(nil), jweParts...)
		q[part] = string(p)
		return strings.Join(q, ".")
	}
	dir, err := jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.DIRECT, Key: make([]byte, 16)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirObj, _ := dir.Encrypt(pt)
	dirJWE, _ := dirObj.CompactSerialize()
	zipper, err := jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.RSA_OAEP, Key: &testKey().PublicKey},
		&jose.EncrypterOptions{Compression: jose.DEFLATE})
	if err != nil {
		t.Fatal(err)
	}
	zipObj, _ := zipper.Encrypt(pt)
	zipJWE, _ := zipObj.CompactSerialize()

	for name, data := range map[string]string{
		"tampered first block":   flip(10),
		"tampered last block":    flip(2*BlockSize + 100),
		"garbage, one block":     garbage(BlockSize),
		"garbage, three blocks":  garbage(3 * BlockSize),
		"all 0xff":               base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, BlockSize)),
		"bad base64":             "!!!!" + good[4:],
		"mixed alphabets":        strings.Replace(base64.URLEncoding.EncodeToString(raw), "-", "+", 1),
		"wrong padding":          good + "==",
		"255 bytes":              garbage(255),
		"257 bytes":              garbage(257),
		"empty":                  "",
		"JWE tag tampered":       tamperJWE(4),
		"JWE ciphertext":         tamperJWE(3),
		"JWE encrypted key":      tamperJWE(1),
		"JWE unknown kid":        sealJWE(t, "nobody", pt, "RSA-OAEP-256", "A256GCM"),
		"JWE alg dir":            dirJWE,
		"JWE alg RSA1_5":         jweWithHeader(t, `{"alg":"RSA1_5","enc":"A128GCM"}`),
		"JWE enc A128CBC-HS256":  jweWithHeader(t, `{"alg":"RSA-OAEP-256","enc":"A128CBC-HS256"}`),
		"JWE crit":               jweWithHeader(t, `{"alg":"RSA-OAEP-256","enc":"A128GCM","crit":["exp"],"exp":1}`),
		"JWE zip":                zipJWE,
		"JWE four parts":         strings.Join(jweParts[:4], "."),
		"JWE six parts":          goodJWE + ".x",
		"JWE JSON serialization": `{"protected":"e30","ciphertext":"AA.."}`,
	} {
		t.Run(name, func(t *testing.T) {
			o := NewOpener()
			got, id, err := o.Open(data, testKeys())
			if err != ErrDecrypt || got != nil || id != "" {
				t.Errorf("Open = %q, %q, %v; want ErrDecrypt", got, id, err)
			}
		})
	}

	t.Run("wrong key", func(t *testing.T) {
		for _, data := range []string{good, goodJWE, sealJWE(t, "", pt, "RSA-OAEP", "A128GCM")} {
			if _, _, err := NewOpener().Open(data, []Key{{ID: testKeyID, Private: otherKey()}}); err != ErrDecrypt {
				t.Errorf("Open: %v, want ErrDecrypt", err)
			}
		}
	})
	t.Run("no keys", func(t *testing.T) {
		for _, keys := range [][]Key{nil, {{ID: "nil"}}} {
			if _, _, err := NewOpener().Open(good, keys); err != ErrDecrypt {
				t.Errorf("Open: %v, want ErrDecrypt", err)
			}
		}
	})
}

func TestOpenTooLarge(t *testing.T) {
	o := NewOpener()
	blocks33 := make([]byte, 0, 33*BlockSize)
	for range 33 {
		b, _ := base64.StdEncoding.DecodeString(seal(t, []byte("x"), SHA256MGF1SHA256))
		blocks33 = append(blocks33, b...)
	}
	// A JWE whose ciphertext alone is over MaxPlaintext.
	e, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: &testKey().PublicKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	big, _ := e.Encrypt(payload(MaxPlaintext + 1))
	bigJWE, _ := big.CompactSerialize()
	for name, data := range map[string]string{
		"33 blocks":         base64.StdEncoding.EncodeToString(blocks33),
		"33 blocks, url":    base64.RawURLEncoding.EncodeToString(blocks33),
		"absurd length":     strings.Repeat("A", 1<<20),
		"JWE over 32 KiB":   bigJWE,
		"JWE absurd length": strings.Repeat("A.", 1<<16),
	} {
		before := o.rsaOps.Load()
		if _, _, err := o.Open(data, testKeys()); err != ErrTooLarge {
			t.Errorf("%s: %v, want ErrTooLarge", name, err)
		}
		if n := o.rsaOps.Load() - before; n != 0 {
			t.Errorf("%s: %d RSA operations, want 0", name, n)
		}
	}
}

// ops returns the number of RSA operations that one Open makes.
func ops(o *Opener, data string, keys []Key) (int64, error) {
	before := o.rsaOps.Load()
	_, _, err := o.Open(data, keys)
	return o.rsaOps.Load() - before, err
}

func TestRSAOperationCount(t *testing.T) {
	t.Run("malformed lengths cost nothing", func(t *testing.T) {
		o := NewOpener()
		for _, n := range []int{0, 1, 255, 257, 511, 33 * BlockSize} {
			data := base64.StdEncoding.EncodeToString(make([]byte, n))
			if got, err := ops(o, data, testKeys()); got != 0 || err == nil {
				t.Errorf("%d bytes: %d operations (%v), want 0 and an error", n, got, err)
			}
		}
	})

	for _, v := range variants {
		t.Run(v.String(), func(t *testing.T) {
			o := NewOpener()
			pt := payload(2*v.MaxSegment() + 1) // three blocks
			first, err := ops(o, seal(t, pt, v), testKeys())
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(int(v) + 1 + 2); first != want || first > 3+2 {
				t.Errorf("first call: %d operations, want %d (at most 3 + 2)", first, want)
			}
			for range 3 {
				if n, err := ops(o, seal(t, pt, v), testKeys()); n != 3 || err != nil {
					t.Errorf("remembered variant: %d operations (%v), want 3", n, err)
				}
			}
		})
	}

	t.Run("variant change", func(t *testing.T) {
		o := NewOpener()
		pt := payload(10)
		ops(o, seal(t, pt, SHA1MGF1SHA1), testKeys())
		if n, _ := ops(o, seal(t, pt, SHA256MGF1SHA256), testKeys()); n != 2 {
			t.Errorf("other variant: %d operations, want 2", n)
		}
		if n, _ := ops(o, seal(t, pt, SHA256MGF1SHA256), testKeys()); n != 1 {
			t.Errorf("new variant remembered: %d operations, want 1", n)
		}
	})

	t.Run("grace key", func(t *testing.T) {
		o := NewOpener()
		pt := payload(10)
		current := Key{ID: "current", Private: otherKey()}
		grace := Key{ID: testKeyID, Private: testKey()}
		keys := []Key{current, grace}
		currentData, _ := Seal(&otherKey().PublicKey, pt, SHA256MGF1SHA256)
		if n, _ := ops(o, currentData, keys); n != 1 {
			t.Errorf("current key: %d operations, want 1", n)
		}
		if n, _ := ops(o, seal(t, pt, SHA256MGF1SHA1), keys); n != 3+2 {
			t.Errorf("grace key, first time: %d operations, want 5", n)
		}
		if n, _ := ops(o, seal(t, pt, SHA256MGF1SHA1), keys); n != 2 {
			t.Errorf("grace key, remembered: %d operations, want 2", n)
		}
	})

	t.Run("a failure costs every pair", func(t *testing.T) {
		o := NewOpener()
		keys := []Key{{ID: "a", Private: otherKey()}, {ID: testKeyID, Private: testKey()}}
		good := seal(t, payload(400), SHA256MGF1SHA256)
		ops(o, good, keys) // remember the variant
		raw, _ := base64.StdEncoding.DecodeString(good)
		for _, c := range []struct {
			name  string
			block int
			want  int64
		}{
			{"first block", 0, 6},
			{"third block", 2, 2 + 6}, // two good blocks, then all six pairs on the third
		} {
			b := bytes.Clone(raw)
			b[c.block*BlockSize+7] ^= 0x80
			n, err := ops(o, base64.StdEncoding.EncodeToString(b), keys)
			if err != ErrDecrypt || n != c.want {
				t.Errorf("%s: %d operations (%v), want %d", c.name, n, err, c.want)
			}
		}
		garbage := make([]byte, BlockSize)
		if n, _ := ops(o, base64.StdEncoding.EncodeToString(garbage), keys); n != 6 {
			t.Errorf("zero block: %d operations, want 6", n)
		}
	})

	t.Run("JWE costs one operation per key tried", func(t *testing.T) {
		o := NewOpener()
		keys := []Key{{ID: "a", Private: otherKey()}, {ID: testKeyID, Private: testKey()}}
		big := payload(20_000)
		for _, c := range []struct {
			kid  string
			want int64
		}{{testKeyID, 1}, {"", 2}, {"unknown", 0}} {
			data := sealJWE(t, c.kid, big, "RSA-OAEP-256", "A256GCM")
			if n, _ := ops(o, data, keys); n != c.want {
				t.Errorf("kid %q: %d operations, want %d", c.kid, n, c.want)
			}
		}
	})
}

func TestConcurrentOpen(t *testing.T) {
	o := NewOpener()
	var wg sync.WaitGroup
	for i := range 8 {
		v := variants[i%len(variants)]
		pt := payload(200 + i)
		data := seal(t, pt, v)
		wg.Go(func() {
			for range 4 {
				got, _, err := o.Open(data, testKeys())
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("%v: Open = %v", v, err)
				}
			}
		})
	}
	wg.Wait()
}

func TestPEM(t *testing.T) {
	b, err := os.ReadFile("testdata/TEST-ONLY-rsa2048-public.pem")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKeyPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(&testKey().PublicKey) {
		t.Fatal("public key does not match the private key")
	}
	out, err := MarshalPublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, b) {
		t.Errorf("MarshalPublicKeyPEM differs from openssl's:\n%s", out)
	}
	priv, _ := os.ReadFile("testdata/TEST-ONLY-rsa2048-private.pem")
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)})
	for name, in := range map[string][]byte{
		"private key": priv,
		"PKCS #1":     pkcs1,
		"not PEM":     []byte("hello"),
		"bad DER":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}),
	} {
		if _, err := ParsePublicKeyPEM(in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func BenchmarkRSADecryptBare(b *testing.B) {
	priv := testKey()
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &priv.PublicKey, []byte(`{"auid":"008618612345678"}`), nil)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		if _, err := rsa.DecryptOAEP(sha256.New(), nil, priv, ct, nil); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkOpen1Block(b *testing.B) {
	o := NewOpener()
	data := seal(b, []byte(`{"auid":"008618612345678"}`), SHA256MGF1SHA256)
	keys := testKeys()
	if _, _, err := o.Open(data, keys); err != nil { // warm the variant
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		if _, _, err := o.Open(data, keys); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ops/s")
}

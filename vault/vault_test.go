package vault

import (
	"bytes"
	"testing"
	"time"
)

func testVault(t *testing.T, key byte) *Vault {
	t.Helper()
	v, err := New(bytes.Repeat([]byte{key}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSealOpen(t *testing.T) {
	v := testVault(t, 1)
	pan := []byte("4111111111111111")
	s := v.Seal("pan", pan)
	if bytes.Contains(s, pan) {
		t.Fatal("sealed data contains the plaintext")
	}
	got, err := v.Open("pan", s)
	if err != nil || !bytes.Equal(got, pan) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := v.Open("rsa-key", s); err != ErrOpen {
		t.Fatalf("open for another purpose: %v, want ErrOpen", err)
	}
	if _, err := testVault(t, 2).Open("pan", s); err != ErrOpen {
		t.Fatalf("open under another master key: %v, want ErrOpen", err)
	}
	s[len(s)-1] ^= 1
	if _, err := v.Open("pan", s); err != ErrOpen {
		t.Fatalf("tampered: %v, want ErrOpen", err)
	}
	if bytes.Equal(v.Seal("pan", pan), v.Seal("pan", pan)) {
		t.Fatal("two seals of one plaintext are equal: nonce reuse")
	}
}

func TestLookupIsKeyedAndPurposeBound(t *testing.T) {
	a, b := testVault(t, 1), testVault(t, 2)
	d := []byte("008618612345678")
	if !bytes.Equal(a.Lookup("auid", d), a.Lookup("auid", d)) {
		t.Fatal("lookup not deterministic")
	}
	if bytes.Equal(a.Lookup("auid", d), b.Lookup("auid", d)) {
		t.Fatal("lookup does not depend on the master key")
	}
	if bytes.Equal(a.Lookup("auid", d), a.Lookup("pan", d)) {
		t.Fatal("lookup does not depend on the purpose")
	}
}

func TestPassword(t *testing.T) {
	h := HashPassword("s3cret")
	if !CheckPassword(h, "s3cret") {
		t.Fatal("right secret refused")
	}
	if CheckPassword(h, "s3cres") || CheckPassword(h, "") || CheckPassword("garbage", "s3cret") {
		t.Fatal("wrong secret accepted")
	}
	if HashPassword("s3cret") == h {
		t.Fatal("hash is not salted")
	}
}

func TestParseMasterKey(t *testing.T) {
	if _, err := ParseMasterKey("AAAA"); err == nil {
		t.Fatal("short key accepted")
	}
	k, err := ParseMasterKey("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")
	if err != nil || len(k) != KeySize {
		t.Fatalf("ParseMasterKey: %v", err)
	}
}

func TestTokens(t *testing.T) {
	a, b := NewToken(), NewToken()
	if a == b || len(a) < 43 {
		t.Fatalf("tokens %q %q", a, b)
	}
	if bytes.Equal(TokenHash(a), TokenHash(b)) || !bytes.Equal(TokenHash(a), TokenHash(a)) {
		t.Fatal("token hash")
	}
}

// Password hashes queue beyond the bound instead of all running (19 MiB each): with every slot
// taken, a check waits, and goes on once a slot is free.
func TestPasswordHashingIsBounded(t *testing.T) {
	encoded := HashPassword("s3cret")
	for range cap(hashing) {
		hashing <- struct{}{}
	}
	done := make(chan bool)
	go func() { done <- CheckPassword(encoded, "s3cret") }()
	select {
	case <-done:
		t.Fatal("a password check ran with every hashing slot taken")
	case <-time.After(200 * time.Millisecond):
	}
	<-hashing
	if !<-done {
		t.Fatal("the check failed once a slot was free")
	}
	for range cap(hashing) - 1 {
		<-hashing
	}
}

func TestKeyCheck(t *testing.T) {
	a, b := testVault(t, 1), testVault(t, 2)
	if !bytes.Equal(a.KeyCheck(), testVault(t, 1).KeyCheck()) {
		t.Fatal("the key check of one key differs between vaults")
	}
	if bytes.Equal(a.KeyCheck(), b.KeyCheck()) {
		t.Fatal("two master keys have the same key check")
	}
	if bytes.Contains(a.KeyCheck(), bytes.Repeat([]byte{1}, 8)) {
		t.Fatal("the key check holds the key")
	}
}

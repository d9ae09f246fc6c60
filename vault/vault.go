// Package vault keeps secrets safe at rest: it seals data (PANs, RSA private keys, webhook
// secrets) with AES-256-GCM under keys derived from the server's master key, computes keyed
// hashes (HMAC-SHA256) for look-ups of sealed or personal data (PANs, auids), hashes app secrets
// with a slow password hash (argon2id) and access tokens with SHA-256.
//
// A copy of the database without the master key holds no PAN, no auid, no usable secret and
// no usable token.
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// KeySize is the size of the master key in bytes.
const KeySize = 32

// ErrOpen is returned when sealed data cannot be opened (wrong master key or tampering).
var ErrOpen = errors.New("vault: cannot open sealed data")

const sealVersion = 1

// Vault seals and hashes under one master key. It is safe for concurrent use.
type Vault struct {
	aead    cipher.AEAD
	hmacKey []byte
}

// New derives the vault's keys from a 32-byte master key.
func New(masterKey []byte) (*Vault, error) {
	if len(masterKey) != KeySize {
		return nil, fmt.Errorf("vault: master key must be %d bytes, got %d", KeySize, len(masterKey))
	}
	encKey, err := hkdf.Key(sha256.New, masterKey, nil, "vsrp seal v1", 32)
	if err != nil {
		return nil, err
	}
	macKey, err := hkdf.Key(sha256.New, masterKey, nil, "vsrp lookup hmac v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Vault{aead: aead, hmacKey: macKey}, nil
}

// ParseMasterKey decodes a base64 master key (standard or URL alphabet, padding optional).
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("master key must be base64 of %d bytes, got %d bytes", KeySize, len(k))
			}
			return k, nil
		}
	}
	return nil, errors.New("master key is not valid base64")
}

// NewMasterKey returns a fresh random master key.
func NewMasterKey() []byte { return randomBytes(KeySize) }

// Seal encrypts plaintext. purpose binds the ciphertext to its use (for example "pan" or
// "rsa-key"), so sealed data of one kind cannot be passed off as another.
func (v *Vault) Seal(purpose string, plaintext []byte) []byte {
	nonce := randomBytes(v.aead.NonceSize())
	out := make([]byte, 0, 1+len(nonce)+len(plaintext)+v.aead.Overhead())
	out = append(out, sealVersion)
	out = append(out, nonce...)
	return v.aead.Seal(out, nonce, plaintext, []byte(purpose))
}

// Open decrypts what Seal made for the same purpose.
func (v *Vault) Open(purpose string, sealed []byte) ([]byte, error) {
	ns := v.aead.NonceSize()
	if len(sealed) < 1+ns+v.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrOpen
	}
	pt, err := v.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(purpose))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// Lookup returns the keyed hash of data for the purpose, for equality look-ups of data that
// is stored sealed or not at all.
func (v *Vault) Lookup(purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, v.hmacKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}

// KeyCheck is a value that tells master keys apart without revealing them: the keyed hash of
// a fixed label. A database keeps the check value of the key its data was sealed with, so that
// a start with another key can be refused before any call fails on that data.
func (v *Vault) KeyCheck() []byte { return v.Lookup("master key check v1", nil) }

// NewToken returns an opaque random token of 256 bits, URL-safe base64 without padding.
func NewToken() string { return base64.RawURLEncoding.EncodeToString(randomBytes(32)) }

// NewID returns a random identifier with the prefix, of 128 bits.
func NewID(prefix string) string {
	return prefix + base64.RawURLEncoding.EncodeToString(randomBytes(16))
}

// TokenHash is the stored form of a token: tokens carry 256 bits of entropy, so a fast hash
// is enough to make a stolen table useless.
func TokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// argon2id parameters: OWASP's minimum recommendation (19 MiB, 2 passes, 1 lane).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// hashing bounds how many argon2id hashes run at once: each takes 19 MiB, and getToken runs one
// for any caller, so a flood of calls queues here instead of exhausting memory.
var hashing = make(chan struct{}, 2*runtime.GOMAXPROCS(0))

// idKey is argon2.IDKey within the bound.
func idKey(secret, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	hashing <- struct{}{}
	defer func() { <-hashing }()
	return argon2.IDKey(secret, salt, t, m, p, n)
}

// HashPassword returns the encoded argon2id hash of secret.
func HashPassword(secret string) string {
	salt := randomBytes(16)
	sum := idKey([]byte(secret), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum))
}

// CheckPassword reports whether secret matches the encoded hash. It runs in time independent
// of where the two differ.
func CheckPassword(encoded, secret string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	if m > 4*argonMemory || t > 4*argonTime || p > 4 { // a hash this costly is none of ours
		return false
	}
	got := idKey([]byte(secret), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// DummyPasswordCheck costs as much as CheckPassword, so that an unknown app id answers in the
// same time as a wrong secret.
func DummyPasswordCheck(secret string) {
	idKey([]byte(secret), make([]byte, 16), argonTime, argonMemory, argonThreads, argonKeyLen)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("vault: crypto/rand failed: " + err.Error())
	}
	return b
}

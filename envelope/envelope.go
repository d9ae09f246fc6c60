// Package envelope opens the encrypted payloads that partner apps send to the App API
// (contract section 5), and seals them on the client side.
//
// The encryptedData of an envelope is either
//
//   - base64 of one or more 256-byte RSA-OAEP blocks made with the app's RSA-2048 public key:
//     a plaintext longer than one block is split into segments, each encrypted on its own and
//     the ciphertexts concatenated in order; or
//   - a JWE compact serialization with alg RSA-OAEP-256 or RSA-OAEP and enc A128GCM or
//     A256GCM, which costs one RSA operation whatever the payload size.
//
// Every decryption failure is the single error [ErrDecrypt], whatever its cause, so that
// nothing about the cause reaches the caller; payloads over the limits are [ErrTooLarge].
//
// The blocks of a block envelope are not bound to each other: blocks reordered, dropped, or
// taken from another envelope for the same key decrypt without error. Callers that need
// integrity of the whole payload rely on its parsing (a JSON object) and on replay
// protection; a JWE is authenticated as a whole.
package envelope

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-jose/go-jose/v4"
)

// Errors returned by [Opener.Open]. Open returns them unwrapped: compare with ==.
var (
	// ErrDecrypt is every decryption failure (contract code 2009): bad base64, a length that
	// is not a positive multiple of BlockSize, a block no candidate key opens, a JWE that does
	// not parse, names an unknown kid or an algorithm not allowed, or fails authentication.
	ErrDecrypt = errors.New("envelope: payload could not be decrypted")
	// ErrTooLarge is a block envelope of more than MaxBlocks blocks (or whose encoding is
	// longer than any such envelope's), a JWE longer than the 64 KiB request body limit, or a
	// plaintext over MaxPlaintext bytes (contract code 1004).
	ErrTooLarge = errors.New("envelope: payload too large")
)

const (
	// BlockSize is the size of one RSA-OAEP block: the modulus size of an RSA-2048 key.
	BlockSize = 256
	// MaxBlocks is the largest number of RSA-OAEP blocks an envelope may hold.
	MaxBlocks = 32
	// MaxPlaintext is the largest decrypted payload, in bytes.
	MaxPlaintext = 32 << 10

	// maxEncodedLen bounds a block envelope before it is decoded. Base64 of MaxBlocks blocks
	// is 10,924 characters; line breaks, which the decoder skips, may add a few hundred.
	maxEncodedLen = 12 << 10
	// maxJWELen bounds a JWE before it is parsed: the App API's request body limit.
	maxJWELen = 64 << 10
)

// Variant is a set of RSA-OAEP parameters. The label is always empty.
type Variant uint8

// The accepted OAEP variants, in the order they are tried for a key that has none remembered.
const (
	SHA256MGF1SHA256 Variant = iota // SHA-256 with MGF1-SHA-256; recommended
	SHA256MGF1SHA1                  // SHA-256 with MGF1-SHA-1: Java's OAEPWithSHA-256AndMGF1Padding
	SHA1MGF1SHA1                    // SHA-1 with MGF1-SHA-1: the OpenSSL and Node.js default

	numVariants
)

// oaepOptions holds the options of each variant; they are only ever read.
var oaepOptions = [numVariants]rsa.OAEPOptions{
	SHA256MGF1SHA256: {Hash: crypto.SHA256, MGFHash: crypto.SHA256},
	SHA256MGF1SHA1:   {Hash: crypto.SHA256, MGFHash: crypto.SHA1},
	SHA1MGF1SHA1:     {Hash: crypto.SHA1, MGFHash: crypto.SHA1},
}

// String names the variant, e.g. "SHA-256/MGF1-SHA-1".
func (v Variant) String() string {
	switch v {
	case SHA256MGF1SHA256:
		return "SHA-256/MGF1-SHA-256"
	case SHA256MGF1SHA1:
		return "SHA-256/MGF1-SHA-1"
	case SHA1MGF1SHA1:
		return "SHA-1/MGF1-SHA-1"
	}
	return "Variant(" + strconv.Itoa(int(v)) + ")"
}

// MaxSegment is the longest plaintext segment one block can carry with this variant:
// 190 bytes with SHA-256, 214 with SHA-1, 0 for an unknown variant.
func (v Variant) MaxSegment() int {
	switch v {
	case SHA256MGF1SHA256, SHA256MGF1SHA1:
		return BlockSize - 2*sha256.Size - 2
	case SHA1MGF1SHA1:
		return BlockSize - 2*sha1.Size - 2
	}
	return 0
}

// Key is one RSA private key of an app, known by its key id.
type Key struct {
	ID      string
	Private *rsa.PrivateKey
}

// Opener decrypts envelopes. It remembers, per key id, the OAEP variant that last opened a
// block envelope and tries it first, so that a well-formed envelope costs one RSA
// private-key operation per block.
//
// An Opener is safe for concurrent use. The zero value is ready to use.
type Opener struct {
	variants sync.Map     // key id → the Variant that last opened an envelope
	rsaOps   atomic.Int64 // RSA private-key operations made, for tests
}

// NewOpener returns an Opener that remembers no variant yet.
func NewOpener() *Opener { return &Opener{} }

// Open decrypts encryptedData with the candidate keys, in order: the caller passes the one
// key named by the envelope's keyId, or the app's current key followed by the keys still in
// their grace period. It returns the plaintext and the id of the key that opened it.
//
// A block envelope is tried first with each key's remembered variant, then with every other
// (key, variant) pair; its first block picks the pair that decrypts all its blocks. Segments
// may be shorter than the variant's MaxSegment. Keys whose modulus is not 2048 bits never
// open a block envelope. A JWE costs one private-key operation per key tried; if its header
// has a kid, only the candidate keys of that id are tried.
//
// The error is ErrDecrypt or ErrTooLarge, never wrapped. Lengths are checked before any
// private-key operation. When a block cannot be opened, every candidate key has been tried
// with every variant on it, so that what a failure costs depends on the keys and on where
// the failure is, not on its cause.
func (o *Opener) Open(encryptedData string, keys []Key) (plaintext []byte, keyID string, err error) {
	// Neither base64 alphabet has a dot, and a JWE compact serialization has four.
	if strings.ContainsRune(encryptedData, '.') {
		return o.openJWE(encryptedData, keys)
	}
	return o.openBlocks(encryptedData, keys)
}

// pair is one way to try a block: a key and a variant.
type pair struct {
	key *Key
	v   Variant
}

func (o *Opener) openBlocks(s string, keys []Key) ([]byte, string, error) {
	if len(s) > maxEncodedLen {
		return nil, "", ErrTooLarge
	}
	ct, err := decodeBase64(s)
	if err != nil {
		return nil, "", ErrDecrypt
	}
	switch {
	case len(ct) > MaxBlocks*BlockSize:
		return nil, "", ErrTooLarge
	case len(ct) == 0 || len(ct)%BlockSize != 0:
		return nil, "", ErrDecrypt
	}

	pairs := o.pairs(keys)
	chosen := -1
	plaintext := make([]byte, 0, len(ct)/BlockSize*SHA1MGF1SHA1.MaxSegment())
	for i, p := range pairs {
		if pt, err := o.decrypt(p.key.Private, p.v, ct[:BlockSize]); err == nil {
			chosen = i
			plaintext = append(plaintext, pt...)
			break
		}
	}
	if chosen < 0 {
		return nil, "", ErrDecrypt
	}
	p := pairs[chosen]
	for off := BlockSize; off < len(ct); off += BlockSize {
		block := ct[off : off+BlockSize]
		pt, err := o.decrypt(p.key.Private, p.v, block)
		if err != nil {
			// Try the other pairs too, as for a first block, so that what a failure costs
			// does not depend on its cause. Only the chosen pair may open the payload.
			for i, q := range pairs {
				if i != chosen {
					_, _ = o.decrypt(q.key.Private, q.v, block)
				}
			}
			return nil, "", ErrDecrypt
		}
		plaintext = append(plaintext, pt...)
	}
	if len(plaintext) > MaxPlaintext { // cannot happen while MaxBlocks*214 < MaxPlaintext
		return nil, "", ErrTooLarge
	}
	if last, ok := o.variants.Load(p.key.ID); !ok || last.(Variant) != p.v {
		o.variants.Store(p.key.ID, p.v)
	}
	return plaintext, p.key.ID, nil
}

// pairs lists the (key, variant) pairs to try on a first block: each usable key with its
// remembered variant, in key order, then every pair not listed yet. A well-formed envelope
// thus costs one operation per block, or two for a key in its grace period when the
// envelope names no key.
func (o *Opener) pairs(keys []Key) []pair {
	first := make([]pair, 0, len(keys)*int(numVariants))
	var rest []pair
	for i := range keys {
		k := &keys[i]
		if k.Private == nil || k.Private.Size() != BlockSize {
			continue
		}
		var last Variant
		v, known := o.variants.Load(k.ID)
		if known {
			last = v.(Variant)
			first = append(first, pair{k, last})
		}
		for v := range numVariants {
			if !known || v != last {
				rest = append(rest, pair{k, v})
			}
		}
	}
	return append(first, rest...)
}

// decrypt is the one place where a private-key operation happens.
func (o *Opener) decrypt(priv *rsa.PrivateKey, v Variant, block []byte) ([]byte, error) {
	o.rsaOps.Add(1)
	return priv.Decrypt(nil, block, &oaepOptions[v])
}

// decodeBase64 decodes standard or URL-safe base64, padded or not. Line breaks are skipped.
func decodeBase64(s string) ([]byte, error) {
	url := strings.ContainsAny(s, "-_")
	padded := strings.HasSuffix(strings.TrimRight(s, "\r\n"), "=")
	enc := base64.RawStdEncoding
	switch {
	case url && padded:
		enc = base64.URLEncoding
	case url:
		enc = base64.RawURLEncoding
	case padded:
		enc = base64.StdEncoding
	}
	return enc.DecodeString(s)
}

// The JWE algorithms accepted; go-jose refuses any other at parse time.
var (
	jweKeyAlgorithms     = []jose.KeyAlgorithm{jose.RSA_OAEP_256, jose.RSA_OAEP}
	jweContentEncryption = []jose.ContentEncryption{jose.A128GCM, jose.A256GCM}
)

func (o *Opener) openJWE(s string, keys []Key) ([]byte, string, error) {
	if len(s) > maxJWELen {
		return nil, "", ErrTooLarge
	}
	parts := strings.Split(s, ".")
	if len(parts) != 5 {
		return nil, "", ErrDecrypt
	}
	// Without compression the ciphertext is as long as the plaintext.
	if base64.RawURLEncoding.DecodedLen(len(parts[3])) > MaxPlaintext {
		return nil, "", ErrTooLarge
	}
	obj, err := jose.ParseEncryptedCompact(s, jweKeyAlgorithms, jweContentEncryption)
	if err != nil {
		return nil, "", ErrDecrypt
	}
	h := obj.Header
	if _, zip := h.ExtraHeaders["zip"]; zip {
		return nil, "", ErrDecrypt // not in the contract, and a way to inflate a small body
	}
	cekLen := 32
	if h.ExtraHeaders["enc"] == string(jose.A128GCM) {
		cekLen = 16
	}
	for i := range keys {
		k := &keys[i]
		if k.Private == nil || (h.KeyID != "" && k.ID != h.KeyID) {
			continue
		}
		pt, err := obj.Decrypt(jweKey{o: o, priv: k.Private, cekLen: cekLen})
		if err != nil {
			continue
		}
		if len(pt) > MaxPlaintext {
			return nil, "", ErrTooLarge
		}
		return pt, k.ID, nil
	}
	return nil, "", ErrDecrypt
}

// jweKey decrypts a JWE's content encryption key through Opener.decrypt, so that the
// operation is counted like the others.
type jweKey struct {
	o      *Opener
	priv   *rsa.PrivateKey
	cekLen int
}

// DecryptKey implements jose.OpaqueKeyDecrypter.
func (k jweKey) DecryptKey(encryptedKey []byte, h jose.Header) ([]byte, error) {
	v := SHA1MGF1SHA1
	if h.Algorithm == string(jose.RSA_OAEP_256) {
		v = SHA256MGF1SHA256
	}
	cek, err := k.o.decrypt(k.priv, v, encryptedKey)
	if err != nil {
		// Go on with a random key, as RFC 7516 section 11.5 advises: the content
		// decryption then fails too, and both failures take the same time.
		cek = make([]byte, k.cekLen)
		_, _ = rand.Read(cek)
	}
	return cek, nil
}

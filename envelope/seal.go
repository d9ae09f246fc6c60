package envelope

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// Seal encrypts plaintext for the holder of pub's private key as a block envelope: plaintext
// is cut into segments of v.MaxSegment() bytes, each encrypted with RSA-OAEP on its own, and
// the concatenated blocks are returned in standard base64 (padded). The empty plaintext
// gives one block. pub must be an RSA-2048 key. A plaintext needing more than MaxBlocks
// blocks is ErrTooLarge: send it with SealJWE instead.
func Seal(pub *rsa.PublicKey, plaintext []byte, v Variant) (string, error) {
	if pub == nil || pub.N == nil || pub.Size() != BlockSize {
		return "", errors.New("envelope: Seal needs an RSA-2048 public key")
	}
	seg := v.MaxSegment()
	if seg == 0 {
		return "", fmt.Errorf("envelope: unknown %v", v)
	}
	n := max(1, (len(plaintext)+seg-1)/seg)
	if n > MaxBlocks {
		return "", ErrTooLarge
	}
	out := make([]byte, 0, n*BlockSize)
	for i := range n {
		segment := plaintext[i*seg : min((i+1)*seg, len(plaintext))]
		block, err := rsa.EncryptOAEPWithOptions(rand.Reader, pub, segment, &oaepOptions[v])
		if err != nil {
			return "", fmt.Errorf("envelope: %w", err)
		}
		out = append(out, block...)
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// SealJWE encrypts plaintext as a JWE compact serialization for the holder of pub's private
// key. alg is "RSA-OAEP-256" or "RSA-OAEP", enc is "A128GCM" or "A256GCM"; kid, when not
// empty, goes in the protected header. A plaintext over MaxPlaintext bytes is ErrTooLarge.
func SealJWE(pub *rsa.PublicKey, kid string, plaintext []byte, alg, enc string) (string, error) {
	if pub == nil || pub.N == nil {
		return "", errors.New("envelope: SealJWE needs an RSA public key")
	}
	ka, ce := jose.KeyAlgorithm(alg), jose.ContentEncryption(enc)
	if ka != jose.RSA_OAEP_256 && ka != jose.RSA_OAEP {
		return "", fmt.Errorf("envelope: JWE alg %q not accepted", alg)
	}
	if ce != jose.A128GCM && ce != jose.A256GCM {
		return "", fmt.Errorf("envelope: JWE enc %q not accepted", enc)
	}
	if len(plaintext) > MaxPlaintext {
		return "", ErrTooLarge
	}
	e, err := jose.NewEncrypter(ce, jose.Recipient{Algorithm: ka, Key: pub, KeyID: kid}, nil)
	if err != nil {
		return "", fmt.Errorf("envelope: %w", err)
	}
	obj, err := e.Encrypt(plaintext)
	if err != nil {
		return "", fmt.Errorf("envelope: %w", err)
	}
	return obj.CompactSerialize()
}

// ParsePublicKeyPEM parses an RSA public key from a PEM "PUBLIC KEY" block
// (SubjectPublicKeyInfo), the form in which apps receive their key.
func ParsePublicKeyPEM(pemBytes []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New(`envelope: no PEM "PUBLIC KEY" block`)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("envelope: public key is %T, not RSA", k)
	}
	return pub, nil
}

// MarshalPublicKeyPEM encodes pub as a PEM "PUBLIC KEY" block (SubjectPublicKeyInfo).
func MarshalPublicKeyPEM(pub *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// Package notify delivers reward notifications to partner apps (contract section 7): a worker
// that takes due rows from the store's outbox, signs each message as Standard Webhooks do,
// posts it, and records the outcome, retrying on a backoff Policy for at least 24 hours.
//
// Delivery is at least once. The store's leases keep several workers, in one process or many
// sharing a PostgreSQL database, from sending one message twice at once; a receiver still sees
// a message again when a worker dies between the receiver's answer and the record of it, so
// receivers deduplicate on webhook-id.
package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every webhook secret the platform hands out: "whsec_" and the base64 of
// the HMAC key.
const SecretPrefix = "whsec_"

// errBadSecret never carries the secret itself: errors end up in logs and in last_error.
var errBadSecret = errors.New("notify: webhook secret is not whsec_ followed by base64")

// secretKey answers the HMAC key of a webhook secret: the base64-decoded text after "whsec_".
// A secret without the prefix is taken as bare base64, as the Standard Webhooks libraries do.
func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errBadSecret
	}
	return key, nil
}

// Sign answers the Standard Webhooks signature of one message: "v1," and the base64 of the
// HMAC-SHA256 of "id.timestamp.body", timestamp being ts in unix seconds and the key the
// secret's decoded bytes. The published Standard Webhooks verifiers accept it unchanged. The
// error, for a malformed secret, does not hold the secret.
func Sign(secret string, id string, ts time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// SignAll answers the webhook-signature header for several secrets: each one's signature, in
// order, separated by spaces. While an app's webhook secret is being rotated both the new and
// the old secret sign, so receivers that know either accept the message. At least one secret
// is needed.
func SignAll(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("notify: no webhook secret")
	}
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		sig, err := Sign(s, id, ts, body)
		if err != nil {
			return "", err
		}
		sigs[i] = sig
	}
	return strings.Join(sigs, " "), nil
}

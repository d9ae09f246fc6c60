package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// KeyCheck answers the master key's check value kept in the database; vsrp.ErrNotFound when
// none was written yet (a new database, or one from before the check existed).
func (s *Store) KeyCheck(ctx context.Context) ([]byte, error) {
	var mac []byte
	err := s.db.QueryRowContext(ctx, `SELECT mac FROM key_check WHERE id = 1`).Scan(&mac)
	return mac, s.wrap(err)
}

// InitKeyCheck keeps mac as the master key's check value unless one is kept already, and
// answers the one kept: another process starting at the same moment may have written its own
// first, which the caller must then compare with its own.
func (s *Store) InitKeyCheck(ctx context.Context, mac []byte, now time.Time) ([]byte, error) {
	if _, err := s.w.ExecContext(ctx, s.q(`INSERT INTO key_check (id, mac, created_at) VALUES (1, ?, ?)
		ON CONFLICT (id) DO NOTHING`), mac, micros(now)); err != nil {
		return nil, s.wrap(err)
	}
	return s.KeyCheck(ctx)
}

// SealedSamples are one sealed value of each kind the database holds, for checking that they
// open under the master key. A kind the database holds none of has its fields empty.
type SealedSamples struct {
	AppID         string // an app and its sealed webhook secret
	WebhookSecret []byte
	KeyID         string // an app key and its sealed private key
	PrivateKey    []byte
	PAN           []byte // a card's sealed PAN
}

// Empty reports whether the database holds no sealed value at all.
func (ss SealedSamples) Empty() bool {
	return ss.AppID == "" && ss.KeyID == "" && ss.PAN == nil
}

// SealedSamples answers an app's webhook secret, an app key's private key and a card's PAN, as
// stored (sealed): any one of each, which costs no scan of a large table.
func (s *Store) SealedSamples(ctx context.Context) (SealedSamples, error) {
	var ss SealedSamples
	for _, q := range []struct {
		stmt string
		dest []any
	}{
		{`SELECT app_id, webhook_secret FROM apps LIMIT 1`, []any{&ss.AppID, &ss.WebhookSecret}},
		{`SELECT key_id, private_key FROM app_keys LIMIT 1`, []any{&ss.KeyID, &ss.PrivateKey}},
		{`SELECT pan_sealed FROM cards LIMIT 1`, []any{&ss.PAN}},
	} {
		if err := s.db.QueryRowContext(ctx, q.stmt).Scan(q.dest...); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return ss, s.wrap(err)
		}
	}
	return ss, nil
}

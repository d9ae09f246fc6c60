package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/vsrp-dev/vsrp"
)

// InsertTokens stores issued tokens (their hashes) in one transaction.
func (s *Store) InsertTokens(ctx context.Context, toks ...*vsrp.Token) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.insertTokens(ctx, tx, toks) })
}

// IssueTokens stores a new token pair of the app unless the app was issued limit pairs
// since the time; it answers false then. Concurrent callers take turns (the app's row is
// locked on PostgreSQL; SQLite writers are serial), so the limit holds across processes.
func (s *Store) IssueTokens(ctx context.Context, appID string, since time.Time, limit int, toks ...*vsrp.Token) (bool, error) {
	return s.IssueTokensForSecret(ctx, appID, "", since, limit, toks...)
}

// ErrSecretChanged is IssueTokensForSecret's answer when the app's secret is no longer the one
// the caller checked: a rotation came between the check and the issue.
var ErrSecretChanged = errors.New("the app's secret changed")

// IssueTokensForSecret is IssueTokens for a caller that checked the appSecret against
// secretHash: in the same transaction, after the app's row is locked, the app's secret must
// still be that one, or it answers ErrSecretChanged and issues nothing. Without this a getToken
// that checked the old secret while a rotation committed would store a pair the rotation never
// saw, whose refresh token would outlive the secret. An empty secretHash checks nothing.
func (s *Store) IssueTokensForSecret(ctx context.Context, appID, secretHash string, since time.Time, limit int, toks ...*vsrp.Token) (bool, error) {
	issued := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		lock := ``
		if s.engine == Postgres {
			lock = ` FOR UPDATE`
		}
		var current string
		err := tx.QueryRowContext(ctx, s.q(`SELECT secret_hash FROM apps WHERE app_id = ?`+lock), appID).Scan(&current)
		if err != nil && !(err == sql.ErrNoRows && secretHash == "") {
			return s.wrap(err)
		}
		if secretHash != "" && current != secretHash {
			return ErrSecretChanged
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(issuedSince), appID, micros(since)).Scan(&n); err != nil {
			return s.wrap(err)
		}
		if n >= limit {
			return nil
		}
		issued = true
		return s.insertTokens(ctx, tx, toks)
	})
	return issued, err
}

func (s *Store) insertTokens(ctx context.Context, tx *sql.Tx, toks []*vsrp.Token) error {
	for _, t := range toks {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO tokens (hash, app_id, kind, family, generation,
			created_at, expires_at, used_at, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0)`),
			t.Hash, t.AppID, string(t.Kind), t.Family, t.Generation, micros(t.CreatedAt), micros(t.ExpiresAt)); err != nil {
			return s.wrap(err)
		}
	}
	return nil
}

// Token reads a token by its hash; vsrp.ErrNotFound when unknown.
func (s *Store) Token(ctx context.Context, hash []byte) (*vsrp.Token, error) {
	var t vsrp.Token
	var kind string
	var created, expires, used, revoked int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT hash, app_id, kind, family, generation, created_at, expires_at, used_at, revoked
		FROM tokens WHERE hash = ?`), hash).Scan(&t.Hash, &t.AppID, &kind, &t.Family, &t.Generation, &created, &expires, &used, &revoked)
	if err != nil {
		return nil, s.wrap(err)
	}
	t.Kind, t.Revoked = vsrp.TokenKind(kind), revoked == 1
	t.CreatedAt, t.ExpiresAt, t.UsedAt = fromMicros(created), fromMicros(expires), fromMicros(used)
	return &t, nil
}

// ExchangeRefresh marks the refresh token used and stores its successors, atomically: of any
// number of concurrent exchanges of one token, exactly one succeeds. It answers false when the
// token was already used or revoked (the caller then revokes its descendants).
func (s *Store) ExchangeRefresh(ctx context.Context, hash []byte, now time.Time, next ...*vsrp.Token) (bool, error) {
	won := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if s.engine == Postgres && len(next) > 0 {
			// Queue behind a secret rotation of the app (SetAppSecrets updates the app's row
			// first): the successors are then either stored before the rotation revokes the
			// app's refresh tokens, or the rotation has revoked this one.
			if _, err := tx.ExecContext(ctx, s.q(`SELECT app_id FROM apps WHERE app_id = ? FOR SHARE`), next[0].AppID); err != nil {
				return s.wrap(err)
			}
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE tokens SET used_at = ? WHERE hash = ? AND kind = 'refresh'
			AND used_at = 0 AND revoked = 0`), micros(now), hash)
		if err != nil {
			return s.wrap(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		won = true
		return s.insertTokens(ctx, tx, next)
	})
	return won, err
}

// RevokeDescendants revokes every token of the family issued after generation gen.
func (s *Store) RevokeDescendants(ctx context.Context, family string, gen int) error {
	_, err := s.w.ExecContext(ctx, s.q(`UPDATE tokens SET revoked = 1 WHERE family = ? AND generation > ?`), family, gen)
	return s.wrap(err)
}

// issuedSince counts the token pairs issued to an app (by getToken, not refreshes) since a time.
const issuedSince = `SELECT COUNT(*) FROM tokens WHERE app_id = ? AND generation = 0 AND kind = 'access' AND created_at > ?`

// CountIssued counts the token pairs that getToken issued to the app since the time.
func (s *Store) CountIssued(ctx context.Context, appID string, since time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(issuedSince), appID, micros(since)).Scan(&n)
	return n, s.wrap(err)
}

// PurgeTokens deletes tokens that expired before the time, and returns how many.
func (s *Store) PurgeTokens(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM tokens WHERE expires_at < ?`), micros(before))
	if err != nil {
		return 0, s.wrap(err)
	}
	return res.RowsAffected()
}

// UseNonce records a replay-protection nonce of the app until expires. It answers false when
// the nonce is already recorded and has not expired.
func (s *Store) UseNonce(ctx context.Context, appID, nonce string, now, expires time.Time) (bool, error) {
	if _, err := s.w.ExecContext(ctx, s.q(`DELETE FROM nonces WHERE app_id = ? AND nonce = ? AND expires_at < ?`),
		appID, nonce, micros(now)); err != nil {
		return false, s.wrap(err)
	}
	res, err := s.w.ExecContext(ctx, s.q(`INSERT INTO nonces (app_id, nonce, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (app_id, nonce) DO NOTHING`), appID, nonce, micros(expires))
	if err != nil {
		return false, s.wrap(err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

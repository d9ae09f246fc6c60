package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/netip"
	"strings"
	"time"

	"github.com/vsrp-dev/vsrp"
)

const appColumns = `app_id, name, secret_hash, scopes, ip_whitelist, notify_url, bids, enabled,
	replay_protection, webhook_secret, webhook_secret_old, webhook_old_until, created_at, updated_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanApp(r rowScanner) (*vsrp.App, error) {
	var a vsrp.App
	var scopes, wl, bids string
	var enabled, replay, oldUntil, created, updated int64
	if err := r.Scan(&a.ID, &a.Name, &a.SecretHash, &scopes, &wl, &a.NotifyURL, &bids, &enabled,
		&replay, &a.WebhookSecret, &a.WebhookSecretOld, &oldUntil, &created, &updated); err != nil {
		return nil, err
	}
	a.Scopes = strings.Fields(scopes)
	var cidrs []string
	if err := json.Unmarshal([]byte(wl), &cidrs); err != nil {
		return nil, err
	}
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, err
		}
		a.IPWhitelist = append(a.IPWhitelist, p)
	}
	if err := json.Unmarshal([]byte(bids), &a.BIDs); err != nil {
		return nil, err
	}
	a.Enabled, a.ReplayProtection = enabled == 1, replay == 1
	a.WebhookOldUntil, a.CreatedAt, a.UpdatedAt = fromMicros(oldUntil), fromMicros(created), fromMicros(updated)
	return &a, nil
}

func appArgs(a *vsrp.App) []any {
	cidrs := make([]string, len(a.IPWhitelist))
	for i, p := range a.IPWhitelist {
		cidrs[i] = p.String()
	}
	wl, _ := json.Marshal(cidrs)
	bids := a.BIDs
	if bids == nil {
		bids = []string{}
	}
	bj, _ := json.Marshal(bids)
	return []any{a.ID, a.Name, a.SecretHash, strings.Join(a.Scopes, " "), string(wl), a.NotifyURL, string(bj),
		b2i(a.Enabled), b2i(a.ReplayProtection), a.WebhookSecret, a.WebhookSecretOld, micros(a.WebhookOldUntil),
		micros(a.CreatedAt), micros(a.UpdatedAt)}
}

// CreateApp stores a new app with its first key and its campaign grants.
func (s *Store) CreateApp(ctx context.Context, a *vsrp.App, key *vsrp.AppKey) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO apps (`+appColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), appArgs(a)...); err != nil {
			return s.wrap(err)
		}
		if err := s.setGrants(ctx, tx, a.ID, a.CampaignIDs); err != nil {
			return err
		}
		return s.insertKey(ctx, tx, key)
	})
}

// UpdateApp replaces the app's settings and grants (not its secrets or keys).
func (s *Store) UpdateApp(ctx context.Context, a *vsrp.App) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		args := appArgs(a)
		res, err := tx.ExecContext(ctx, s.q(`UPDATE apps SET name = ?, scopes = ?, ip_whitelist = ?, notify_url = ?,
			bids = ?, enabled = ?, replay_protection = ?, updated_at = ? WHERE app_id = ?`),
			args[1], args[3], args[4], args[5], args[6], args[7], args[8], args[13], a.ID)
		if err != nil {
			return s.wrap(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return vsrp.ErrNotFound
		}
		return s.setGrants(ctx, tx, a.ID, a.CampaignIDs)
	})
}

// SetAppSecrets replaces the app's secret hash and webhook secrets and, in the same
// transaction, revokes the app's refresh tokens: whoever got tokens with the old secret keeps
// them until the access token expires, and can renew none. replaced is the (sealed) webhook
// secret the caller read: while another change came between, nothing is written and the
// answer is vsrp.ErrConflict (read again), so that no rotation overwrites another unseen.
func (s *Store) SetAppSecrets(ctx context.Context, a *vsrp.App, replaced []byte) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE apps SET secret_hash = ?, webhook_secret = ?,
			webhook_secret_old = ?, webhook_old_until = ?, updated_at = ? WHERE app_id = ? AND webhook_secret = ?`),
			a.SecretHash, a.WebhookSecret, a.WebhookSecretOld, micros(a.WebhookOldUntil), micros(a.UpdatedAt), a.ID, replaced)
		if err != nil {
			return s.wrap(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM apps WHERE app_id = ?`), a.ID).Scan(&one); err != nil {
				return s.wrap(err) // sql.ErrNoRows: vsrp.ErrNotFound
			}
			return vsrp.ErrConflict
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE tokens SET revoked = 1 WHERE app_id = ? AND kind = 'refresh' AND revoked = 0`), a.ID)
		return s.wrap(err)
	})
}

func (s *Store) setGrants(ctx context.Context, tx *sql.Tx, appID string, campaignIDs []string) error {
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM app_campaigns WHERE app_id = ?`), appID); err != nil {
		return s.wrap(err)
	}
	for _, c := range campaignIDs {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO app_campaigns (app_id, campaign_id) VALUES (?, ?)
			ON CONFLICT (app_id, campaign_id) DO NOTHING`), appID, c); err != nil {
			return s.wrap(err)
		}
	}
	return nil
}

// App reads one app with its grants; vsrp.ErrNotFound when there is none.
func (s *Store) App(ctx context.Context, id string) (*vsrp.App, error) {
	a, err := scanApp(s.db.QueryRowContext(ctx, s.q(`SELECT `+appColumns+` FROM apps WHERE app_id = ?`), id))
	if err != nil {
		return nil, s.wrap(err)
	}
	if a.CampaignIDs, err = s.grants(ctx, id); err != nil {
		return nil, err
	}
	return a, nil
}

func (s *Store) grants(ctx context.Context, appID string) ([]string, error) {
	ids, err := collectStrings(s.db.QueryContext(ctx, s.q(`SELECT campaign_id FROM app_campaigns WHERE app_id = ? ORDER BY campaign_id`), appID))
	if ids == nil && err == nil {
		ids = []string{}
	}
	return ids, s.wrap(err)
}

// Apps lists every app, oldest first.
func (s *Store) Apps(ctx context.Context) ([]*vsrp.App, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+appColumns+` FROM apps ORDER BY created_at, app_id`)
	if err != nil {
		return nil, s.wrap(err)
	}
	var apps []*vsrp.App
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		apps = append(apps, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, a := range apps {
		if a.CampaignIDs, err = s.grants(ctx, a.ID); err != nil {
			return nil, err
		}
	}
	return apps, nil
}

func (s *Store) insertKey(ctx context.Context, q querier, k *vsrp.AppKey) error {
	_, err := q.ExecContext(ctx, s.q(`INSERT INTO app_keys (key_id, app_id, private_key, public_pem, created_at, retired_at)
		VALUES (?, ?, ?, ?, ?, ?)`), k.ID, k.AppID, k.PrivateKey, k.PublicPEM, micros(k.CreatedAt), micros(k.RetiredAt))
	return s.wrap(err)
}

// RotateKey makes k the app's current key and retires the current one at k.CreatedAt.
// Concurrent rotations of one app queue on the app's row, so exactly one key stays current.
func (s *Store) RotateKey(ctx context.Context, k *vsrp.AppKey) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE apps SET updated_at = updated_at WHERE app_id = ?`), k.AppID); err != nil {
			return s.wrap(err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE app_keys SET retired_at = ? WHERE app_id = ? AND retired_at = 0`),
			micros(k.CreatedAt), k.AppID); err != nil {
			return s.wrap(err)
		}
		return s.insertKey(ctx, tx, k)
	})
}

// AppKeys lists the app's keys retired at or after since (and the current one), the current
// key first, then the most recently retired.
func (s *Store) AppKeys(ctx context.Context, appID string, since time.Time) ([]*vsrp.AppKey, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT key_id, app_id, private_key, public_pem, created_at, retired_at
		FROM app_keys WHERE app_id = ? AND (retired_at = 0 OR retired_at >= ?)
		ORDER BY retired_at = 0 DESC, retired_at DESC`), appID, micros(since))
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var keys []*vsrp.AppKey
	for rows.Next() {
		var k vsrp.AppKey
		var created, retired int64
		if err := rows.Scan(&k.ID, &k.AppID, &k.PrivateKey, &k.PublicPEM, &created, &retired); err != nil {
			return nil, err
		}
		k.CreatedAt, k.RetiredAt = fromMicros(created), fromMicros(retired)
		keys = append(keys, &k)
	}
	return keys, rows.Err()
}

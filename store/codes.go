package store

import (
	"context"
	"time"

	"github.com/vsrp-dev/vsrp"
)

// AddCodes adds coupon codes to an offer's pool; a code already in the pool is not added twice.
// It answers how many were added.
func (s *Store) AddCodes(ctx context.Context, offerID string, items []vsrp.RewardItem, now time.Time) (int, error) {
	added := 0
	err := s.WriteTx(ctx, func(t *Tx) error {
		added = 0
		for _, it := range items {
			res, err := t.exec(`INSERT INTO coupon_codes (offer_id, code, type, expired_at, added_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (offer_id, code) DO NOTHING`, offerID, it.Code, it.Type, micros(it.ExpiredAt), micros(now))
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			added += int(n)
		}
		return nil
	})
	return added, err
}

// TakeCodes hands n free codes of the offer's pool to the reward, oldest first, as its items
// (status ISSUED); a code whose own expiry has come is never handed out. It answers false,
// taking none, when fewer than n are free. Concurrent takers never get the same code: on
// PostgreSQL rows another taker holds are skipped.
func (t *Tx) TakeCodes(offerID, rewardID string, n int, now time.Time) (bool, error) {
	lock := ""
	if t.s.engine == Postgres {
		lock = ` FOR UPDATE SKIP LOCKED`
	}
	rows, err := t.query(`SELECT code, type, expired_at FROM coupon_codes WHERE offer_id = ? AND reward_id = ''
		AND (expired_at = 0 OR expired_at > ?) ORDER BY added_at, code LIMIT ?`+lock, offerID, micros(now), n)
	if err != nil {
		return false, err
	}
	var picked []vsrp.RewardItem
	for rows.Next() {
		var it vsrp.RewardItem
		var exp int64
		if err := rows.Scan(&it.Code, &it.Type, &exp); err != nil {
			rows.Close()
			return false, err
		}
		it.ExpiredAt = fromMicros(exp)
		picked = append(picked, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	if len(picked) < n {
		return false, nil
	}
	for i, it := range picked {
		res, err := t.exec(`UPDATE coupon_codes SET reward_id = ?, assigned_at = ? WHERE offer_id = ? AND code = ? AND reward_id = ''`,
			rewardID, micros(now), offerID, it.Code)
		if err != nil {
			return false, err
		}
		if c, _ := res.RowsAffected(); c != 1 {
			return false, vsrp.ErrConflict // taken meanwhile: the caller's transaction must not commit
		}
		if _, err := t.exec(`INSERT INTO reward_items (reward_id, seq, type, code, status, expired_at, settled_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, rewardID, i, it.Type, it.Code, vsrp.ItemIssued, micros(it.ExpiredAt), micros(now)); err != nil {
			return false, err
		}
	}
	return true, nil
}

// Recipient is an app to notify of a reward.
type Recipient struct {
	AppID     string
	NotifyURL string
}

// Recipients lists the enabled apps with a notification URL that are granted the campaign and
// have one of the reward's cards bound to a user, except the app named by except.
func (t *Tx) Recipients(rewardID, campaignID, except string) ([]Recipient, error) {
	rows, err := t.query(`SELECT DISTINCT a.app_id, a.notify_url FROM apps a
		JOIN app_campaigns ac ON ac.app_id = a.app_id AND ac.campaign_id = ?
		JOIN bindings g ON g.app_id = a.app_id
		JOIN reward_cards rc ON rc.card_id = g.card_id AND rc.reward_id = ?
		WHERE a.notify_url <> '' AND a.enabled = 1 AND a.app_id <> ? ORDER BY a.app_id`, campaignID, rewardID, except)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Recipient
	for rows.Next() {
		var r Recipient
		if err := rows.Scan(&r.AppID, &r.NotifyURL); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// RedeemItems marks a reward's issued items redeemed.
func (t *Tx) RedeemItems(rewardID string, now time.Time) error {
	_, err := t.exec(`UPDATE reward_items SET status = ?, redeemed_at = ? WHERE reward_id = ? AND status = ?`,
		vsrp.ItemRedeemed, micros(now), rewardID, vsrp.ItemIssued)
	return err
}

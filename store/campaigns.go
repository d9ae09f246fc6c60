package store

import (
	"context"
	"database/sql"
	"time"
)

// CampaignDoc is one applied version of a campaign document.
type CampaignDoc struct {
	CampaignID string
	Version    int
	Doc        []byte // JSON
	AppliedAt  time.Time
}

// PutCampaign stores doc as the campaign's next version, unless it equals the current one.
// It answers the current version and whether it changed.
func (s *Store) PutCampaign(ctx context.Context, id string, doc []byte, now time.Time) (version int, changed bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var cur []byte
		e := tx.QueryRowContext(ctx, s.q(`SELECT version, doc FROM campaigns WHERE campaign_id = ?`), id).Scan(&version, &cur)
		switch {
		case e == sql.ErrNoRows:
			version = 1
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO campaigns (campaign_id, version, doc, created_at, updated_at)
				VALUES (?, 1, ?, ?, ?)`), id, string(doc), micros(now), micros(now)); err != nil {
				return s.wrap(err)
			}
		case e != nil:
			return s.wrap(e)
		case string(cur) == string(doc):
			return nil
		default:
			version++
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE campaigns SET version = ?, doc = ?, updated_at = ? WHERE campaign_id = ?`),
				version, string(doc), micros(now), id); err != nil {
				return s.wrap(err)
			}
		}
		changed = true
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO campaign_versions (campaign_id, version, doc, applied_at) VALUES (?, ?, ?, ?)`),
			id, version, string(doc), micros(now))
		return s.wrap(err)
	})
	return version, changed, err
}

// Campaign reads the campaign's document: the current one for version 0, else that version.
func (s *Store) Campaign(ctx context.Context, id string, version int) (*CampaignDoc, error) {
	d := CampaignDoc{CampaignID: id}
	var doc string
	var at int64
	var err error
	if version == 0 {
		err = s.db.QueryRowContext(ctx, s.q(`SELECT version, doc, updated_at FROM campaigns WHERE campaign_id = ?`), id).Scan(&d.Version, &doc, &at)
	} else {
		err = s.db.QueryRowContext(ctx, s.q(`SELECT version, doc, applied_at FROM campaign_versions WHERE campaign_id = ? AND version = ?`),
			id, version).Scan(&d.Version, &doc, &at)
	}
	if err != nil {
		return nil, s.wrap(err)
	}
	d.Doc, d.AppliedAt = []byte(doc), fromMicros(at)
	return &d, nil
}

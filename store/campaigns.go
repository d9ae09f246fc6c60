package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vsrp-dev/vsrp"
)

// CampaignDoc is one applied version of a campaign document.
type CampaignDoc struct {
	CampaignID string
	Version    int
	Doc        []byte // JSON
	AppliedAt  time.Time
	// EvaluatedVersion is the version whose rules the rewards of open bills follow (current
	// documents only): behind Version until the change was re-evaluated.
	EvaluatedVersion int
}

// ApplyCampaign stores the campaign c, whose document is doc, as its next version, unless doc
// equals the current version; in the same transaction it brings the campaign's enrollment
// groups and offers in line with c. Removing a group that has enrollments answers
// vsrp.ErrConflict and changes nothing. It answers the current version and whether it changed.
func (s *Store) ApplyCampaign(ctx context.Context, c *vsrp.Campaign, doc []byte, now time.Time) (version int, changed bool, err error) {
	return s.ApplyCampaignUngenerated(ctx, c, doc, now, nil)
}

// ApplyCampaignUngenerated is ApplyCampaign for a document whose changes the caller allowed
// because none of the offers (ids) had a generated bill: once it holds their rows (the turn
// bill generation takes), a bill of theirs generated since answers vsrp.ErrConflict and the
// document is not stored.
func (s *Store) ApplyCampaignUngenerated(ctx context.Context, c *vsrp.Campaign, doc []byte, now time.Time,
	offers []string) (version int, changed bool, err error) {
	id := c.CampaignID
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		// The upsert takes the campaign's row lock first, so that concurrent applies of one
		// campaign queue instead of racing (version 0 marks a row this transaction created).
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO campaigns (campaign_id, version, doc, created_at, updated_at)
			VALUES (?, 0, '', ?, ?) ON CONFLICT (campaign_id) DO UPDATE SET version = campaigns.version`),
			id, micros(now), micros(now)); err != nil {
			return s.wrap(err)
		}
		var cur string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT version, doc FROM campaigns WHERE campaign_id = ?`), id).Scan(&version, &cur); err != nil {
			return s.wrap(err)
		}
		if version > 0 && cur == string(doc) {
			return nil
		}
		version++
		// A first version has no rewards to re-evaluate.
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE campaigns SET version = ?, doc = ?, updated_at = ?,
			evaluated_version = CASE WHEN ? = 1 THEN 1 ELSE evaluated_version END WHERE campaign_id = ?`),
			version, string(doc), micros(now), version, id); err != nil {
			return s.wrap(err)
		}
		changed = true
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO campaign_versions (campaign_id, version, doc, applied_at) VALUES (?, ?, ?, ?)`),
			id, version, string(doc), micros(now)); err != nil {
			return s.wrap(err)
		}
		if err := s.applyGroups(ctx, tx, c); err != nil {
			return err
		}
		if err := s.applyOffers(ctx, tx, c); err != nil {
			return err
		}
		if len(offers) == 0 {
			return nil
		}
		var generated string
		err := tx.QueryRowContext(ctx, s.q(`SELECT offer_id FROM bills WHERE status <> 0 AND offer_id IN `+inList(len(offers))+` LIMIT 1`),
			strs(offers)...).Scan(&generated)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return s.wrap(err)
		}
		return fmt.Errorf("%w: offer %s had a bill generated while the change was applied: its match, goal, reward, billing period "+
			"and the campaign's dates, timezone and currency can no longer change as the document says", vsrp.ErrConflict, generated)
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
		err = s.db.QueryRowContext(ctx, s.q(`SELECT version, doc, updated_at, evaluated_version FROM campaigns WHERE campaign_id = ?`),
			id).Scan(&d.Version, &doc, &at, &d.EvaluatedVersion)
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

// MarkEvaluated records that the rewards of the campaign's open bills follow its version.
func (s *Store) MarkEvaluated(ctx context.Context, id string, version int) error {
	_, err := s.w.ExecContext(ctx, s.q(`UPDATE campaigns SET evaluated_version = ? WHERE campaign_id = ? AND evaluated_version < ?`),
		version, id, version)
	return s.wrap(err)
}

// UnevaluatedCampaigns lists the campaigns whose last change was not re-evaluated yet.
func (s *Store) UnevaluatedCampaigns(ctx context.Context) ([]string, error) {
	ids, err := idsOf(ctx, s.db, s.q(`SELECT campaign_id FROM campaigns WHERE evaluated_version < version ORDER BY campaign_id`))
	return ids, s.wrap(err)
}

func (s *Store) applyGroups(ctx context.Context, tx *sql.Tx, c *vsrp.Campaign) error {
	existing, err := idsOf(ctx, tx, s.q(`SELECT group_id FROM enrollment_groups WHERE campaign_id = ?`), c.CampaignID)
	if err != nil {
		return s.wrap(err)
	}
	for _, id := range existing {
		if slices.ContainsFunc(c.EnrollmentGroups, func(g vsrp.EnrollmentGroup) bool { return g.EnrollmentGroupID == id }) {
			continue
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM enrollments WHERE group_id = ?`), id).Scan(&n); err != nil {
			return s.wrap(err)
		}
		if n > 0 {
			return fmt.Errorf("%w: enrollment group %s has %d enrollments and cannot be removed", vsrp.ErrConflict, id, n)
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM enrollment_groups WHERE group_id = ?`), id); err != nil {
			return s.wrap(err)
		}
	}
	for _, g := range c.EnrollmentGroups {
		elig, _ := json.Marshal(g.Eligibility)
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO enrollment_groups (group_id, campaign_id, name, enroll_start, enroll_end,
			capacity, eligibility, enrolled) VALUES (?, ?, ?, ?, ?, ?, ?, 0)
			ON CONFLICT (group_id) DO UPDATE SET name = excluded.name, enroll_start = excluded.enroll_start,
			enroll_end = excluded.enroll_end, capacity = excluded.capacity, eligibility = excluded.eligibility
			WHERE enrollment_groups.campaign_id = excluded.campaign_id`),
			g.EnrollmentGroupID, c.CampaignID, g.Name, micros(g.EnrollStart), micros(g.EnrollEnd), g.Capacity, string(elig))
		if err != nil {
			return s.wrap(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: enrollment group id %s belongs to another campaign", vsrp.ErrConflict, g.EnrollmentGroupID)
		}
	}
	return nil
}

func (s *Store) applyOffers(ctx context.Context, tx *sql.Tx, c *vsrp.Campaign) error {
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM offers WHERE campaign_id = ?`), c.CampaignID); err != nil {
		return s.wrap(err)
	}
	for _, o := range c.Offers {
		doc, _ := json.Marshal(o)
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO offers (offer_id, campaign_id, doc) VALUES (?, ?, ?)`),
			o.OfferID, c.CampaignID, string(doc)); err != nil {
			err = s.wrap(err)
			if errors.Is(err, vsrp.ErrConflict) {
				return fmt.Errorf("%w: offer id %s belongs to another campaign", vsrp.ErrConflict, o.OfferID)
			}
			return err
		}
	}
	return nil
}

func idsOf(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	return collectStrings(q.QueryContext(ctx, query, args...))
}

// collectStrings answers the single string column of rows, and closes them.
func collectStrings(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// IDOwners answers, for each of the enrollment group and offer ids that already exist, the
// campaign that owns it.
func (s *Store) IDOwners(ctx context.Context, groupIDs, offerIDs []string) (groups, offers map[string]string, err error) {
	groups, offers = map[string]string{}, map[string]string{}
	for _, id := range groupIDs {
		var owner string
		err := s.db.QueryRowContext(ctx, s.q(`SELECT campaign_id FROM enrollment_groups WHERE group_id = ?`), id).Scan(&owner)
		if err == nil {
			groups[id] = owner
		} else if err != sql.ErrNoRows {
			return nil, nil, s.wrap(err)
		}
	}
	for _, id := range offerIDs {
		var owner string
		err := s.db.QueryRowContext(ctx, s.q(`SELECT campaign_id FROM offers WHERE offer_id = ?`), id).Scan(&owner)
		if err == nil {
			offers[id] = owner
		} else if err != sql.ErrNoRows {
			return nil, nil, s.wrap(err)
		}
	}
	return groups, offers, nil
}

package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/vsrp-dev/vsrp"
)

// Group is a stored enrollment group with its campaign and how many cards it holds.
type Group struct {
	vsrp.EnrollmentGroup
	CampaignID string
	Enrolled   int64
}

// ErrFull is returned by Enroll when the group's capacity is reached.
var ErrFull = errors.New("enrollment group full")

// Group reads an enrollment group; vsrp.ErrNotFound when unknown.
func (s *Store) Group(ctx context.Context, id string) (*Group, error) {
	var g Group
	var start, end int64
	var elig string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT group_id, campaign_id, name, enroll_start, enroll_end, capacity, eligibility, enrolled
		FROM enrollment_groups WHERE group_id = ?`), id).Scan(&g.EnrollmentGroupID, &g.CampaignID, &g.Name, &start, &end,
		&g.Capacity, &elig, &g.Enrolled)
	if err != nil {
		return nil, s.wrap(err)
	}
	g.EnrollStart, g.EnrollEnd = fromMicros(start), fromMicros(end)
	if err := json.Unmarshal([]byte(elig), &g.Eligibility); err != nil {
		return nil, err
	}
	return &g, nil
}

// Enroll enrolls e.CardID into e.GroupID. When the card is already enrolled it answers the
// first enrollment and true, changing nothing. Otherwise it takes one place of the group's
// capacity in the same transaction, so that a capacity is never exceeded, whatever the
// concurrency, also across processes sharing the database; a full group answers ErrFull.
func (s *Store) Enroll(ctx context.Context, e *vsrp.Enrollment) (*vsrp.Enrollment, bool, error) {
	inserted := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var ext any
		if e.ExtendedData != nil {
			ext = string(e.ExtendedData)
		}
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO enrollments (enrollment_id, group_id, campaign_id, card_id, app_id,
			extended_data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (group_id, card_id) DO NOTHING`),
			e.ID, e.GroupID, e.CampaignID, e.CardID, e.AppID, ext, micros(e.CreatedAt))
		if err != nil {
			return s.wrap(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // already enrolled
		}
		res, err = tx.ExecContext(ctx, s.q(`UPDATE enrollment_groups SET enrolled = enrolled + 1
			WHERE group_id = ? AND (capacity = 0 OR enrolled < capacity)`), e.GroupID)
		if err != nil {
			return s.wrap(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrFull
		}
		inserted = true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if inserted {
		return e, false, nil
	}
	first, err := s.Enrollment(ctx, e.GroupID, e.CardID)
	return first, true, err
}

const enrollmentColumns = `enrollment_id, group_id, campaign_id, card_id, app_id, extended_data, created_at`

func scanEnrollment(r rowScanner) (*vsrp.Enrollment, error) {
	var e vsrp.Enrollment
	var ext sql.NullString
	var created int64
	if err := r.Scan(&e.ID, &e.GroupID, &e.CampaignID, &e.CardID, &e.AppID, &ext, &created); err != nil {
		return nil, err
	}
	if ext.Valid {
		e.ExtendedData = []byte(ext.String)
	}
	e.CreatedAt = fromMicros(created)
	return &e, nil
}

// Enrollment reads the card's enrollment in the group; vsrp.ErrNotFound when there is none.
func (s *Store) Enrollment(ctx context.Context, groupID, cardID string) (*vsrp.Enrollment, error) {
	e, err := scanEnrollment(s.db.QueryRowContext(ctx, s.q(`SELECT `+enrollmentColumns+` FROM enrollments
		WHERE group_id = ? AND card_id = ?`), groupID, cardID))
	if err != nil {
		return nil, s.wrap(err)
	}
	return e, nil
}

// UserEnrollments lists the group's enrollments of the cards bound to the app's user, newest
// first.
func (s *Store) UserEnrollments(ctx context.Context, appID, vuid, groupID string) ([]*vsrp.Enrollment, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT e.enrollment_id, e.group_id, e.campaign_id, e.card_id, e.app_id,
		e.extended_data, e.created_at FROM enrollments e JOIN bindings b ON b.card_id = e.card_id
		WHERE b.app_id = ? AND b.vuid = ? AND e.group_id = ? ORDER BY e.created_at DESC, e.enrollment_id`), appID, vuid, groupID)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []*vsrp.Enrollment
	for rows.Next() {
		e, err := scanEnrollment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// CardEnrolledOutside reports whether the card is enrolled in a campaign other than
// campaignIDs.
func (s *Store) CardEnrolledOutside(ctx context.Context, cardID string, campaignIDs []string) (bool, error) {
	query, args := `SELECT COUNT(*) FROM enrollments WHERE card_id = ?`, []any{cardID}
	if len(campaignIDs) > 0 {
		query += ` AND campaign_id NOT IN ` + inList(len(campaignIDs))
		args = append(args, strs(campaignIDs)...)
	}
	var n int
	err := s.db.QueryRowContext(ctx, s.q(query), args...).Scan(&n)
	return n > 0, s.wrap(err)
}

// EnrolledCards lists, in card id order, up to limit cards enrolled in the campaign whose id
// sorts after after.
func (s *Store) EnrolledCards(ctx context.Context, campaignID, after string, limit int) ([]string, error) {
	ids, err := collectStrings(s.db.QueryContext(ctx, s.q(`SELECT DISTINCT card_id FROM enrollments WHERE campaign_id = ? AND card_id > ?
		ORDER BY card_id LIMIT ?`), campaignID, after, limit))
	return ids, s.wrap(err)
}

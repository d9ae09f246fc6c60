package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vsrp-dev/vsrp"
)

// The statuses of a notification.
const (
	NotificationPending   = "pending"   // waiting for its next attempt, or being attempted
	NotificationDelivered = "delivered" // the receiver accepted it
	NotificationFailed    = "failed"    // given up; an operator may redeliver it
)

// ErrLeaseLost answers Mark* when the caller no longer holds the notification: its lease
// expired, another worker claimed the row since, or an operator redelivered it. The result of
// the attempt is not recorded. It wraps vsrp.ErrConflict.
var ErrLeaseLost = fmt.Errorf("%w: notification lease lost", vsrp.ErrConflict)

// Notification is one webhook message to an app (contract section 7) and the state of its
// delivery. Times are kept to the microsecond.
type Notification struct {
	ID       string // the Standard Webhooks webhook-id, the same on every attempt
	AppID    string
	RewardID string
	URL      string // the app's notifyUrl when the notification was written
	Body     string // the JSON body, {"rewardId":"..."}
	Status   string // NotificationPending, NotificationDelivered or NotificationFailed

	// Attempts counts the attempts started over the notification's life (ClaimDue counts
	// one); it never decreases, and Mark* take it back as proof that the caller's claim is
	// the latest. BaseAttempts is what Attempts was when the current retry schedule began: 0,
	// or its value at the last Redeliver. Attempts-BaseAttempts numbers the attempts of the
	// current schedule from 1.
	Attempts     int
	BaseAttempts int

	NextAttemptAt  time.Time // due from then, while pending
	LeaseUntil     time.Time // the worker that claimed it holds it until then; zero when free
	FirstAttemptAt time.Time // first claim of the current schedule; zero before it
	LastError      string    // why the last attempt failed; never secrets, signatures or the body
	LastStatus     int       // HTTP status of the last attempt; 0 when no response came back
	CreatedAt      time.Time
	DeliveredAt    time.Time // when last delivered; zero if never
	UpdatedAt      time.Time
}

const notificationColumns = `id, app_id, reward_id, url, body, status, attempts, base_attempts, next_attempt_at,
	lease_until, first_attempt_at, last_error, last_status, created_at, delivered_at, updated_at`

func scanNotification(r rowScanner) (*Notification, error) {
	var n Notification
	var next, lease, first, created, delivered, updated int64
	if err := r.Scan(&n.ID, &n.AppID, &n.RewardID, &n.URL, &n.Body, &n.Status, &n.Attempts, &n.BaseAttempts, &next,
		&lease, &first, &n.LastError, &n.LastStatus, &created, &delivered, &updated); err != nil {
		return nil, err
	}
	n.NextAttemptAt, n.LeaseUntil, n.FirstAttemptAt = fromMicros(next), fromMicros(lease), fromMicros(first)
	n.CreatedAt, n.DeliveredAt, n.UpdatedAt = fromMicros(created), fromMicros(delivered), fromMicros(updated)
	return &n, nil
}

// NewNotificationID answers a fresh webhook-id: "msg_" and 128 random bits.
func NewNotificationID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return "msg_" + base64.RawURLEncoding.EncodeToString(b)
}

// NotificationBody answers the JSON body of the notification of a reward: {"rewardId":"..."}.
func NotificationBody(rewardID string) string {
	b, _ := json.Marshal(struct {
		RewardID string `json:"rewardId"`
	}{rewardID}) // a struct of one string always marshals
	return string(b)
}

// Enqueue writes a notification in the transaction, so that it exists exactly when the
// change that causes it commits (the outbox pattern). AppID, RewardID, URL and CreatedAt are
// required. Empty fields are filled in, and n is updated to what was stored: ID with
// NewNotificationID, Body with NotificationBody(RewardID), Status with NotificationPending,
// NextAttemptAt with CreatedAt (due at once); UpdatedAt is CreatedAt. Attempts and leases
// start at zero. A notification with an existing ID answers vsrp.ErrConflict.
func (t *Tx) Enqueue(n *Notification) error {
	if n.AppID == "" || n.RewardID == "" || n.URL == "" || n.CreatedAt.IsZero() {
		return errors.New("store: Enqueue needs AppID, RewardID, URL and CreatedAt")
	}
	if n.ID == "" {
		n.ID = NewNotificationID()
	}
	if n.Body == "" {
		n.Body = NotificationBody(n.RewardID)
	}
	if n.Status == "" {
		n.Status = NotificationPending
	}
	if n.NextAttemptAt.IsZero() {
		n.NextAttemptAt = n.CreatedAt
	}
	n.Attempts, n.BaseAttempts, n.LeaseUntil, n.FirstAttemptAt, n.DeliveredAt = 0, 0, time.Time{}, time.Time{}, time.Time{}
	n.UpdatedAt = n.CreatedAt
	_, err := t.exec(`INSERT INTO notifications (id, app_id, reward_id, url, body, status, next_attempt_at, last_error,
		last_status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.ID, n.AppID, n.RewardID, n.URL, n.Body, n.Status, micros(n.NextAttemptAt), n.LastError, n.LastStatus,
		micros(n.CreatedAt), micros(n.UpdatedAt))
	return err
}

// ClaimDue takes up to limit pending notifications that are due at now (next_attempt_at <=
// now) and not held by another worker (lease_until <= now), oldest due first, and holds them
// until now+lease: no other ClaimDue on this database answers them before then. Each claim
// counts an attempt (Attempts grows by one) and starts the schedule's clock (FirstAttemptAt)
// when it had not started. The answered notifications show the claim.
//
// It is safe for concurrent use by several processes: on PostgreSQL the rows are locked FOR
// UPDATE SKIP LOCKED, so concurrent claimers take disjoint rows without waiting for one
// another; SQLite has one writer at a time and the statement is a transaction of its own.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*Notification, error) {
	if limit <= 0 {
		return nil, nil
	}
	if lease <= 0 {
		return nil, errors.New("store: ClaimDue needs a positive lease")
	}
	// The literal 'pending' (not a parameter) lets both planners use the partial index
	// notifications_due, whose order is the ORDER BY: a claim reads about limit index entries
	// however many rows are due. SQLite's planner, without statistics, would rather take the
	// status index and sort every due row, so it is told.
	from, lock := `notifications INDEXED BY notifications_due`, ""
	if s.engine == Postgres {
		from, lock = `notifications`, ` FOR UPDATE SKIP LOCKED`
	}
	rows, err := s.w.QueryContext(ctx, s.q(`UPDATE notifications SET lease_until = ?, attempts = attempts + 1,
		first_attempt_at = CASE WHEN first_attempt_at = 0 THEN ? ELSE first_attempt_at END, updated_at = ?
		WHERE id IN (SELECT id FROM `+from+` WHERE status = 'pending' AND next_attempt_at <= ? AND lease_until <= ?
			ORDER BY next_attempt_at, id LIMIT ?`+lock+`)
		RETURNING `+notificationColumns),
		micros(now.Add(lease)), micros(now), micros(now), micros(now), micros(now), limit)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []*Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, s.wrap(err)
		}
		out = append(out, n)
	}
	return out, s.wrap(rows.Err())
}

// markHeld runs an update of a notification that the caller claimed with ClaimDue and still
// holds: the row's Attempts is still the caller's (no later claim), it was not redelivered
// since (Redeliver zeroes first_attempt_at, which every claim sets) and its lease has not
// expired at now. Anything else answers ErrLeaseLost and changes nothing.
func (s *Store) markHeld(ctx context.Context, set string, id string, attempts int, now time.Time, args ...any) error {
	args = append(args, id, attempts, micros(now))
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE notifications SET `+set+`
		WHERE id = ? AND attempts = ? AND status = 'pending' AND lease_until > ? AND first_attempt_at <> 0`), args...)
	if err != nil {
		return s.wrap(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.wrap(err)
	} else if n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// MarkDelivered records that the attempt numbered attempts (the claimed notification's
// Attempts) was accepted with httpStatus at now: the notification is delivered and its lease
// released. ErrLeaseLost when the caller no longer holds it.
func (s *Store) MarkDelivered(ctx context.Context, id string, attempts, httpStatus int, now time.Time) error {
	return s.markHeld(ctx, `status = 'delivered', lease_until = 0, last_status = ?, last_error = '', delivered_at = ?,
		updated_at = ?`, id, attempts, now, httpStatus, micros(now), micros(now))
}

// MarkRetry records that the attempt numbered attempts failed at now (httpStatus 0 when no
// response came back; errText says why and must hold no secret) and that the notification is
// due again at nextAt; its lease is released. ErrLeaseLost when the caller no longer holds it.
func (s *Store) MarkRetry(ctx context.Context, id string, attempts int, nextAt time.Time, httpStatus int, errText string,
	now time.Time) error {
	return s.markHeld(ctx, `next_attempt_at = ?, lease_until = 0, last_status = ?, last_error = ?, updated_at = ?`,
		id, attempts, now, micros(nextAt), httpStatus, errText, micros(now))
}

// MarkFailed records that the attempt numbered attempts failed at now and that no more will
// be made: the notification is failed (operators see it and may Redeliver) and its lease
// released. ErrLeaseLost when the caller no longer holds it.
func (s *Store) MarkFailed(ctx context.Context, id string, attempts, httpStatus int, errText string, now time.Time) error {
	return s.markHeld(ctx, `status = 'failed', lease_until = 0, last_status = ?, last_error = ?, updated_at = ?`,
		id, attempts, now, httpStatus, errText, micros(now))
}

// ListNotifications answers one page of the notifications in status (all of them when status
// is ""), newest first, and how many there are in all. limit is clamped to 1…1000 (0 means
// 100); offset counts from 0.
func (s *Store) ListNotifications(ctx context.Context, status string, limit, offset int) ([]*Notification, int, error) {
	switch {
	case limit == 0:
		limit = 100
	case limit < 1:
		limit = 1
	case limit > 1000:
		limit = 1000
	}
	offset = max(offset, 0)
	where, args := "", []any{}
	if status != "" {
		where, args = ` WHERE status = ?`, append(args, status)
	}
	var total int
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM notifications`+where), args...).Scan(&total); err != nil {
		return nil, 0, s.wrap(err)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+notificationColumns+` FROM notifications`+where+`
		ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`), append(args, limit, offset)...)
	if err != nil {
		return nil, 0, s.wrap(err)
	}
	defer rows.Close()
	out := []*Notification{}
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, 0, s.wrap(err)
		}
		out = append(out, n)
	}
	return out, total, s.wrap(rows.Err())
}

// Notification reads one notification; vsrp.ErrNotFound when unknown.
func (s *Store) Notification(ctx context.Context, id string) (*Notification, error) {
	n, err := scanNotification(s.db.QueryRowContext(ctx, s.q(`SELECT `+notificationColumns+` FROM notifications WHERE id = ?`), id))
	return n, s.wrap(err)
}

// Redeliver sends a notification again, whatever its status: it becomes pending and due at
// now, with the same ID (receivers deduplicate on it), and a new retry schedule begins: 24
// hours more of retries from its next attempt, spaced from the first step again. vsrp.ErrNotFound
// when the ID is unknown.
//
// A worker that holds the notification when it is redelivered loses it (its result is refused
// with ErrLeaseLost), but the lease is kept: the new attempt starts once that lease has
// expired, so two attempts never run at once.
func (s *Store) Redeliver(ctx context.Context, id string, now time.Time) error {
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE notifications SET status = 'pending', next_attempt_at = ?,
		base_attempts = attempts, first_attempt_at = 0, updated_at = ? WHERE id = ?`), micros(now), micros(now), id)
	if err != nil {
		return s.wrap(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.wrap(err)
	} else if n == 0 {
		return vsrp.ErrNotFound
	}
	return nil
}

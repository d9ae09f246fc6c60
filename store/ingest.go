package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vsrp-dev/vsrp"
)

// Tx is one write transaction of the reward engine: ingestion and evaluation of a batch of
// transactions happen in one, so a crash leaves either all of a batch or none of it.
type Tx struct {
	s     *Store
	tx    *sql.Tx
	ctx   context.Context
	stmts map[string]*sql.Stmt // prepared once per transaction: a batch runs each many times

	inserts []rewardInsert // rewards held to store many to a statement (flushRewards)
	updates []rewardUpdate
	held    map[string]bool // ids of the held inserts

	// What CardCampaigns answered first for each card, and the version of the enrollments it
	// first read (EnrollmentsSeen).
	seen        map[string][]CardCampaign
	seenVersion int64
}

// EnrollmentsSeen answers the campaigns CardCampaigns first answered for each card in this
// transaction, and the version of the enrollments it first read; nil when it was not called.
func (t *Tx) EnrollmentsSeen() (map[string][]CardCampaign, int64) { return t.seen, t.seenVersion }

// enrollmentVersion reads the version of the enrollments: the sum of the groups' counts, which
// changes whenever a card enrolls (enrollments are never changed or removed).
const enrollmentVersion = `SELECT COALESCE(SUM(enrolled), 0) FROM enrollment_groups`

// EnrollmentVersion answers the version of the enrollments: it changes whenever a card enrolls.
func (s *Store) EnrollmentVersion(ctx context.Context) (int64, error) {
	var version int64
	err := s.db.QueryRowContext(ctx, enrollmentVersion).Scan(&version)
	return version, s.wrap(err)
}

// HasTxnsSince reports whether a transaction of the card dated at or after since is stored.
func (s *Store) HasTxnsSince(ctx context.Context, cardID string, since time.Time) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT 1 FROM transactions WHERE card_id = ? AND txn_time >= ? LIMIT 1`),
		cardID, micros(since)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, s.wrap(err)
}

// errRetry makes WriteTx start the transaction over.
var errRetry = errors.New("store: concurrent write, transaction to retry")

// WriteTx runs fn in a write transaction, committing when it returns nil. On PostgreSQL a
// deadlock or serialization failure between concurrent writers, or a row another writer
// stored first, retries fn from the start.
func (s *Store) WriteTx(ctx context.Context, fn func(tx *Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			t := &Tx{s: s, tx: tx, ctx: ctx, stmts: map[string]*sql.Stmt{}}
			defer t.closeStmts()
			if err := fn(t); err != nil {
				return err
			}
			return t.flushRewards()
		})
		var pg *pgconn.PgError
		if attempt < 5 && (errors.Is(err, errRetry) || errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001")) {
			time.Sleep(time.Duration(attempt+1) * 20 * time.Millisecond)
			continue
		}
		return err
	}
}

func (t *Tx) stmt(query string) (*sql.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(t.ctx, t.s.q(query))
	if err != nil {
		return nil, t.s.wrap(err)
	}
	t.stmts[query] = st
	return st, nil
}

func (t *Tx) closeStmts() {
	for _, st := range t.stmts {
		st.Close()
	}
}

func (t *Tx) exec(query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	res, err := st.ExecContext(t.ctx, args...)
	return res, t.s.wrap(err)
}

func (t *Tx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(t.ctx, args...)
	return rows, t.s.wrap(err)
}

func (t *Tx) queryRow(query string, args ...any) *sql.Row {
	st, err := t.stmt(query)
	if err != nil {
		return t.tx.QueryRowContext(t.ctx, t.s.q(query), args...) // answers the same error on Scan
	}
	return st.QueryRowContext(t.ctx, args...)
}

// TxnRow is a stored transaction and the digest of its content.
type TxnRow struct {
	vsrp.Transaction
	Digest string
}

const txnColumns = `txn_id, card_id, type, original_id, amount, currency, txn_time, merchant_id, merchant_name, mcc,
	merchant_country, digest`

func scanTxn(r rowScanner) (*TxnRow, error) {
	var t TxnRow
	var at int64
	if err := r.Scan(&t.ID, &t.CardID, &t.Type, &t.OriginalID, &t.Amount, &t.Currency, &at, &t.MerchantID, &t.MerchantName,
		&t.MCC, &t.MerchantCountry, &t.Digest); err != nil {
		return nil, err
	}
	t.Time = fromMicros(at)
	return &t, nil
}

// InsertTxn stores a transaction unless one with its id exists; it answers the stored one
// when there was one (the caller compares digests: a duplicate or a conflict).
func (t *Tx) InsertTxn(row *TxnRow, now time.Time) (existing *TxnRow, err error) {
	res, err := t.exec(`INSERT INTO transactions (`+txnColumns+`, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (txn_id) DO NOTHING`, row.ID, row.CardID, row.Type, row.OriginalID, row.Amount, row.Currency,
		row.Time.UnixMicro(), row.MerchantID, row.MerchantName, row.MCC, row.MerchantCountry, row.Digest, micros(now))
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil, nil
	}
	return t.Txn(row.ID)
}

// InsertTxns stores transactions in one statement, skipping ids already stored, and answers
// the stored transactions of the ids it skipped. The rows' ids must be distinct.
func (t *Tx) InsertTxns(rows []*TxnRow, now time.Time) (map[string]*TxnRow, error) {
	ids := make([]any, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	existing := map[string]*TxnRow{}
	found, err := t.query(`SELECT `+txnColumns+` FROM transactions WHERE txn_id IN `+inList(len(ids)), ids...)
	if err != nil {
		return nil, err
	}
	for found.Next() {
		old, err := scanTxn(found)
		if err != nil {
			found.Close()
			return nil, err
		}
		existing[old.ID] = old
	}
	found.Close()
	if err := found.Err(); err != nil {
		return nil, t.s.wrap(err)
	}
	const cols = 13
	args := make([]any, 0, (len(rows)-len(existing))*cols)
	for _, r := range rows {
		if existing[r.ID] == nil {
			args = append(args, r.ID, r.CardID, r.Type, r.OriginalID, r.Amount, r.Currency, r.Time.UnixMicro(), r.MerchantID,
				r.MerchantName, r.MCC, r.MerchantCountry, r.Digest, micros(now))
		}
	}
	n := len(args) / cols
	if n == 0 {
		return existing, nil
	}
	res, err := t.exec(`INSERT INTO transactions (`+txnColumns+`, ingested_at) VALUES `+placeholders(n, cols)+
		` ON CONFLICT (txn_id) DO NOTHING`, args...)
	if err != nil {
		return nil, err
	}
	if stored, err := res.RowsAffected(); err != nil || stored != int64(n) {
		// Another writer stored one of these ids since the look-up (PostgreSQL): start over.
		return nil, errors.Join(errRetry, err)
	}
	return existing, nil
}

// Txn reads a stored transaction; vsrp.ErrNotFound when unknown.
func (t *Tx) Txn(id string) (*TxnRow, error) {
	row, err := scanTxn(t.queryRow(`SELECT `+txnColumns+` FROM transactions WHERE txn_id = ?`, id))
	return row, t.s.wrap(err)
}

// Reversed answers the sum of the refunds and reversals stored against a purchase.
func (t *Tx) Reversed(originalID string) (int64, error) {
	var sum sql.NullInt64
	err := t.queryRow(`SELECT SUM(amount) FROM transactions WHERE original_id = ? AND original_id <> ''
		AND type <> ?`, originalID, vsrp.Purchase).Scan(&sum)
	return sum.Int64, t.s.wrap(err)
}

// TxnsOfCards reads every stored transaction of the cards, by card.
func (t *Tx) TxnsOfCards(cardIDs []string) (map[string][]vsrp.Transaction, error) {
	out := make(map[string][]vsrp.Transaction, len(cardIDs))
	const chunk = 256
	for len(cardIDs) > 0 {
		n := min(chunk, len(cardIDs))
		part := cardIDs[:n]
		cardIDs = cardIDs[n:]
		args := make([]any, n)
		for i, c := range part {
			args[i] = c
		}
		// Statements of a full chunk are prepared once per transaction; a short last chunk once more.
		rows, err := t.query(`SELECT txn_id, card_id, type, original_id, amount, currency, txn_time, merchant_id, mcc,
			merchant_country FROM transactions WHERE card_id IN `+inList(n), args...)
		if err != nil {
			return nil, err
		}
		if err := scanTxnsInto(rows, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// TxnsOfCardsSince reads, by card, the stored transactions of each card at or after its time
// (the whole history for a zero time).
func (t *Tx) TxnsOfCardsSince(since map[string]time.Time) (map[string][]vsrp.Transaction, error) {
	var full, windowed []string
	for c, at := range since {
		if at.IsZero() {
			full = append(full, c)
		} else {
			windowed = append(windowed, c)
		}
	}
	slices.Sort(full)
	slices.Sort(windowed)
	out, err := t.TxnsOfCards(full)
	if err != nil {
		return nil, err
	}
	const chunk = 128
	for len(windowed) > 0 {
		n := min(chunk, len(windowed))
		part := windowed[:n]
		windowed = windowed[n:]
		args := make([]any, 0, 2*n)
		for _, c := range part {
			args = append(args, c, since[c].UnixMicro())
		}
		rows, err := t.query(`SELECT txn_id, card_id, type, original_id, amount, currency, txn_time, merchant_id, mcc,
			merchant_country FROM transactions WHERE (card_id = ? AND txn_time >= ?)`+
			strings.Repeat(" OR (card_id = ? AND txn_time >= ?)", n-1), args...)
		if err != nil {
			return nil, err
		}
		if err := scanTxnsInto(rows, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func scanTxnsInto(rows *sql.Rows, out map[string][]vsrp.Transaction) error {
	defer rows.Close()
	for rows.Next() {
		var r vsrp.Transaction
		var at int64
		if err := rows.Scan(&r.ID, &r.CardID, &r.Type, &r.OriginalID, &r.Amount, &r.Currency, &at, &r.MerchantID, &r.MCC,
			&r.MerchantCountry); err != nil {
			return err
		}
		r.Time = fromMicros(at)
		out[r.CardID] = append(out[r.CardID], r)
	}
	return rows.Err()
}

// CardCampaign is a card's enrollment in one campaign: the earliest enrollment in any of its
// groups and the app that made it.
type CardCampaign struct {
	CampaignID string
	AppID      string
	EnrolledAt time.Time
}

// CardCampaigns lists, by card, the campaigns the cards are enrolled in. Answers come from
// the store's cache of enrollments while no enrollment was added since (enrollments are never
// changed or removed, and each one adds one to its group's count: the sum of the counts is a
// version of them all); the slices answered are shared and must not be changed.
func (t *Tx) CardCampaigns(cardIDs []string) (map[string][]CardCampaign, error) {
	var version int64
	if err := t.queryRow(enrollmentVersion).Scan(&version); err != nil {
		return nil, t.s.wrap(err)
	}
	out, missing := t.s.enrolled.get(version, cardIDs)
	if len(missing) > 0 {
		read, err := t.readCardCampaigns(missing)
		if err != nil {
			return nil, err
		}
		for _, c := range missing {
			out[c] = read[c]
		}
		t.s.enrolled.put(version, missing, read)
	}
	if t.seen == nil {
		t.seen, t.seenVersion = make(map[string][]CardCampaign, len(cardIDs)), version
	}
	for _, c := range cardIDs {
		if _, ok := t.seen[c]; !ok {
			t.seen[c] = out[c]
		}
	}
	return out, nil
}

func (t *Tx) readCardCampaigns(cardIDs []string) (map[string][]CardCampaign, error) {
	out := make(map[string][]CardCampaign, len(cardIDs))
	const chunk = 256
	for len(cardIDs) > 0 {
		n := min(chunk, len(cardIDs))
		args := strs(cardIDs[:n])
		cardIDs = cardIDs[n:]
		rows, err := t.query(`SELECT card_id, campaign_id, app_id, created_at FROM enrollments WHERE card_id IN `+inList(n)+
			` ORDER BY card_id, created_at, enrollment_id`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var card string
			var c CardCampaign
			var at int64
			if err := rows.Scan(&card, &c.CampaignID, &c.AppID, &at); err != nil {
				rows.Close()
				return nil, err
			}
			if !slices.ContainsFunc(out[card], func(x CardCampaign) bool { return x.CampaignID == c.CampaignID }) {
				c.EnrolledAt = fromMicros(at)
				out[card] = append(out[card], c)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Binding answers the user the card is bound to in the app, or "".
func (t *Tx) Binding(appID, cardID string) (string, error) {
	var v string
	err := t.queryRow(`SELECT vuid FROM bindings WHERE app_id = ? AND card_id = ?`, appID, cardID).Scan(&v)
	if err == sql.ErrNoRows {
		return "", nil
	}
	return v, t.s.wrap(err)
}

// UserCards lists the cards bound to the app's user.
func (t *Tx) UserCards(appID, vuid string) ([]string, error) {
	return collectStrings(t.query(`SELECT card_id FROM bindings WHERE app_id = ? AND vuid = ? ORDER BY card_id`, appID, vuid))
}

// LockOffer makes concurrent writers that evaluate one offer take turns (PostgreSQL; SQLite
// write transactions are serial already). Callers lock offers in sorted order.
func (t *Tx) LockOffer(offerID string) error {
	if t.s.engine != Postgres {
		return nil
	}
	_, err := t.exec(`SELECT offer_id FROM offers WHERE offer_id = ? FOR UPDATE`, offerID)
	return err
}

// LockTxn makes concurrent writers that refund or reverse one transaction take turns
// (PostgreSQL; SQLite write transactions are serial already).
func (t *Tx) LockTxn(id string) error {
	if t.s.engine != Postgres {
		return nil
	}
	_, err := t.exec(`SELECT txn_id FROM transactions WHERE txn_id = ? FOR UPDATE`, id)
	return err
}

// EnsureBill creates the bill unless it exists and answers its status.
func (t *Tx) EnsureBill(b *vsrp.Bill) (int, error) {
	if _, err := t.exec(`INSERT INTO bills (bill_id, campaign_id, offer_id, name, type, start_date, end_date, settlement_date,
		status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bill_id) DO NOTHING`,
		b.ID, b.CampaignID, b.OfferID, b.Name, b.Type, b.StartDate, b.EndDate, b.SettlementDate, b.Status, micros(b.CreatedAt)); err != nil {
		return 0, err
	}
	var status int
	var end, due, name string
	if err := t.queryRow(`SELECT status, end_date, settlement_date, name FROM bills WHERE bill_id = ?`, b.ID).Scan(&status,
		&end, &due, &name); err != nil {
		return 0, t.s.wrap(err)
	}
	if status == vsrp.BillOpen && (end != b.EndDate || due != b.SettlementDate || name != b.Name) {
		// The bill's id names its period's first day only: a change of the campaign's end date
		// (or of the offer's settlement delay or name) before generation recuts what it shows.
		if _, err := t.exec(`UPDATE bills SET end_date = ?, settlement_date = ?, name = ? WHERE bill_id = ? AND status = ?`,
			b.EndDate, b.SettlementDate, b.Name, b.ID, vsrp.BillOpen); err != nil {
			return 0, err
		}
	}
	return status, nil
}

// Computed is what the rules say of one reward, before the offer's budget decides.
type Computed struct {
	RewardID   string
	UnitKey    string
	EarnKey    string
	Met        bool
	Voided     bool
	Wanted     int64 // what it pays when met
	EventCount int64
	EventTotal int64
	Message    string
}

// Outcome is what a reward shows: its status, amount and message.
type Outcome struct {
	Status  int
	Voided  bool
	Amount  int64
	Message string
}

// StoredReward is a reward's stored computation and outcome.
type StoredReward struct {
	Computed
	Outcome
	OfferID  string
	BillID   string
	BillOpen bool // its bill is not generated yet
}

// UnitRewards reads the stored rewards of the units, by reward id.
func (t *Tx) UnitRewards(unitKeys []string) (map[string]*StoredReward, error) {
	out := map[string]*StoredReward{}
	for len(unitKeys) > 0 {
		n := min(256, len(unitKeys))
		// Statements of a full chunk are prepared once per transaction; a short last chunk once more.
		if err := t.readRewards(`r.unit_key IN `+inList(n), strs(unitKeys[:n]), func(r *StoredReward) {
			out[r.RewardID] = r
		}); err != nil {
			return nil, err
		}
		unitKeys = unitKeys[n:]
	}
	return out, nil
}

// Rewards reads stored rewards by id; unknown ids are left out.
func (t *Tx) Rewards(ids []string) (map[string]*StoredReward, error) {
	out := make(map[string]*StoredReward, len(ids))
	for len(ids) > 0 {
		n := min(256, len(ids))
		// Statements of a full chunk are prepared once per transaction; a short last chunk once more.
		if err := t.readRewards(`r.reward_id IN `+inList(n), strs(ids[:n]), func(r *StoredReward) {
			out[r.RewardID] = r
		}); err != nil {
			return nil, err
		}
		ids = ids[n:]
	}
	return out, nil
}

// OpenRewardUnits answers the units of the campaign's rewards of open bills that list one of
// the cards.
func (t *Tx) OpenRewardUnits(campaignID string, cardIDs []string) ([]string, error) {
	if err := t.flushRewards(); err != nil {
		return nil, err
	}
	var out []string
	for len(cardIDs) > 0 {
		n := min(256, len(cardIDs))
		units, err := collectStrings(t.query(`SELECT DISTINCT r.unit_key FROM reward_cards c
			JOIN rewards r ON r.reward_id = c.reward_id JOIN bills b ON b.bill_id = r.bill_id
			WHERE c.card_id IN `+inList(n)+` AND r.campaign_id = ? AND b.status = 0`, append(strs(cardIDs[:n]), campaignID)...))
		if err != nil {
			return nil, t.s.wrap(err)
		}
		out = append(out, units...)
		cardIDs = cardIDs[n:]
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// UnitBill names the rewards of one unit on one bill.
type UnitBill struct {
	UnitKey string
	BillID  string
}

// UnitBillRewards reads the stored rewards of each unit on each bill.
func (t *Tx) UnitBillRewards(keys []UnitBill) (map[UnitBill][]*StoredReward, error) {
	out := make(map[UnitBill][]*StoredReward, len(keys))
	for len(keys) > 0 {
		n := min(128, len(keys))
		args := make([]any, 0, 2*n)
		for _, k := range keys[:n] {
			args = append(args, k.UnitKey, k.BillID)
		}
		const cond = `(r.unit_key = ? AND r.bill_id = ?)`
		if err := t.readRewards(cond+strings.Repeat(" OR "+cond, n-1), args, func(r *StoredReward) {
			k := UnitBill{r.UnitKey, r.BillID}
			out[k] = append(out[k], r)
		}); err != nil {
			return nil, err
		}
		keys = keys[n:]
	}
	return out, nil
}

func strs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// readRewards reads the stored rewards (r) that meet the condition, first storing the held
// writes.
func (t *Tx) readRewards(cond string, args []any, each func(*StoredReward)) error {
	if err := t.flushRewards(); err != nil {
		return err
	}
	rows, err := t.query(`SELECT r.reward_id, r.unit_key, r.bill_id, r.earn_key, r.engine_met, r.engine_voided,
		r.wanted_amount, r.event_count, r.event_total_amount, r.engine_message, r.status, r.voided, r.calculated_amount,
		r.calculate_message, r.offer_id, b.status FROM rewards r JOIN bills b ON b.bill_id = r.bill_id WHERE `+cond, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r StoredReward
		var met, engVoided, voided int64
		var billStatus int
		if err := rows.Scan(&r.RewardID, &r.UnitKey, &r.BillID, &r.EarnKey, &met, &engVoided, &r.Wanted, &r.EventCount,
			&r.EventTotal, &r.Computed.Message, &r.Status, &voided, &r.Amount, &r.Outcome.Message, &r.OfferID,
			&billStatus); err != nil {
			return err
		}
		r.Met, r.Computed.Voided, r.Outcome.Voided = met == 1, engVoided == 1, voided == 1
		r.BillOpen = billStatus == vsrp.BillOpen
		each(&r)
	}
	return t.s.wrap(rows.Err())
}

// Rewards written by the engine are held in the transaction and stored many rows to a
// statement: before any read of rewards, before an update of a held one, and before commit.
type rewardInsert struct {
	c     Computed
	o     Outcome
	proto *vsrp.Reward
	now   time.Time
}

type rewardUpdate struct {
	c       Computed
	o       Outcome
	changed bool
	now     time.Time
}

// rewardRows is how many rewards go in one statement (26 arguments each).
const rewardRows = 64

// InsertReward stores a new reward computed by the rules, with its cards.
func (t *Tx) InsertReward(c *Computed, o Outcome, proto *vsrp.Reward, now time.Time) error {
	t.inserts = append(t.inserts, rewardInsert{c: *c, o: o, proto: proto, now: now})
	if t.held == nil {
		t.held = map[string]bool{}
	}
	t.held[c.RewardID] = true
	return nil
}

// UpdateReward replaces a stored reward's computation and outcome; calculatedAt moves when the
// outcome changes. cards, when given, become the reward's cards (an account's cards: one joins
// or leaves it when bound or unbound).
func (t *Tx) UpdateReward(c *Computed, o Outcome, outcomeChanged bool, cards []string, now time.Time) error {
	if t.held[c.RewardID] { // its insert goes first
		if err := t.flushRewards(); err != nil {
			return err
		}
	}
	t.updates = append(t.updates, rewardUpdate{c: *c, o: o, changed: outcomeChanged, now: now})
	if len(cards) == 0 {
		return nil
	}
	if err := t.flushRewards(); err != nil {
		return err
	}
	args := []any{c.RewardID}
	for _, card := range cards {
		args = append(args, card)
	}
	if _, err := t.exec(`DELETE FROM reward_cards WHERE reward_id = ? AND card_id NOT IN `+inList(len(cards)), args...); err != nil {
		return err
	}
	for _, card := range cards {
		if _, err := t.exec(`INSERT INTO reward_cards (card_id, created_at, reward_id)
			SELECT ?, created_at, reward_id FROM rewards WHERE reward_id = ?
			AND NOT EXISTS (SELECT 1 FROM reward_cards WHERE reward_id = ? AND card_id = ?)`, card, c.RewardID, c.RewardID, card); err != nil {
			return err
		}
	}
	return nil
}

// SetRewardUnit gives a stored reward another unit: an account's each reward stored under its
// purchase's key alone (the id of the card's own reward of the purchase) once its card left
// the account.
func (t *Tx) SetRewardUnit(rewardID, unitKey, accountAppID, accountVuid string) error {
	if err := t.flushRewards(); err != nil {
		return err
	}
	_, err := t.exec(`UPDATE rewards SET unit_key = ?, account_app_id = ?, account_vuid = ? WHERE reward_id = ?`,
		unitKey, accountAppID, accountVuid, rewardID)
	return err
}

// SetRewardBill puts a reward of an open bill on another open bill: its period was cut anew.
func (t *Tx) SetRewardBill(rewardID, billID string) error {
	if err := t.flushRewards(); err != nil {
		return err
	}
	_, err := t.exec(`UPDATE rewards SET bill_id = ? WHERE reward_id = ?`, billID, rewardID)
	return err
}

// flushRewards stores the held reward inserts and updates.
func (t *Tx) flushRewards() error {
	for len(t.inserts) > 0 {
		n := min(rewardRows, len(t.inserts))
		if err := t.insertRewards(t.inserts[:n]); err != nil {
			return err
		}
		t.inserts = t.inserts[n:]
	}
	t.inserts, t.held = nil, nil
	for len(t.updates) > 0 {
		n := min(rewardRows, len(t.updates))
		if err := t.updateRewards(t.updates[:n]); err != nil {
			return err
		}
		t.updates = t.updates[n:]
	}
	t.updates = nil
	return nil
}

func (t *Tx) insertRewards(rs []rewardInsert) error {
	const cols = 26
	args := make([]any, 0, len(rs)*cols)
	var cardArgs []any
	for _, r := range rs {
		c, o, proto := &r.c, &r.o, r.proto
		args = append(args, c.RewardID, proto.Bill.ID, proto.CampaignID, proto.OfferID, proto.AccountAppID, proto.AccountVuid,
			o.Status, b2i(o.Voided), proto.Name, proto.Type, proto.Provider, proto.Code, proto.Currency, o.Amount, o.Message,
			micros(r.now), b2i(proto.ClaimRequired), micros(proto.CreatedAt), c.UnitKey, c.EarnKey, b2i(c.Met), b2i(c.Voided),
			c.Wanted, c.Message, c.EventCount, c.EventTotal)
		for _, card := range proto.CardIDs {
			cardArgs = append(cardArgs, card, micros(proto.CreatedAt), c.RewardID)
		}
	}
	if _, err := t.exec(`INSERT INTO rewards (reward_id, bill_id, campaign_id, offer_id, account_app_id, account_vuid,
		status, voided, name, type, provider, code, currency, calculated_amount, calculate_message, calculated_at,
		claim_required, created_at, unit_key, earn_key, engine_met, engine_voided, wanted_amount, engine_message,
		event_count, event_total_amount) VALUES `+placeholders(len(rs), cols), args...); err != nil {
		return err
	}
	for len(cardArgs) > 0 {
		n := min(3*rewardRows, len(cardArgs)/3)
		if _, err := t.exec(`INSERT INTO reward_cards (card_id, created_at, reward_id) VALUES `+placeholders(n, 3), cardArgs[:3*n]...); err != nil {
			return err
		}
		cardArgs = cardArgs[3*n:]
	}
	return nil
}

// updateRewards updates rewards from a list of values in one statement. The casts give
// PostgreSQL the values' types (parameters in VALUES are text to it otherwise).
func (t *Tx) updateRewards(us []rewardUpdate) error {
	const row = `(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT),
		CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT),
		CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT))`
	args := make([]any, 0, len(us)*14)
	for _, u := range us {
		c, o := &u.c, &u.o
		args = append(args, c.RewardID, c.EarnKey, b2i(c.Met), b2i(c.Voided), c.Wanted, c.Message, c.EventCount, c.EventTotal,
			o.Status, b2i(o.Voided), o.Amount, o.Message, b2i(u.changed), micros(u.now))
	}
	_, err := t.exec(`WITH v (reward_id, earn_key, engine_met, engine_voided, wanted_amount, engine_message, event_count,
		event_total_amount, status, voided, calculated_amount, calculate_message, changed, now) AS (VALUES `+
		strings.TrimSuffix(strings.Repeat(row+", ", len(us)), ", ")+`)
		UPDATE rewards SET earn_key = v.earn_key, engine_met = v.engine_met, engine_voided = v.engine_voided,
		wanted_amount = v.wanted_amount, engine_message = v.engine_message, event_count = v.event_count,
		event_total_amount = v.event_total_amount, status = v.status, voided = v.voided,
		calculated_amount = v.calculated_amount, calculate_message = v.calculate_message,
		calculated_at = CASE WHEN v.changed = 1 THEN v.now ELSE rewards.calculated_at END
		FROM v WHERE rewards.reward_id = v.reward_id`, args...)
	return err
}

// inList answers a parenthesised list of n parameters, for IN.
func inList(n int) string { return placeholders(1, n) }

// placeholders answers n rows of cols parameters for a VALUES list.
func placeholders(n, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// RewardLabel is what a reward is, as its offer says: written on each reward when given.
type RewardLabel struct {
	Name, Type, Provider, Code, Currency string
	ClaimRequired                        bool
}

// RelabelOpenRewards writes the label on the offer's rewards of bills not yet generated that
// carry another one.
func (t *Tx) RelabelOpenRewards(offerID string, l RewardLabel) error {
	if err := t.flushRewards(); err != nil {
		return err
	}
	claim := b2i(l.ClaimRequired)
	_, err := t.exec(`UPDATE rewards SET name = ?, type = ?, provider = ?, code = ?, currency = ?, claim_required = ?
		WHERE bill_id IN (SELECT bill_id FROM bills WHERE offer_id = ? AND status = 0)
		AND (name <> ? OR type <> ? OR provider <> ? OR code <> ? OR currency <> ? OR claim_required <> ?)`,
		l.Name, l.Type, l.Provider, l.Code, l.Currency, claim, offerID, l.Name, l.Type, l.Provider, l.Code, l.Currency, claim)
	return err
}

// SetOutcome sets what the reward shows; calculatedAt moves only when something changed.
func (t *Tx) SetOutcome(rewardID string, o Outcome, now time.Time) error {
	if err := t.flushRewards(); err != nil {
		return err
	}
	_, err := t.exec(`UPDATE rewards SET status = ?, voided = ?, calculated_amount = ?, calculate_message = ?, calculated_at = ?
		WHERE reward_id = ? AND (status <> ? OR voided <> ? OR calculated_amount <> ? OR calculate_message <> ?)`,
		o.Status, b2i(o.Voided), o.Amount, o.Message, micros(now), rewardID, o.Status, b2i(o.Voided), o.Amount, o.Message)
	return err
}

// Candidate is a reward of an open bill competing for its offer's budget.
type Candidate struct {
	RewardID string
	EarnKey  string
	Wanted   int64
	Message  string
	Each     bool
}

// BudgetState answers the offer's rewards of open bills that the rules met, and what
// rewards of generated bills already took of the budget.
func (t *Tx) BudgetState(offerID string) ([]Candidate, int64, error) {
	if err := t.flushRewards(); err != nil {
		return nil, 0, err
	}
	rows, err := t.query(`SELECT r.reward_id, r.earn_key, r.wanted_amount, r.engine_message
		FROM bills b JOIN rewards r ON r.bill_id = b.bill_id
		WHERE b.offer_id = ? AND b.status = 0 AND r.engine_met = 1 ORDER BY r.earn_key`, offerID)
	if err != nil {
		return nil, 0, t.s.wrap(err)
	}
	var out []Candidate
	for rows.Next() {
		var c Candidate
		if err := rows.Scan(&c.RewardID, &c.EarnKey, &c.Wanted, &c.Message); err != nil {
			rows.Close()
			return nil, 0, err
		}
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var spent sql.NullInt64
	err = t.queryRow(`SELECT SUM(COALESCE(r.confirmed_amount, r.calculated_amount)) FROM bills b
		JOIN rewards r ON r.bill_id = b.bill_id WHERE b.offer_id = ? AND b.status <> 0 AND r.voided = 0`, offerID).Scan(&spent)
	return out, spent.Int64, t.s.wrap(err)
}

// AdjustedReward says which reward of a generated bill an adjustment concerns: one that
// lists the purchase's card (for an each goal, the one the purchase earned: EarnKey), a live
// one first, then ID, the reward the rules name now. The card's rewards on a generated bill
// are those of the unit it was in then: a card bound or unbound since counts in another unit
// now, whose reward on the bill, when it lists the card, was voided when the card left it.
type AdjustedReward struct {
	ID      string
	CardID  string
	EarnKey string // each goals only
}

// AddAdjustment records a transaction that arrived for a generated bill, with the reward it
// concerns; a late purchase whose reward was never stored (an each purchase, or the first
// purchase of a unit's period) is recorded without one, rather than naming a reward that
// does not exist.
func (t *Tx) AddAdjustment(billID, txnID, typ string, amount int64, r AdjustedReward, now time.Time) error {
	if err := t.flushRewards(); err != nil {
		return err
	}
	_, err := t.exec(`INSERT INTO bill_adjustments (bill_id, txn_id, reward_id, type, amount, created_at)
		SELECT CAST(? AS TEXT), CAST(? AS TEXT), COALESCE((SELECT r.reward_id FROM reward_cards c
			JOIN rewards r ON r.reward_id = c.reward_id WHERE c.card_id = ? AND r.bill_id = ?
			AND (CAST(? AS TEXT) = '' OR r.earn_key = ?)
			ORDER BY r.voided, CASE WHEN r.reward_id = ? THEN 0 ELSE 1 END, r.reward_id LIMIT 1), ''),
			CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT) WHERE true
		ON CONFLICT (bill_id, txn_id, reward_id) DO NOTHING`, billID, txnID, r.CardID, billID, r.EarnKey, r.EarnKey, r.ID,
		typ, amount, micros(now))
	return err
}

// Campaign reads the campaign's current document inside the transaction.
func (t *Tx) Campaign(id string) (*CampaignDoc, error) {
	d := CampaignDoc{CampaignID: id}
	var doc string
	var at int64
	if err := t.queryRow(`SELECT version, doc, updated_at, evaluated_version FROM campaigns WHERE campaign_id = ?`, id).Scan(&d.Version,
		&doc, &at, &d.EvaluatedVersion); err != nil {
		return nil, t.s.wrap(err)
	}
	d.Doc, d.AppliedAt = []byte(doc), fromMicros(at)
	return &d, nil
}

// RefreshStats brings the planner's statistics of the tables ingestion grows up to date on
// PostgreSQL (autovacuum lags behind a bulk import, and plans made for small tables turn into
// sequential scans); SQLite needs none.
func (s *Store) RefreshStats(ctx context.Context) error {
	if s.engine != Postgres {
		return nil
	}
	_, err := s.w.ExecContext(ctx, `ANALYZE transactions, rewards, reward_cards, bills, enrollments`)
	return s.wrap(err)
}

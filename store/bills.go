package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/vsrp-dev/vsrp"
)

// BillSummary is a bill with its totals and adjustments.
type BillSummary struct {
	vsrp.Bill
	RewardCount int
	TotalAmount int64 // confirmed amounts once generated, calculated ones before
	Adjustments []Adjustment
	GeneratedAt time.Time
	ApprovedAt  time.Time
	SettledAt   time.Time
}

// Adjustment is a transaction that arrived after its bill was generated.
type Adjustment struct {
	TxnID     string
	RewardID  string
	Type      string
	Amount    int64
	CreatedAt time.Time
}

const billColumns = `b.bill_id, b.campaign_id, b.offer_id, b.name, b.type, b.start_date, b.end_date, b.settlement_date,
	b.status, b.created_at, b.generated_at, b.approved_at, b.settled_at,
	(SELECT COUNT(*) FROM rewards r WHERE r.bill_id = b.bill_id AND r.voided = 0 AND (b.status = 0 OR r.status > 0)),
	(SELECT COALESCE(SUM(COALESCE(r.confirmed_amount, r.calculated_amount)), 0) FROM rewards r WHERE r.bill_id = b.bill_id AND r.voided = 0)`

func scanBill(r rowScanner) (*BillSummary, error) {
	var b BillSummary
	var created, gen, appr, settled int64
	if err := r.Scan(&b.ID, &b.CampaignID, &b.OfferID, &b.Name, &b.Type, &b.StartDate, &b.EndDate, &b.SettlementDate,
		&b.Status, &created, &gen, &appr, &settled, &b.RewardCount, &b.TotalAmount); err != nil {
		return nil, err
	}
	b.CreatedAt, b.GeneratedAt, b.ApprovedAt, b.SettledAt = fromMicros(created), fromMicros(gen), fromMicros(appr), fromMicros(settled)
	return &b, nil
}

// Bills lists the bills of a campaign (all campaigns for ""), by StartDate then offerId.
func (s *Store) Bills(ctx context.Context, campaignID string) ([]*BillSummary, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+billColumns+` FROM bills b WHERE (? = '' OR b.campaign_id = ?)
		ORDER BY b.start_date, b.offer_id`), campaignID, campaignID)
	if err != nil {
		return nil, s.wrap(err)
	}
	var out []*BillSummary
	for rows.Next() {
		b, err := scanBill(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, b := range out {
		if b.Adjustments, err = s.adjustments(ctx, b.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// BillByID reads one bill; vsrp.ErrNotFound when unknown.
func (s *Store) BillByID(ctx context.Context, id string) (*BillSummary, error) {
	b, err := scanBill(s.db.QueryRowContext(ctx, s.q(`SELECT `+billColumns+` FROM bills b WHERE b.bill_id = ?`), id))
	if err != nil {
		return nil, s.wrap(err)
	}
	b.Adjustments, err = s.adjustments(ctx, id)
	return b, err
}

func (s *Store) adjustments(ctx context.Context, billID string) ([]Adjustment, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT txn_id, reward_id, type, amount, created_at FROM bill_adjustments
		WHERE bill_id = ? ORDER BY created_at, txn_id`), billID)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	out := []Adjustment{}
	for rows.Next() {
		var a Adjustment
		var at int64
		if err := rows.Scan(&a.TxnID, &a.RewardID, &a.Type, &a.Amount, &at); err != nil {
			return nil, err
		}
		a.CreatedAt = fromMicros(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// ErrBillState is returned when a bill step comes out of order.
var ErrBillState = fmt.Errorf("%w: bill is not in the state this step needs", vsrp.ErrConflict)

// setBillStatus moves the bill from one status to another, or answers ErrBillState.
func (t *Tx) setBillStatus(billID string, from, to int, column string, now time.Time) error {
	res, err := t.exec(`UPDATE bills SET status = ?, `+column+` = ? WHERE bill_id = ? AND status = ?`, to, micros(now), billID, from)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrBillState
	}
	return nil
}

// GenerateBill closes an open bill: met rewards (1) become 2 with their amount confirmed and
// claimBefore set; rewards still 0 stay 0 and are final.
func (t *Tx) GenerateBill(billID string, claimBefore time.Time, now time.Time) error {
	if err := t.setBillStatus(billID, vsrp.BillOpen, vsrp.BillGenerated, "generated_at", now); err != nil {
		return err
	}
	if _, err := t.exec(`UPDATE rewards SET status = 2, confirmed_amount = calculated_amount,
		claim_before = CASE WHEN claim_required = 1 THEN CAST(? AS BIGINT) ELSE 0 END WHERE bill_id = ? AND status = 1 AND voided = 0`,
		micros(claimBefore), billID); err != nil {
		return err
	}
	_, err := t.exec(`UPDATE rewards SET confirmed_amount = 0 WHERE bill_id = ? AND status = 0 AND voided = 0`, billID)
	return err
}

// ApproveBill approves a generated bill: rewards that need no claim go 2 → 3; the others stay
// 2 and become claimable.
func (t *Tx) ApproveBill(billID string, now time.Time) error {
	if err := t.setBillStatus(billID, vsrp.BillGenerated, vsrp.BillApproved, "approved_at", now); err != nil {
		return err
	}
	_, err := t.exec(`UPDATE rewards SET status = 3 WHERE bill_id = ? AND status = 2 AND claim_required = 0 AND voided = 0`, billID)
	return err
}

// BillStatus reads a bill's status inside the transaction.
func (t *Tx) BillStatus(billID string) (int, error) {
	var st int
	err := t.queryRow(`SELECT status FROM bills WHERE bill_id = ?`, billID).Scan(&st)
	return st, t.s.wrap(err)
}

// RewardState is what a lifecycle step needs of a reward.
type RewardState struct {
	ID, BillID, CampaignID, OfferID, Type string
	Status                                int
	ClaimRequired                         bool
	ClaimBefore                           time.Time
	Confirmed                             int64
}

// RewardStateOf reads a reward's lifecycle state inside the transaction; vsrp.ErrNotFound for
// unknown or voided rewards.
func (t *Tx) RewardStateOf(id string) (*RewardState, error) {
	var r RewardState
	var claimReq, before int64
	var confirmed sql.NullInt64
	err := t.queryRow(`SELECT reward_id, bill_id, campaign_id, offer_id, type, status, claim_required, claim_before,
		confirmed_amount FROM rewards WHERE reward_id = ? AND voided = 0`, id).Scan(&r.ID, &r.BillID, &r.CampaignID, &r.OfferID,
		&r.Type, &r.Status, &claimReq, &before, &confirmed)
	if err != nil {
		return nil, t.s.wrap(err)
	}
	r.ClaimRequired, r.ClaimBefore, r.Confirmed = claimReq == 1, fromMicros(before), confirmed.Int64
	return &r, nil
}

// BillRewardsIn lists the ids of the bill's rewards in a status.
func (t *Tx) BillRewardsIn(billID string, status int) ([]string, error) {
	return collectStrings(t.query(`SELECT reward_id FROM rewards WHERE bill_id = ? AND status = ? AND voided = 0 ORDER BY reward_id`,
		billID, status))
}

// Reward lifecycle steps for MoveReward: each records its time and message in its own columns.
const (
	StepClaim  = "claim"  // claimedAt, claimMessage
	StepSettle = "settle" // settledAt, settleMessage (issued: status 4)
	StepFail   = "fail"   // settleMessage (settlement failed: status 5)
	StepRedeem = "redeem" // redeemedAt, redeemMessage
)

// MoveReward changes a reward's status from one to another and records the step's time and
// message (and expiredAt, when expiresAt is set). It answers false when the reward was not in
// status from: another caller moved it first.
func (t *Tx) MoveReward(id string, from, to int, step, message string, expiresAt, now time.Time) (bool, error) {
	var set string
	args := []any{to}
	switch step {
	case StepClaim:
		set, args = `claimed_at = ?, claim_message = ?`, append(args, micros(now), message)
	case StepSettle:
		set, args = `settled_at = ?, settle_message = ?`, append(args, micros(now), message)
	case StepFail:
		set, args = `settle_message = ?`, append(args, message)
	case StepRedeem:
		set, args = `redeemed_at = ?, redeem_message = ?`, append(args, micros(now), message)
	default:
		return false, fmt.Errorf("store: unknown reward step %q", step)
	}
	if !expiresAt.IsZero() {
		set += `, expired_at = ?`
		args = append(args, micros(expiresAt))
	}
	res, err := t.exec(`UPDATE rewards SET status = ?, `+set+` WHERE reward_id = ? AND status = ? AND voided = 0`,
		append(args, id, from)...)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// SettleBillStatus sets the bill's final status once every reward is final: 3 when none
// failed, 4 when any did, with settledAt the time it became so. A bill with rewards still in
// 1–3 keeps its status. Callers move the bill's rewards first: transactions that settle one
// bill take turns from here to their commit.
func (t *Tx) SettleBillStatus(billID string, now time.Time) error {
	// Two transactions moving the bill's last two rewards at once would each count the other's
	// reward still open (PostgreSQL, READ COMMITTED) and leave the bill settling for ever. On
	// the bill's row the second waits for the first to commit, and its count, a later
	// statement, sees that move. (SQLite write transactions are serial already.)
	if t.s.engine == Postgres {
		if _, err := t.exec(`SELECT bill_id FROM bills WHERE bill_id = ? FOR NO KEY UPDATE`, billID); err != nil {
			return err
		}
	}
	var open, failed int
	if err := t.queryRow(`SELECT
		(SELECT COUNT(*) FROM rewards WHERE bill_id = ? AND voided = 0 AND status IN (1, 2, 3)),
		(SELECT COUNT(*) FROM rewards WHERE bill_id = ? AND voided = 0 AND status = 5)`, billID, billID).Scan(&open, &failed); err != nil {
		return t.s.wrap(err)
	}
	if open > 0 {
		return nil
	}
	to := vsrp.BillSettled
	if failed > 0 {
		to = vsrp.BillException
	}
	// Only a change of status is a settlement: a reward redeemed or expired on a bill already
	// final must not move the time the bill was settled.
	_, err := t.exec(`UPDATE bills SET status = ?, settled_at = ? WHERE bill_id = ? AND status IN (2, 3, 4) AND status <> ?`,
		to, micros(now), billID, to)
	return err
}

// DueBills lists open bills whose settlement date is on or before the date (yyyy-MM-dd);
// the caller checks the instant in each campaign's zone.
func (s *Store) DueBills(ctx context.Context, onOrBefore string) ([]*BillSummary, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+billColumns+` FROM bills b WHERE b.status = 0 AND b.settlement_date <= ?
		ORDER BY b.settlement_date, b.bill_id`), onOrBefore)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []*BillSummary
	for rows.Next() {
		b, err := scanBill(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// ExpireRewards moves rewards in 2 past claimBefore, and coupon or point rewards in 4 past
// expiredAt (with their issued items), to 7. It answers the bills it touched.
func (s *Store) ExpireRewards(ctx context.Context, now time.Time) ([]string, error) {
	var bills []string
	err := s.WriteTx(ctx, func(t *Tx) error {
		bills = nil
		// Only rewards of bills past open can be claimable (2) or issued (4): the bills lead the
		// search, through the rewards' (bill, status) index, so open bills (all of a running
		// import's rewards) cost nothing.
		rows, err := t.query(`SELECT r.reward_id, r.bill_id, r.status FROM bills b JOIN rewards r ON r.bill_id = b.bill_id
			WHERE b.status <> 0 AND r.status IN (2, 4) AND r.voided = 0 AND ((r.status = 2 AND r.claim_before > 0 AND r.claim_before < ?)
			OR (r.status = 4 AND r.type IN ('Coupon', 'Point') AND r.expired_at > 0 AND r.expired_at < ?))`, micros(now), micros(now))
		if err != nil {
			return err
		}
		type due struct {
			id, bill string
			status   int
		}
		var dues []due
		for rows.Next() {
			var d due
			if err := rows.Scan(&d.id, &d.bill, &d.status); err != nil {
				rows.Close()
				return err
			}
			dues = append(dues, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return t.s.wrap(err)
		}
		seen := map[string]bool{}
		for _, d := range dues {
			// Only from the status read: a claim or redemption committed since (PostgreSQL) wins.
			res, err := t.exec(`UPDATE rewards SET status = 7 WHERE reward_id = ? AND status = ?`, d.id, d.status)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				continue
			}
			if d.status == 4 {
				if _, err := t.exec(`UPDATE reward_items SET status = 'EXPIRED' WHERE reward_id = ? AND status = 'ISSUED'`, d.id); err != nil {
					return err
				}
			}
			if !seen[d.bill] {
				seen[d.bill] = true
				bills = append(bills, d.bill)
			}
		}
		for _, b := range bills {
			if err := t.SettleBillStatus(b, now); err != nil {
				return err
			}
		}
		return nil
	})
	return bills, err
}

// OfferHistory reports whether the offer has rewards, and whether any of its bills was
// generated.
func (s *Store) OfferHistory(ctx context.Context, offerID string) (hasRewards, generated bool, err error) {
	var rewards, gen int
	err = s.db.QueryRowContext(ctx, s.q(`SELECT
		(SELECT COUNT(*) FROM (SELECT 1 FROM bills b JOIN rewards r ON r.bill_id = b.bill_id WHERE b.offer_id = ? LIMIT 1) x),
		(SELECT COUNT(*) FROM bills WHERE offer_id = ? AND status <> 0)`), offerID, offerID).Scan(&rewards, &gen)
	return rewards > 0, gen > 0, s.wrap(err)
}

// OpenBills answers the campaign's open bills.
func (t *Tx) OpenBills(campaignID string) ([]vsrp.Bill, error) {
	rows, err := t.query(`SELECT bill_id, offer_id, start_date FROM bills WHERE campaign_id = ? AND status = ?`,
		campaignID, vsrp.BillOpen)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []vsrp.Bill
	for rows.Next() {
		b := vsrp.Bill{CampaignID: campaignID, Status: vsrp.BillOpen}
		if err := rows.Scan(&b.ID, &b.OfferID, &b.StartDate); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, t.s.wrap(rows.Err())
}

// RetireBill removes an open bill that holds no live reward, after putting its voided rewards
// on the open bill into. A bill with a live reward stays.
func (t *Tx) RetireBill(billID, into string) error {
	if err := t.flushRewards(); err != nil {
		return err
	}
	var live int
	if err := t.queryRow(`SELECT COUNT(*) FROM rewards WHERE bill_id = ? AND voided = 0`, billID).Scan(&live); err != nil {
		return t.s.wrap(err)
	}
	if live > 0 {
		return nil
	}
	if _, err := t.exec(`UPDATE rewards SET bill_id = ? WHERE bill_id = ?`, into, billID); err != nil {
		return err
	}
	_, err := t.exec(`DELETE FROM bills WHERE bill_id = ? AND status = ?`, billID, vsrp.BillOpen)
	return err
}

package store

import (
	"context"
	"database/sql"
	"math"
	"slices"
	"strings"

	"github.com/vsrp-dev/vsrp"
)

// InsertBill stores a bill.
func (s *Store) InsertBill(ctx context.Context, b *vsrp.Bill) error {
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO bills (bill_id, campaign_id, offer_id, name, type, start_date, end_date,
		settlement_date, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		b.ID, b.CampaignID, b.OfferID, b.Name, b.Type, b.StartDate, b.EndDate, b.SettlementDate, b.Status, micros(b.CreatedAt))
	return s.wrap(err)
}

// InsertReward stores a reward with its cards and items.
func (s *Store) InsertReward(ctx context.Context, r *vsrp.Reward) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var confirmed any
		if r.ConfirmedAmount != nil {
			confirmed = *r.ConfirmedAmount
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO rewards (reward_id, bill_id, campaign_id, offer_id, account_app_id,
			account_vuid, status, voided, name, type, provider, code, currency, calculated_amount, confirmed_amount,
			claim_required, claim_before, expired_at, created_at, calculated_at, calculate_message, claimed_at, claim_message,
			settled_at, settle_message, redeemed_at, redeem_message, event_count, event_total_amount)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			r.ID, r.Bill.ID, r.CampaignID, r.OfferID, r.AccountAppID, r.AccountVuid, r.Status, b2i(r.Voided), r.Name, r.Type,
			r.Provider, r.Code, r.Currency, r.CalculatedAmount, confirmed, b2i(r.ClaimRequired), micros(r.ClaimBefore),
			micros(r.ExpiredAt), micros(r.CreatedAt), micros(r.CalculatedAt), r.CalculateMessage, micros(r.ClaimedAt),
			r.ClaimMessage, micros(r.SettledAt), r.SettleMessage, micros(r.RedeemedAt), r.RedeemMessage, r.EventCount,
			r.EventTotalAmount); err != nil {
			return s.wrap(err)
		}
		for _, c := range r.CardIDs {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO reward_cards (card_id, created_at, reward_id) VALUES (?, ?, ?)`),
				c, micros(r.CreatedAt), r.ID); err != nil {
				return s.wrap(err)
			}
		}
		for i, it := range r.Items {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO reward_items (reward_id, seq, type, code, status, expired_at,
				voided_at, redeemed_at, settled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), r.ID, i, it.Type, it.Code, it.Status,
				micros(it.ExpiredAt), micros(it.VoidedAt), micros(it.RedeemedAt), micros(it.SettledAt)); err != nil {
				return s.wrap(err)
			}
		}
		return nil
	})
}

const rewardSelect = `SELECT r.reward_id, r.campaign_id, r.offer_id, r.account_app_id, r.account_vuid, r.status, r.voided,
	r.name, r.type, r.provider, r.code, r.currency, r.calculated_amount, r.confirmed_amount, r.claim_required, r.claim_before,
	r.expired_at, r.created_at, r.calculated_at, r.calculate_message, r.claimed_at, r.claim_message, r.settled_at,
	r.settle_message, r.redeemed_at, r.redeem_message, r.event_count, r.event_total_amount,
	b.bill_id, b.name, b.type, b.start_date, b.end_date, b.settlement_date, b.status, b.created_at`

func scanReward(r rowScanner) (*vsrp.Reward, error) {
	var w vsrp.Reward
	var voided, claimReq int64
	var confirmed sql.NullInt64
	var claimBefore, expired, created, calculated, claimed, settled, redeemed, billCreated int64
	if err := r.Scan(&w.ID, &w.CampaignID, &w.OfferID, &w.AccountAppID, &w.AccountVuid, &w.Status, &voided, &w.Name, &w.Type,
		&w.Provider, &w.Code, &w.Currency, &w.CalculatedAmount, &confirmed, &claimReq, &claimBefore, &expired, &created,
		&calculated, &w.CalculateMessage, &claimed, &w.ClaimMessage, &settled, &w.SettleMessage, &redeemed, &w.RedeemMessage,
		&w.EventCount, &w.EventTotalAmount, &w.Bill.ID, &w.Bill.Name, &w.Bill.Type, &w.Bill.StartDate, &w.Bill.EndDate,
		&w.Bill.SettlementDate, &w.Bill.Status, &billCreated); err != nil {
		return nil, err
	}
	w.Voided, w.ClaimRequired = voided == 1, claimReq == 1
	if confirmed.Valid {
		w.ConfirmedAmount = &confirmed.Int64
	}
	w.ClaimBefore, w.ExpiredAt, w.CreatedAt = fromMicros(claimBefore), fromMicros(expired), fromMicros(created)
	w.CalculatedAt, w.ClaimedAt, w.SettledAt = fromMicros(calculated), fromMicros(claimed), fromMicros(settled)
	w.RedeemedAt, w.Bill.CreatedAt = fromMicros(redeemed), fromMicros(billCreated)
	w.Bill.CampaignID, w.Bill.OfferID = w.CampaignID, w.OfferID
	return &w, nil
}

// visibleTo is the contract's visibility rule for reward r and the app bound to the first
// placeholder pair: one of the reward's cards is bound to a user of the app or was enrolled
// in the campaign through the app.
const visibleTo = ` EXISTS (SELECT 1 FROM reward_cards v WHERE v.reward_id = r.reward_id AND (
	EXISTS (SELECT 1 FROM bindings g WHERE g.app_id = ? AND g.card_id = v.card_id) OR
	EXISTS (SELECT 1 FROM enrollments e WHERE e.app_id = ? AND e.card_id = v.card_id AND e.campaign_id = r.campaign_id))) `

// cardKnownTo holds when the card rc is bound to a user of the app bound to the first
// placeholder pair, or was enrolled in reward r's campaign through it: the visibility rule
// met by that card itself.
const cardKnownTo = ` (EXISTS (SELECT 1 FROM bindings g WHERE g.app_id = ? AND g.card_id = rc.card_id) OR
	EXISTS (SELECT 1 FROM enrollments e WHERE e.app_id = ? AND e.card_id = rc.card_id AND e.campaign_id = r.campaign_id)) `

// ListRewards answers one page of the rewards that q selects, visible to q.AppID and not
// voided, newest first (then by rewardId), and the total count. By card, the card itself must
// be bound to a user of the app or enrolled through it.
func (s *Store) ListRewards(ctx context.Context, q vsrp.RewardQuery) ([]*vsrp.Reward, int, error) {
	if len(q.CampaignIDs) == 0 {
		return nil, 0, nil
	}
	var from strings.Builder
	var args []any
	if q.CardID != "" {
		// The card asked for must be one the app knows, not only another card of the reward:
		// else an app that sees an account's reward through one card would learn, card by card,
		// which other cards are the same person's in another app (keepAppCards hides them).
		from.WriteString(` FROM reward_cards rc JOIN rewards r ON r.reward_id = rc.reward_id JOIN bills b ON b.bill_id = r.bill_id
			WHERE rc.card_id = ? AND` + cardKnownTo)
		args = append(args, q.CardID, q.AppID, q.AppID)
	} else {
		from.WriteString(` FROM rewards r JOIN bills b ON b.bill_id = r.bill_id WHERE (r.reward_id IN (SELECT rc.reward_id
			FROM reward_cards rc JOIN bindings g ON g.card_id = rc.card_id WHERE g.app_id = ? AND g.vuid = ?)
			OR (r.account_app_id = ? AND r.account_vuid = ?))`)
		args = append(args, q.AppID, q.Vuid, q.AppID, q.Vuid)
	}
	from.WriteString(` AND r.voided = 0 AND r.status >= ? AND r.campaign_id IN (?` + strings.Repeat(", ?", len(q.CampaignIDs)-1) + `)`)
	args = append(args, q.MinStatus)
	for _, c := range q.CampaignIDs {
		args = append(args, c)
	}
	if q.BillStartDate != "" {
		from.WriteString(` AND b.start_date >= ?`)
		args = append(args, q.BillStartDate)
	}
	if q.BillEndDate != "" {
		from.WriteString(` AND b.end_date <= ?`)
		args = append(args, q.BillEndDate)
	}
	offset := q.Page * q.PageSize
	if q.PageSize > 0 && q.Page > math.MaxInt/q.PageSize {
		offset = math.MaxInt // a page past any end: not an offset that wrapped round to a negative one
	}
	rs, total, err := s.rewardPage(ctx, from.String(), args, q.PageSize, offset)
	if err != nil {
		return nil, 0, err
	}
	return rs, total, s.keepAppCards(ctx, q.AppID, rs)
}

// keepAppCards leaves on rewards of several cards (an account's) only the cards the app
// knows: bound to one of its users or enrolled through it. An app that sees an account's
// reward through one card does not learn the account's other cards.
func (s *Store) keepAppCards(ctx context.Context, appID string, rs []*vsrp.Reward) error {
	var cards []any
	for _, r := range rs {
		if len(r.CardIDs) > 1 {
			for _, c := range r.CardIDs {
				cards = append(cards, c)
			}
		}
	}
	if len(cards) == 0 {
		return nil
	}
	in := inList(len(cards))
	known, err := collectStrings(s.db.QueryContext(ctx, s.q(`SELECT card_id FROM bindings WHERE app_id = ? AND card_id IN `+in+`
		UNION SELECT card_id FROM enrollments WHERE app_id = ? AND card_id IN `+in),
		append(append(append([]any{appID}, cards...), appID), cards...)...))
	if err != nil {
		return s.wrap(err)
	}
	seen := make(map[string]bool, len(known))
	for _, c := range known {
		seen[c] = true
	}
	for _, r := range rs {
		if len(r.CardIDs) > 1 {
			r.CardIDs = slices.DeleteFunc(r.CardIDs, func(c string) bool { return !seen[c] })
		}
	}
	return nil
}

// rewardPage answers the rewards that fromWhere (a FROM … WHERE clause over rewards r and
// bills b) selects, newest first, one page of them with their cards and items, and the count.
func (s *Store) rewardPage(ctx context.Context, fromWhere string, args []any, limit, offset int) ([]*vsrp.Reward, int, error) {
	var total int
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*)`+fromWhere), args...).Scan(&total); err != nil {
		return nil, 0, s.wrap(err)
	}
	rows, err := s.db.QueryContext(ctx, s.q(rewardSelect+fromWhere+` ORDER BY r.created_at DESC, r.reward_id LIMIT ? OFFSET ?`),
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, s.wrap(err)
	}
	var out []*vsrp.Reward
	for rows.Next() {
		w, err := scanReward(rows)
		if err != nil {
			rows.Close()
			return nil, 0, err
		}
		out = append(out, w)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	return out, total, s.fillRewards(ctx, out)
}

// VisibleReward reads a reward that the app may see and that is not voided; vsrp.ErrNotFound
// for any other (missing, voided, of a campaign not in campaignIDs, or not visible).
func (s *Store) VisibleReward(ctx context.Context, appID string, campaignIDs []string, rewardID string) (*vsrp.Reward, error) {
	w, err := scanReward(s.db.QueryRowContext(ctx, s.q(rewardSelect+` FROM rewards r JOIN bills b ON b.bill_id = r.bill_id
		WHERE r.reward_id = ? AND r.voided = 0 AND`+visibleTo), rewardID, appID, appID))
	if err != nil {
		return nil, s.wrap(err)
	}
	granted := false
	for _, c := range campaignIDs {
		granted = granted || c == w.CampaignID
	}
	if !granted {
		return nil, vsrp.ErrNotFound
	}
	if err := s.fillRewards(ctx, []*vsrp.Reward{w}); err != nil {
		return nil, err
	}
	return w, s.keepAppCards(ctx, appID, []*vsrp.Reward{w})
}

// fillRewards loads the cards and items of the rewards, two queries for the lot.
func (s *Store) fillRewards(ctx context.Context, rs []*vsrp.Reward) error {
	if len(rs) == 0 {
		return nil
	}
	byID := make(map[string]*vsrp.Reward, len(rs))
	in := "?" + strings.Repeat(", ?", len(rs)-1)
	args := make([]any, len(rs))
	for i, r := range rs {
		byID[r.ID], args[i] = r, r.ID
		r.CardIDs, r.Items = []string{}, []vsrp.RewardItem{}
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT reward_id, card_id FROM reward_cards WHERE reward_id IN (`+in+`) ORDER BY card_id`), args...)
	if err != nil {
		return s.wrap(err)
	}
	for rows.Next() {
		var rid, cid string
		if err := rows.Scan(&rid, &cid); err != nil {
			rows.Close()
			return err
		}
		byID[rid].CardIDs = append(byID[rid].CardIDs, cid)
	}
	rows.Close()
	rows, err = s.db.QueryContext(ctx, s.q(`SELECT reward_id, type, code, status, expired_at, voided_at, redeemed_at, settled_at
		FROM reward_items WHERE reward_id IN (`+in+`) ORDER BY reward_id, seq`), args...)
	if err != nil {
		return s.wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var rid string
		var it vsrp.RewardItem
		var exp, void, red, set int64
		if err := rows.Scan(&rid, &it.Type, &it.Code, &it.Status, &exp, &void, &red, &set); err != nil {
			return err
		}
		it.ExpiredAt, it.VoidedAt, it.RedeemedAt, it.SettledAt = fromMicros(exp), fromMicros(void), fromMicros(red), fromMicros(set)
		byID[rid].Items = append(byID[rid].Items, it)
	}
	return rows.Err()
}

// CardUser answers the user to whom the card is bound in the app, or "".
func (s *Store) CardUser(ctx context.Context, appID, cardID string) (string, error) {
	var vuid string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT vuid FROM bindings WHERE app_id = ? AND card_id = ?`), appID, cardID).Scan(&vuid)
	if err == sql.ErrNoRows {
		return "", nil
	}
	return vuid, s.wrap(err)
}

// AdminRewardQuery selects rewards for operators, across apps.
type AdminRewardQuery struct {
	CardID, CampaignID, OfferID string
	AppID, Vuid                 string // rewards of the cards bound to this user, and the user's account rewards
	Status                      *int
	Limit, Offset               int
}

// AdminRewards answers rewards for operators (voided ones included), newest first, and the
// total count.
func (s *Store) AdminRewards(ctx context.Context, q AdminRewardQuery) ([]*vsrp.Reward, int, error) {
	where := ` FROM rewards r JOIN bills b ON b.bill_id = r.bill_id WHERE 1 = 1`
	var args []any
	if q.CardID != "" {
		where += ` AND r.reward_id IN (SELECT reward_id FROM reward_cards WHERE card_id = ?)`
		args = append(args, q.CardID)
	}
	if q.Vuid != "" {
		where += ` AND (r.reward_id IN (SELECT rc.reward_id FROM reward_cards rc JOIN bindings g ON g.card_id = rc.card_id
			WHERE g.app_id = ? AND g.vuid = ?) OR (r.account_app_id = ? AND r.account_vuid = ?))`
		args = append(args, q.AppID, q.Vuid, q.AppID, q.Vuid)
	}
	if q.CampaignID != "" {
		where += ` AND r.campaign_id = ?`
		args = append(args, q.CampaignID)
	}
	if q.OfferID != "" {
		where += ` AND b.offer_id = ?`
		args = append(args, q.OfferID)
	}
	if q.Status != nil {
		where += ` AND r.status = ?`
		args = append(args, *q.Status)
	}
	return s.rewardPage(ctx, where, args, q.Limit, q.Offset)
}

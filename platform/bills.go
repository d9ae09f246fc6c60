package platform

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/engine"
	"github.com/vsrp-dev/vsrp/store"
)

// ErrNotDue is returned by GenerateBill before the bill falls due, unless forced.
var ErrNotDue = fmt.Errorf("%w: the bill's period has not ended plus its settlement delay; generate with force to do it now", vsrp.ErrConflict)

// ErrChangePending is returned by GenerateBill while the campaign's last change is being
// re-evaluated: the bill's rewards do not follow the document yet.
var ErrChangePending = fmt.Errorf("%w: the campaign's last change is still being re-evaluated; generate the bill once it is done", vsrp.ErrConflict)

// Bills lists a campaign's bills (every campaign's for "").
func (p *Platform) Bills(ctx context.Context, campaignID string) ([]*store.BillSummary, error) {
	bills, err := p.store.Bills(ctx, campaignID)
	return bills, storeErr(err)
}

// offerOf answers the compiled offer of a bill.
func (p *Platform) offerOf(ctx context.Context, campaignID, offerID string) (*engine.Offer, error) {
	c, err := p.compiledCampaign(campaignID, func(id string) (*store.CampaignDoc, error) { return p.store.Campaign(ctx, id, 0) })
	if err != nil {
		return nil, storeErr(err)
	}
	for _, o := range c.offers {
		if o.OfferID == offerID {
			return o, nil
		}
	}
	return nil, vsrp.ErrNotFound
}

// billAndOffer reads a bill and its compiled offer; vsrp.ErrNotFound for an unknown bill.
func (p *Platform) billAndOffer(ctx context.Context, billID string) (*store.BillSummary, *engine.Offer, error) {
	b, err := p.store.BillByID(ctx, billID)
	if err != nil {
		if errors.Is(err, vsrp.ErrNotFound) {
			return nil, nil, err
		}
		return nil, nil, storeErr(err)
	}
	o, err := p.offerOf(ctx, b.CampaignID, b.OfferID)
	return b, o, err
}

// dueAt is when a bill falls due: the start of its settlement date in the campaign's zone.
func dueAt(o *engine.Offer, b *store.BillSummary) time.Time {
	d, _ := time.Parse(time.DateOnly, b.SettlementDate)
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, o.Loc)
}

// GenerateBill generates an open bill: met rewards become 2 with their amounts confirmed and
// claimBefore set (generation + claimDays; none when claimDays is 0); rewards not met stay 0, final. Before the bill
// falls due it answers ErrNotDue unless force; while the campaign's last change is being
// re-evaluated, ErrChangePending; out of order it answers a conflict.
func (p *Platform) GenerateBill(ctx context.Context, billID string, force bool) (*store.BillSummary, error) {
	b, o, err := p.billAndOffer(ctx, billID)
	if err != nil {
		return nil, err
	}
	if b.Status != vsrp.BillOpen {
		return nil, stepConflict(b.Status, "generate", "an open bill")
	}
	now := p.now()
	if !force && now.Before(dueAt(o, b)) {
		return nil, ErrNotDue
	}
	err = p.store.WriteTx(ctx, func(tx *store.Tx) error {
		// Ingestion evaluates an offer holding its lock from reading its bills' status to its
		// commit: generating waits for it, so no reward lands on the bill once it is generated.
		if err := tx.LockOffer(o.OfferID); err != nil {
			return err
		}
		// A change of the campaign not yet re-evaluated would leave the bill with rewards of
		// the document before it, which nothing may change once the bill is generated.
		doc, err := tx.Campaign(b.CampaignID)
		if err != nil {
			return err
		}
		if doc.EvaluatedVersion < doc.Version {
			return ErrChangePending
		}
		var claimBefore time.Time // claimDays 0: no deadline to claim
		if o.ClaimDays > 0 {
			claimBefore = now.AddDate(0, 0, o.ClaimDays)
		}
		return tx.GenerateBill(billID, claimBefore, now)
	})
	if err != nil {
		return nil, p.lifecycleErr(ctx, err, billID, "generate", "an open bill")
	}
	return p.store.BillByID(ctx, billID)
}

// ApproveBill approves a generated bill: rewards that need no claim go to 3 (settling), the
// others become claimable.
func (p *Platform) ApproveBill(ctx context.Context, billID string) (*store.BillSummary, error) {
	if _, err := p.store.BillByID(ctx, billID); err != nil {
		return nil, err
	}
	err := p.store.WriteTx(ctx, func(tx *store.Tx) error {
		if err := tx.ApproveBill(billID, p.now()); err != nil {
			return err
		}
		return tx.SettleBillStatus(billID, p.now())
	})
	if err != nil {
		return nil, p.lifecycleErr(ctx, err, billID, "approve", "a generated bill")
	}
	return p.store.BillByID(ctx, billID)
}

// SettleResult is one reward's settlement result: status 4 (settled) or 5 (failed).
type SettleResult struct {
	RewardID string `json:"rewardId"`
	Status   int    `json:"status"`
	Message  string `json:"message"`
}

// SettleBill records settlement results of an approved bill, per reward or for every reward
// still settling (all = 4 or 5). Rewards reaching 4 notify their apps (outbox, same
// transaction). The bill becomes 3 once every reward is final, 4 when any failed.
func (p *Platform) SettleBill(ctx context.Context, billID string, results []SettleResult, all int) (*store.BillSummary, error) {
	var ve vsrp.ValidationError
	if all != 0 && all != vsrp.RewardSettled && all != vsrp.RewardFailed {
		ve.Add("all", "must be 4 (settled) or 5 (failed)")
	}
	if all == 0 && len(results) == 0 {
		ve.Add("results", "give results, or all")
	}
	for i, r := range results {
		if r.Status != vsrp.RewardSettled && r.Status != vsrp.RewardFailed {
			ve.Add(fmt.Sprintf("results[%d].status", i), "must be 4 (settled) or 5 (failed)")
		}
		if !plainText(r.Message) {
			ve.Add(fmt.Sprintf("results[%d].message", i), "must be UTF-8 text without NUL characters")
		}
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	_, o, err := p.billAndOffer(ctx, billID)
	if err != nil {
		return nil, err
	}
	now := p.now()
	err = p.store.WriteTx(ctx, func(tx *store.Tx) error {
		st, err := tx.BillStatus(billID)
		if err != nil {
			return err
		}
		if st != vsrp.BillApproved {
			return store.ErrBillState
		}
		if all != 0 {
			ids, err := tx.BillRewardsIn(billID, vsrp.RewardSettling)
			if err != nil {
				return err
			}
			results = results[:0]
			for _, id := range ids {
				results = append(results, SettleResult{RewardID: id, Status: all})
			}
		}
		var bad vsrp.ValidationError
		for i, r := range results {
			rs, err := tx.RewardStateOf(r.RewardID)
			if errors.Is(err, vsrp.ErrNotFound) || (err == nil && rs.BillID != billID) {
				bad.Add(fmt.Sprintf("results[%d].rewardId", i), "no such reward on this bill")
				continue
			}
			if err != nil {
				return err
			}
			if err := p.settleReward(tx, o, rs, r.Status, r.Message, "", now); err != nil {
				if errors.Is(err, vsrp.ErrConflict) {
					if all == 0 { // "all" settles what is still settling: one an app settled meanwhile is done
						bad.Add(fmt.Sprintf("results[%d].rewardId", i), "reward is not settling (status %d)", rs.Status)
					}
					continue
				}
				return err
			}
		}
		if err := bad.Err(); err != nil {
			return err
		}
		return tx.SettleBillStatus(billID, now)
	})
	if err != nil {
		return nil, p.lifecycleErr(ctx, err, billID, "settle", "an approved bill")
	}
	p.wakeNotifier()
	return p.store.BillByID(ctx, billID)
}

// settleReward moves a settling reward to 4 or 5. Reaching 4 sets expiredAt (settlement +
// validityDays) and notifies the apps, except the reporting one.
func (p *Platform) settleReward(tx *store.Tx, o *engine.Offer, rs *store.RewardState, status int, msg, reporter string, now time.Time) error {
	step, expires := store.StepFail, time.Time{}
	if status == vsrp.RewardSettled {
		step = store.StepSettle
		if o.Validity > 0 {
			expires = now.AddDate(0, 0, o.Validity)
		}
	}
	moved, err := tx.MoveReward(rs.ID, vsrp.RewardSettling, status, step, msg, expires, now)
	if err != nil {
		return err
	}
	if !moved {
		return vsrp.ErrConflict
	}
	if status == vsrp.RewardSettled {
		return p.enqueueIssued(tx, rs, reporter, now)
	}
	return nil
}

// lifecycleErr maps a store error of a bill step: a step out of order says what state the
// bill is in and what the step needs; other conflicts and validation problems pass through
// for the admin API's 409 and 400.
func (p *Platform) lifecycleErr(ctx context.Context, err error, billID, step, needs string) error {
	if errors.Is(err, store.ErrBillState) {
		if b, rerr := p.store.BillByID(ctx, billID); rerr == nil {
			return stepConflict(b.Status, step, needs)
		}
		return err
	}
	var ve *vsrp.ValidationError
	if errors.Is(err, vsrp.ErrConflict) || errors.Is(err, vsrp.ErrNotFound) || errors.As(err, &ve) {
		return err
	}
	return storeErr(err)
}

// stepConflict is the conflict of a bill step out of order.
func stepConflict(status int, step, needs string) error {
	return fmt.Errorf("%w: the bill is %s; %s needs %s", vsrp.ErrConflict, vsrp.BillStatusName(status), step, needs)
}

// AddCodes adds coupon codes to an offer's pool; it answers how many were new.
func (p *Platform) AddCodes(ctx context.Context, campaignID, offerID string, codes []vsrp.RewardItem) (int, error) {
	if _, err := p.offerOf(ctx, campaignID, offerID); err != nil {
		return 0, err
	}
	var ve vsrp.ValidationError
	for i, c := range codes {
		switch c.Type {
		case "barcode", "QR", "text", "url":
		default:
			ve.Add(fmt.Sprintf("codes[%d].type", i), "must be barcode, QR, text or url")
		}
		if c.Code == "" || len(c.Code) > 512 {
			ve.Add(fmt.Sprintf("codes[%d].code", i), "required, at most 512 characters")
		}
	}
	if len(codes) == 0 {
		ve.Add("codes", "give at least one code")
	}
	if err := ve.Err(); err != nil {
		return 0, err
	}
	n, err := p.store.AddCodes(ctx, offerID, codes, p.now())
	return n, storeErr(err)
}

// ClaimReward claims a claimable reward for the app and answers it with its confirmed amount: 2 → 3 with claimedAt set; a coupon
// reward gets codes from its offer's pool (one per unit) and goes straight to 4, or, when the
// pool has too few, answers code 1 and stays claimable.
// Exactly one of concurrent claims wins. Errors: 3012 unknown or not visible; code 1 with the
// reason when it cannot be claimed now.
func (p *Platform) ClaimReward(ctx context.Context, a *vsrp.App, rewardID string) (*vsrp.Reward, int64, error) {
	r, err := p.ShowReward(ctx, a, rewardID)
	if err != nil {
		return nil, 0, err
	}
	if !r.ClaimRequired {
		return nil, 0, notClaimable("this reward needs no claim")
	}
	o, err := p.offerOf(ctx, r.CampaignID, r.OfferID)
	if err != nil {
		return nil, 0, storeErr(err)
	}
	now := p.now()
	var confirmed int64
	err = p.store.WriteTx(ctx, func(tx *store.Tx) error {
		rs, err := tx.RewardStateOf(rewardID)
		if err != nil {
			return err
		}
		billStatus, err := tx.BillStatus(rs.BillID)
		if err != nil {
			return err
		}
		switch {
		case rs.Status == vsrp.RewardSettling || rs.Status == vsrp.RewardSettled || rs.Status == vsrp.RewardRedeemed:
			return notClaimable("this reward was already claimed")
		case rs.Status == vsrp.RewardExpired:
			return notClaimable("the claim period has ended")
		case rs.Status == vsrp.RewardNotMet && billStatus >= vsrp.BillGenerated:
			return notClaimable("this reward did not meet its goal in its billing period")
		case rs.Status < vsrp.RewardToSettle || billStatus < vsrp.BillApproved:
			return notClaimable("the reward's bill is not approved yet")
		case rs.Status != vsrp.RewardToSettle:
			return notClaimable("this reward cannot be claimed in its status")
		case !rs.ClaimBefore.IsZero() && now.After(rs.ClaimBefore):
			return notClaimable("the claim period has ended")
		}
		confirmed = rs.Confirmed
		if rs.Type != "Coupon" { // coupons come from the offer's code pool; other rewards are settled later
			moved, err := tx.MoveReward(rewardID, vsrp.RewardToSettle, vsrp.RewardSettling, store.StepClaim, "claimed", time.Time{}, now)
			if err != nil {
				return err
			}
			if !moved {
				return notClaimable("this reward was already claimed")
			}
			return nil
		}
		units := int(rs.Confirmed)
		if units < 1 {
			units = 1
		}
		moved, err := tx.MoveReward(rewardID, vsrp.RewardToSettle, vsrp.RewardSettling, store.StepClaim, "claimed", time.Time{}, now)
		if err != nil {
			return err
		}
		if !moved {
			return notClaimable("this reward was already claimed")
		}
		got, err := tx.TakeCodes(rs.OfferID, rewardID, units, now)
		if err != nil {
			return err
		}
		if !got {
			return notClaimable("no coupon code is left in the pool; try again later")
		}
		rs.Status = vsrp.RewardSettling
		if err := p.settleReward(tx, o, rs, vsrp.RewardSettled, "coupon codes issued", "", now); err != nil {
			return err
		}
		return tx.SettleBillStatus(rs.BillID, now)
	})
	if err != nil {
		var ce *vsrp.Error
		if errors.As(err, &ce) {
			return nil, 0, err
		}
		if errors.Is(err, vsrp.ErrConflict) { // a concurrent claim took the codes or the reward first
			return nil, 0, notClaimable("this reward was already claimed")
		}
		return nil, 0, storeErr(err)
	}
	p.wakeNotifier()
	return r, confirmed, nil
}

func notClaimable(why string) error { return &vsrp.Error{Code: vsrp.CodeNotClaimable, Detail: why} }

// UpdateRewardStatus records what happened to a reward the app fulfils: 3→4 (issued), 3→5
// (failed), 4→6 (redeemed); the same status again is accepted and changes nothing. Anything
// else answers 3013; an unknown or invisible reward 3012. Reaching 4 notifies the other apps.
func (p *Platform) UpdateRewardStatus(ctx context.Context, a *vsrp.App, rewardID string, status int, msg string) error {
	if status != vsrp.RewardSettled && status != vsrp.RewardFailed && status != vsrp.RewardRedeemed {
		return vsrp.E(vsrp.CodeStatusChange)
	}
	if !plainText(msg) {
		return vsrp.Errorf(vsrp.CodeInvalidParam, "message must be UTF-8 text without NUL characters")
	}
	r, err := p.ShowReward(ctx, a, rewardID)
	if err != nil {
		return err
	}
	o, err := p.offerOf(ctx, r.CampaignID, r.OfferID)
	if err != nil {
		return storeErr(err)
	}
	now := p.now()
	update := func(tx *store.Tx) error {
		rs, err := tx.RewardStateOf(rewardID)
		if err != nil {
			return err
		}
		switch {
		case rs.Status == status:
			return nil
		case rs.Status == vsrp.RewardSettling && (status == vsrp.RewardSettled || status == vsrp.RewardFailed):
			if err := p.settleReward(tx, o, rs, status, msg, a.ID, now); err != nil {
				return err
			}
		case rs.Status == vsrp.RewardSettled && status == vsrp.RewardRedeemed:
			moved, err := tx.MoveReward(rewardID, vsrp.RewardSettled, vsrp.RewardRedeemed, store.StepRedeem, msg, time.Time{}, now)
			if err != nil {
				return err
			}
			if !moved {
				return vsrp.ErrConflict
			}
			if err := tx.RedeemItems(rewardID, now); err != nil {
				return err
			}
		default:
			return vsrp.E(vsrp.CodeStatusChange)
		}
		return tx.SettleBillStatus(rs.BillID, now)
	}
	err = p.store.WriteTx(ctx, update)
	if errors.Is(err, vsrp.ErrConflict) {
		// Moved concurrently (an operator's settlement, another report): look again. Already in
		// the reported status is a success (idempotent); anything else is a refused change.
		err = p.store.WriteTx(ctx, update)
	}
	switch {
	case err == nil:
		p.wakeNotifier()
		return nil
	case errors.Is(err, vsrp.ErrConflict):
		return vsrp.E(vsrp.CodeStatusChange)
	}
	var ce *vsrp.Error
	if errors.As(err, &ce) {
		return err
	}
	return storeErr(err)
}

// OfferDigits answers the decimals of an offer's transaction amounts (its campaign currency)
// and of its reward amounts.
func (p *Platform) OfferDigits(ctx context.Context, campaignID, offerID string) (currency, reward int, err error) {
	o, err := p.offerOf(ctx, campaignID, offerID)
	if err != nil {
		return 0, 0, err
	}
	return o.Digits, o.RewardDigits, nil
}

// RunDueWork does what falls due by the clock, once: it takes up interrupted re-evaluations of
// campaign changes, generates open bills whose period ended plus their settlement delay, and
// expires rewards past claimBefore or expiredAt. Every step is guarded in the database, so
// several processes may run it at once.
func (p *Platform) RunDueWork(ctx context.Context) error {
	now := p.now()
	// A campaign change whose re-evaluation was interrupted (a crash) is taken up again, before
	// the bills it decides are generated.
	stale, err := p.store.UnevaluatedCampaigns(ctx)
	if err != nil {
		return storeErr(err)
	}
	var failed error // its campaign's bills wait (ErrChangePending); the others' are generated
	for _, id := range stale {
		if err := p.Reevaluate(ctx, id); err != nil {
			failed = cmp.Or(failed, err)
			continue
		}
		p.log.InfoContext(ctx, "campaign change re-evaluated", "campaign_id", id)
	}
	bills, err := p.store.DueBills(ctx, now.AddDate(0, 0, 1).UTC().Format(time.DateOnly))
	if err != nil {
		return storeErr(err)
	}
	for _, b := range bills {
		_, err := p.GenerateBill(ctx, b.ID, false)
		switch {
		case err == nil:
			p.log.InfoContext(ctx, "bill generated", "bill_id", b.ID)
		case errors.Is(err, vsrp.ErrConflict), errors.Is(err, vsrp.ErrNotFound):
			// not due yet in its campaign's zone, or another process generated it
		default:
			return err
		}
	}
	if _, err := p.store.ExpireRewards(ctx, now); err != nil {
		return storeErr(err)
	}
	return failed
}

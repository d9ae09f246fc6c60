package platform

import (
	"context"
	"errors"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/vault"
)

// ListRewardsParams are listRewards' parameters (contract 6.8).
type ListRewardsParams struct {
	Vuid, CardID, CampaignID   string
	BillStartDate, BillEndDate string
	Status                     int // 0 all, 2 status ≥ 2, 4 status ≥ 4
	Page, PageSize             int
}

// RewardPage is one page of rewards.
type RewardPage struct {
	Rewards  []*vsrp.Reward
	Total    int
	Page     int
	PageSize int
}

// ListRewards lists the rewards the app may see of a card (cardId wins) or of a user's cards
// and account, newest first. Errors: 1002 neither cardId nor vuid, 1003 bad status, page,
// pageSize or date, 3001, 3005, 3011 campaign not granted.
func (p *Platform) ListRewards(ctx context.Context, a *vsrp.App, in ListRewardsParams) (*RewardPage, error) {
	q := vsrp.RewardQuery{AppID: a.ID, CampaignIDs: a.CampaignIDs, Page: in.Page, PageSize: in.PageSize,
		BillStartDate: in.BillStartDate, BillEndDate: in.BillEndDate}
	switch in.Status {
	case 0, 2, 4:
		q.MinStatus = in.Status
	default:
		return nil, vsrp.Errorf(vsrp.CodeInvalidParam, "status must be 0, 2 or 4")
	}
	if q.PageSize == 0 {
		q.PageSize = 20
	}
	if q.PageSize < 1 || q.PageSize > 100 || q.Page < 0 {
		return nil, vsrp.Errorf(vsrp.CodeInvalidParam, "page from 0; pageSize 1 to 100")
	}
	for _, d := range []string{in.BillStartDate, in.BillEndDate} {
		if _, err := time.Parse(time.DateOnly, d); d != "" && err != nil {
			return nil, vsrp.Errorf(vsrp.CodeInvalidParam, "bill dates are yyyy-MM-dd")
		}
	}
	if in.CampaignID != "" {
		if !a.HasCampaign(in.CampaignID) {
			return nil, vsrp.E(vsrp.CodeCampaignNone)
		}
		q.CampaignIDs = []string{in.CampaignID}
	}
	switch {
	case in.CardID != "":
		c, err := p.ResolveCard(ctx, a, in.CardID)
		if err != nil {
			return nil, err
		}
		q.CardID = c.ID
	case in.Vuid != "":
		if _, err := p.user(ctx, a, in.Vuid); err != nil {
			return nil, err
		}
		q.Vuid = in.Vuid
	default:
		return nil, vsrp.E(vsrp.CodeMissingParam)
	}
	rewards, total, err := p.store.ListRewards(ctx, q)
	if err != nil {
		return nil, storeErr(err)
	}
	return &RewardPage{Rewards: rewards, Total: total, Page: q.Page, PageSize: q.PageSize}, nil
}

// ShowReward answers one reward the app may see; 3012 for any other, exactly like a missing
// one.
func (p *Platform) ShowReward(ctx context.Context, a *vsrp.App, rewardID string) (*vsrp.Reward, error) {
	r, err := p.store.VisibleReward(ctx, a.ID, a.CampaignIDs, rewardID)
	if errors.Is(err, vsrp.ErrNotFound) {
		return nil, vsrp.E(vsrp.CodeRewardNotFound)
	}
	return r, storeErr(err)
}

// RewardUser answers the reward's user as the app knows it: the account's user, or the user
// to whom the reward's card is bound in the app, or "".
func (p *Platform) RewardUser(ctx context.Context, a *vsrp.App, r *vsrp.Reward) (string, error) {
	if r.AccountVuid != "" && r.AccountAppID == a.ID {
		return r.AccountVuid, nil
	}
	for _, c := range r.CardIDs {
		v, err := p.store.CardUser(ctx, a.ID, c)
		if err != nil {
			return "", storeErr(err)
		}
		if v != "" {
			return v, nil
		}
	}
	return "", nil
}

// AdminRewards searches rewards for operators. Limit defaults to 50 and is at most 500.
func (p *Platform) AdminRewards(ctx context.Context, q store.AdminRewardQuery) ([]*vsrp.Reward, int, error) {
	var ve vsrp.ValidationError
	if q.Limit == 0 {
		q.Limit = 50
	}
	if q.Limit < 1 || q.Limit > 500 {
		ve.Add("limit", "must be 1 to 500")
	}
	if q.Offset < 0 {
		ve.Add("offset", "must not be negative")
	}
	if q.Vuid != "" && q.AppID == "" {
		ve.Add("appId", "required with vuid: users belong to one app")
	}
	if err := ve.Err(); err != nil {
		return nil, 0, err
	}
	rs, total, err := p.store.AdminRewards(ctx, q)
	return rs, total, storeErr(err)
}

// SimulateTransaction pushes one transaction of one of the app's cards (bound to a user of
// the app, or enrolled through it) through the engine, in sandbox mode. A missing
// transactionId or transactionTime is filled in. Errors: 1002, 3002, 3003, 3005, 2007 (the
// card's issuer, or a campaign the card is enrolled in, not granted to the app).
func (p *Platform) SimulateTransaction(ctx context.Context, a *vsrp.App, in TxnInput) (IngestSummary, error) {
	if in.CardID == "" {
		return IngestSummary{}, vsrp.E(vsrp.CodeMissingParam)
	}
	c, err := p.ResolveCard(ctx, a, in.CardID)
	if err != nil {
		return IngestSummary{}, err
	}
	mine, err := p.store.CardOfApp(ctx, a.ID, c.ID)
	if err != nil {
		return IngestSummary{}, storeErr(err)
	}
	if !mine {
		return IngestSummary{}, vsrp.E(vsrp.CodeCardNotFound)
	}
	// The transaction counts for every campaign the card is enrolled in: one enrolled in a
	// campaign not granted to the app (another app's) would earn there, out of the app's sight.
	outside, err := p.store.CardEnrolledOutside(ctx, c.ID, a.CampaignIDs)
	if err != nil {
		return IngestSummary{}, storeErr(err)
	}
	if outside {
		return IngestSummary{}, vsrp.E(vsrp.CodeForbidden)
	}
	in.CardID, in.PAN = c.ID, ""
	if in.TransactionID == "" {
		in.TransactionID = vault.NewID("sim_")
	}
	if in.TransactionTime == "" {
		in.TransactionTime = p.now().Format(time.RFC3339Nano)
	}
	if in.Type == "" {
		in.Type = vsrp.Purchase
	}
	return p.Ingest(ctx, []TxnInput{in}, 1)
}

package httpapi

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
)

// billInfo is RewardInfo.bill, with the source document's capitalised date names.
type billInfo struct {
	CampaignID     string `json:"campaignId"`
	OfferID        string `json:"offerId"`
	BillID         string `json:"billId"`
	Status         int    `json:"status"`
	Name           string `json:"name"`
	Type           string `json:"type"`
	StartDate      string `json:"StartDate"`
	EndDate        string `json:"EndDate"`
	SettlementDate string `json:"SettlementDate"`
}

type rewardItem struct {
	Type       string  `json:"type"`
	Code       string  `json:"code"`
	Status     string  `json:"status"`
	ExpiredAt  *string `json:"expiredAt"`
	VoidedAt   *string `json:"voidedAt"`
	RedeemedAt *string `json:"redeemedAt"`
	SettledAt  *string `json:"settledAt"`
}

// rewardInfo is the contract's RewardInfo: status a string digit, RewardItems capitalised,
// claimRequired 0/1, amounts in major units, times null until reached.
type rewardInfo struct {
	RewardID         string       `json:"rewardId"`
	Vuid             string       `json:"vuid"`
	Bill             billInfo     `json:"bill"`
	Status           string       `json:"status"`
	Name             string       `json:"name"`
	Type             string       `json:"type"`
	Provider         string       `json:"provider"`
	Code             string       `json:"code"`
	Currency         string       `json:"currency"`
	CalculatedAmount json.Number  `json:"calculatedAmount"`
	ConfirmedAmount  *json.Number `json:"confirmedAmount"`
	RewardItems      []rewardItem `json:"RewardItems"`
	ClaimRequired    int          `json:"claimRequired"`
	ClaimBefore      *string      `json:"claimBefore"`
	ExpiredAt        *string      `json:"expiredAt"`
	CreatedAt        string       `json:"createdAt"`
	CalculatedAt     *string      `json:"calculatedAt"`
	CalculateMessage string       `json:"calculateMessage"`
	ClaimedAt        *string      `json:"claimedAt"`
	ClaimMessage     string       `json:"claimMessage"`
	SettledAt        *string      `json:"settledAt"`
	SettleMessage    string       `json:"settleMessage"`
	RedeemedAt       *string      `json:"redeemedAt"`
	RedeemMessage    string       `json:"redeemMessage"`
	EventCount       int64        `json:"eventCount"`
	EventTotalAmount json.Number  `json:"eventTotalAmount"`
	CardIDs          []string     `json:"cardIds"`
}

// rewardDigits are the decimals of a reward's amounts: cash in the currency's minor units,
// points, coupons and goods in whole units.
func rewardDigits(r *vsrp.Reward) int {
	switch r.Type {
	case "Point", "Coupon", "Material":
		return 0
	}
	d, _ := vsrp.MinorDigits(r.Currency)
	return d
}

func (a *API) rewardInfo(ctx context.Context, app *vsrp.App, r *vsrp.Reward) (rewardInfo, error) {
	vuid, err := a.p.RewardUser(ctx, app, r)
	if err != nil {
		return rewardInfo{}, err
	}
	digits := rewardDigits(r)
	cur, _ := vsrp.MinorDigits(r.Currency)
	info := rewardInfo{
		RewardID: r.ID, Vuid: vuid, Status: strconv.Itoa(r.Status), Name: r.Name, Type: r.Type, Provider: r.Provider,
		Code: r.Code, Currency: r.Currency, CalculatedAmount: json.Number(vsrp.FormatMinor(r.CalculatedAmount, digits)),
		ClaimRequired: flag(r.ClaimRequired), ClaimBefore: a.nullableTime(r.ClaimBefore), ExpiredAt: a.nullableTime(r.ExpiredAt),
		CreatedAt: a.datetime(r.CreatedAt), CalculatedAt: a.nullableTime(r.CalculatedAt), CalculateMessage: r.CalculateMessage,
		ClaimedAt: a.nullableTime(r.ClaimedAt), ClaimMessage: r.ClaimMessage, SettledAt: a.nullableTime(r.SettledAt),
		SettleMessage: r.SettleMessage, RedeemedAt: a.nullableTime(r.RedeemedAt), RedeemMessage: r.RedeemMessage,
		EventCount: r.EventCount, EventTotalAmount: json.Number(vsrp.FormatMinor(r.EventTotalAmount, cur)), CardIDs: r.CardIDs,
		Bill: billInfo{CampaignID: r.Bill.CampaignID, OfferID: r.Bill.OfferID, BillID: r.Bill.ID, Status: r.Bill.Status,
			Name: r.Bill.Name, Type: r.Bill.Type, StartDate: r.Bill.StartDate, EndDate: r.Bill.EndDate, SettlementDate: r.Bill.SettlementDate},
		RewardItems: make([]rewardItem, len(r.Items)),
	}
	if r.ConfirmedAmount != nil {
		n := json.Number(vsrp.FormatMinor(*r.ConfirmedAmount, digits))
		info.ConfirmedAmount = &n
	}
	for i, it := range r.Items {
		info.RewardItems[i] = rewardItem{Type: it.Type, Code: it.Code, Status: it.Status, ExpiredAt: a.nullableTime(it.ExpiredAt),
			VoidedAt: a.nullableTime(it.VoidedAt), RedeemedAt: a.nullableTime(it.RedeemedAt), SettledAt: a.nullableTime(it.SettledAt)}
	}
	return info, nil
}

func (a *API) listRewards(ctx context.Context, app *vsrp.App, payload []byte) (any, error) {
	var req struct {
		Vuid          string `json:"vuid"`
		CardID        string `json:"cardId"`
		CampaignID    string `json:"campaignId"`
		BillStartDate string `json:"billStartDate"`
		BillEndDate   string `json:"billEndDate"`
		Page          int    `json:"page"`
		PageSize      *int   `json:"pageSize"`
		Status        *int   `json:"status"`
	}
	if err := decodeParams(payload, &req); err != nil {
		return nil, err
	}
	if req.Status == nil {
		return nil, vsrp.E(vsrp.CodeMissingParam)
	}
	size := 0 // absent: the platform's default
	if req.PageSize != nil {
		if size = *req.PageSize; size == 0 { // sent: 1 to 100 (contract 6.9)
			return nil, vsrp.Errorf(vsrp.CodeInvalidParam, "page from 0; pageSize 1 to 100")
		}
	}
	page, err := a.p.ListRewards(ctx, app, platform.ListRewardsParams{Vuid: req.Vuid, CardID: req.CardID, CampaignID: req.CampaignID,
		BillStartDate: req.BillStartDate, BillEndDate: req.BillEndDate, Status: *req.Status, Page: req.Page, PageSize: size})
	if err != nil {
		return nil, err
	}
	out := make([]rewardInfo, len(page.Rewards))
	for i, r := range page.Rewards {
		if out[i], err = a.rewardInfo(ctx, app, r); err != nil {
			return nil, err
		}
	}
	return map[string]any{"totalRewards": page.Total, "page": page.Page, "pageSize": page.PageSize,
		"totalPages": (page.Total + page.PageSize - 1) / page.PageSize, "rewards": out}, nil
}

// rewardIDParam reads the rewardId parameter of showReward and claimReward.
func rewardIDParam(payload []byte) (string, error) {
	var req struct {
		RewardID *string `json:"rewardId"`
	}
	if err := decodeParams(payload, &req); err != nil {
		return "", err
	}
	if err := required(req.RewardID); err != nil {
		return "", err
	}
	return *req.RewardID, nil
}

func (a *API) showReward(ctx context.Context, app *vsrp.App, payload []byte) (any, error) {
	id, err := rewardIDParam(payload)
	if err != nil {
		return nil, err
	}
	r, err := a.p.ShowReward(ctx, app, id)
	if err != nil {
		return nil, err
	}
	return a.rewardInfo(ctx, app, r)
}

func (a *API) simulateTransaction(ctx context.Context, app *vsrp.App, payload []byte) (any, error) {
	var in platform.TxnInput
	if err := decodeParams(payload, &in); err != nil {
		return nil, err
	}
	return a.p.SimulateTransaction(ctx, app, in)
}

// adminRewardView is a reward as operators see it: RewardInfo plus what only they may see.
type adminRewardView struct {
	rewardInfo
	Voided       bool   `json:"voided"`
	AccountAppID string `json:"accountAppId,omitempty"`
}

func (a *API) adminRewards(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	q := store.AdminRewardQuery{CardID: qv.Get("cardId"), CampaignID: qv.Get("campaignId"), OfferID: qv.Get("offerId"),
		AppID: qv.Get("appId"), Vuid: qv.Get("vuid")}
	var ve vsrp.ValidationError
	if qv.Get("status") != "" {
		status := intQuery(qv, "status", 0, vsrp.RewardNotMet, vsrp.RewardExpired, &ve)
		q.Status = &status
	}
	if q.AppID != "" && q.Vuid == "" {
		// appId only says which app the vuid belongs to: alone it selects nothing, so it is
		// refused rather than ignored (an operator would take every app's rewards for one app's).
		ve.Add("appId", "only with vuid: it names the app of the user")
	}
	q.Limit, q.Offset = intQuery(qv, "limit", 0, 1, 500, &ve), intQuery(qv, "offset", 0, 0, math.MaxInt32, &ve)
	if err := ve.Err(); err != nil {
		a.adminFail(w, r, err)
		return
	}
	rewards, total, err := a.p.AdminRewards(r.Context(), q)
	if err != nil {
		a.adminFail(w, r, err)
		return
	}
	out := make([]adminRewardView, len(rewards))
	for i, rw := range rewards {
		info, err := a.rewardInfo(r.Context(), &vsrp.App{ID: rw.AccountAppID}, rw)
		if err != nil {
			a.adminFail(w, r, err)
			return
		}
		out[i] = adminRewardView{rewardInfo: info, Voided: rw.Voided, AccountAppID: rw.AccountAppID}
	}
	writeJSON(w, http.StatusOK, map[string]any{"total": total, "rewards": out})
}

func (a *API) claimReward(ctx context.Context, app *vsrp.App, payload []byte) (any, error) {
	id, err := rewardIDParam(payload)
	if err != nil {
		return nil, err
	}
	r, amount, err := a.p.ClaimReward(ctx, app, id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"confirmAmount": json.Number(vsrp.FormatMinor(amount, rewardDigits(r)))}, nil
}

func (a *API) updateRewardStatus(ctx context.Context, app *vsrp.App, payload []byte) (any, error) {
	var req struct {
		RewardID *string `json:"rewardId"`
		Status   *int    `json:"status"`
		Message  string  `json:"message"`
	}
	if err := decodeParams(payload, &req); err != nil {
		return nil, err
	}
	if err := required(req.RewardID); err != nil {
		return nil, err
	}
	if req.Status == nil {
		return nil, vsrp.E(vsrp.CodeMissingParam)
	}
	if len(req.Message) > 1024 {
		return nil, vsrp.Errorf(vsrp.CodeInvalidParam, "message is at most 1024 characters")
	}
	return nil, a.p.UpdateRewardStatus(ctx, app, *req.RewardID, *req.Status, req.Message)
}

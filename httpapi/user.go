package httpapi

import (
	"context"

	"github.com/vsrp-dev/vsrp"
)

// cardInfo is getCardInfo's CardInfo: panLast4, accountFundingSource and boolean flags.
type cardInfo struct {
	CardID               string  `json:"cardId"`
	Vuid                 *string `json:"vuid,omitempty"`
	BIN                  string  `json:"bin"`
	PanLast4             string  `json:"panLast4"`
	IssuerName           string  `json:"issuerName"`
	IssuerNameNative     string  `json:"issuerNameNative"`
	IssuingCountryCode   string  `json:"issuingCountryCode"`
	BID                  string  `json:"bid"`
	AccountFundingSource string  `json:"accountFundingSource"`
	ProductID            string  `json:"productId"`
	ProductName          string  `json:"productName"`
	ProductNameNative    string  `json:"productNameNative"`
	IsDualBrand          bool    `json:"isDualBrand"`
	IsChip               bool    `json:"isChip"`
	CreatedAt            string  `json:"createdAt"`
}

func (a *API) cardInfo(v *vsrp.CardView) cardInfo {
	c := cardInfo{
		CardID: v.ID, BIN: v.BIN, PanLast4: v.Last4, IssuerName: v.Attrs.IssuerName, IssuerNameNative: v.Attrs.IssuerNameNative,
		IssuingCountryCode: v.Attrs.IssuingCountryCode, BID: v.Attrs.BID, AccountFundingSource: v.Attrs.AccountFundingSource,
		ProductID: v.Attrs.ProductID, ProductName: v.Attrs.ProductName, ProductNameNative: v.Attrs.ProductNameNative,
		IsDualBrand: v.Attrs.IsDualBrand, IsChip: v.Attrs.IsChip, CreatedAt: a.datetime(v.CreatedAt),
	}
	if v.Vuid != "" {
		c.Vuid = &v.Vuid
	}
	return c
}

// listedCard is listCards' card: panLastFour, fundingSourceType and 0/1 flags.
type listedCard struct {
	CardID             string `json:"cardId"`
	BIN                string `json:"bin"`
	IssuingCountryCode string `json:"issuingCountryCode"`
	PanLastFour        string `json:"panLastFour"`
	BID                string `json:"bid"`
	IssuerName         string `json:"issuerName"`
	IssuerNameNative   string `json:"issuerNameNative"`
	FundingSourceType  string `json:"fundingSourceType"`
	ProductID          string `json:"productId"`
	ProductName        string `json:"productName"`
	ProductNameNative  string `json:"productNameNative"`
	IsDualBrand        int    `json:"isDualBrand"`
	IsChip             int    `json:"isChip"`
	CreatedAt          string `json:"createdAt"`
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (a *API) userCalls() map[string]appCall {
	return map[string]appCall{
		"getVuid":            {vsrp.ScopeUser, a.getVuid},
		"getCardInfo":        {vsrp.ScopeUser, a.getCardInfo},
		"addCard":            {vsrp.ScopeUser, a.addCard},
		"removeCard":         {vsrp.ScopeUser, a.removeCard},
		"listCards":          {vsrp.ScopeUser, a.listCards},
		"enroll":             {vsrp.ScopeEnroll, a.enroll},
		"showEnrollment":     {vsrp.ScopeEnroll, a.showEnrollment},
		"showEnrollments":    {vsrp.ScopeEnroll, a.showEnrollment}, // the source document's list spelling
		"listRewards":        {vsrp.ScopeReward, a.listRewards},
		"showReward":         {vsrp.ScopeReward, a.showReward},
		"claimReward":        {vsrp.ScopeReward, a.claimReward},
		"updateRewardStatus": {vsrp.ScopeReward, a.updateRewardStatus},
		// Routed only in sandbox mode (see serveApp).
		"sandbox/simulateTransaction": {vsrp.ScopeReward, a.simulateTransaction},
	}
}

func (a *API) getVuid(ctx context.Context, app *vsrp.App, payload []byte) (any, error) {
	var req struct {
		Auid *string `json:"auid"`
	}
	if err := decodeParams(payload, &req); err != nil {
		return nil, err
	}
	if req.Auid == nil {
		return nil, vsrp.E(vsrp.CodeMissingParam)
	}
	u, err := a.p.GetVuid(ctx, app, *req.Auid)
	if err != nil {
		return nil, err
	}
	return map[string]string{"vuid": u.Vuid, "createdAt": a.datetime(u.CreatedAt)}, nil
}

func (a *API) getCardInfo(ctx context.Context, app *vsrp.App, payload []byte) (any, error) {
	var req struct {
		PAN *string `json:"pan"`
	}
	if err := decodeParams(payload, &req); err != nil {
		return nil, err
	}
	if err := required(req.PAN); err != nil {
		return nil, err
	}
	v, err := a.p.CardInfo(ctx, app, *req.PAN)
	if err != nil {
		return nil, err
	}
	return a.cardInfo(v), nil
}

type vuidCard struct {
	Vuid   *string `json:"vuid"`
	CardID *string `json:"cardId"`
}

func (a *API) addCard(ctx context.Context, app *vsrp.App, payload []byte) (any, error) {
	var req vuidCard
	if err := decodeParams(payload, &req); err != nil {
		return nil, err
	}
	if err := required(req.Vuid, req.CardID); err != nil {
		return nil, err
	}
	return nil, a.p.AddCard(ctx, app, *req.Vuid, *req.CardID)
}

func (a *API) removeCard(ctx context.Context, app *vsrp.App, payload []byte) (any, error) {
	var req vuidCard
	if err := decodeParams(payload, &req); err != nil {
		return nil, err
	}
	if err := required(req.Vuid, req.CardID); err != nil {
		return nil, err
	}
	return nil, a.p.RemoveCard(ctx, app, *req.Vuid, *req.CardID)
}

func (a *API) listCards(ctx context.Context, app *vsrp.App, payload []byte) (any, error) {
	var req struct {
		Vuid *string `json:"vuid"`
		BID  string  `json:"bid"`
	}
	if err := decodeParams(payload, &req); err != nil {
		return nil, err
	}
	if err := required(req.Vuid); err != nil {
		return nil, err
	}
	cards, err := a.p.ListCards(ctx, app, *req.Vuid, req.BID)
	if err != nil {
		return nil, err
	}
	out := make([]listedCard, len(cards))
	for i, v := range cards {
		out[i] = listedCard{
			CardID: v.ID, BIN: v.BIN, IssuingCountryCode: v.Attrs.IssuingCountryCode, PanLastFour: v.Last4, BID: v.Attrs.BID,
			IssuerName: v.Attrs.IssuerName, IssuerNameNative: v.Attrs.IssuerNameNative, FundingSourceType: v.Attrs.AccountFundingSource,
			ProductID: v.Attrs.ProductID, ProductName: v.Attrs.ProductName, ProductNameNative: v.Attrs.ProductNameNative,
			IsDualBrand: flag(v.Attrs.IsDualBrand), IsChip: flag(v.Attrs.IsChip), CreatedAt: a.datetime(v.BoundAt),
		}
	}
	return map[string]any{"totalCards": len(out), "cards": out}, nil
}

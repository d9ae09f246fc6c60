package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
)

// billView is a bill for operators: BillInfo's names, totals and adjustments.
type billView struct {
	billInfo
	RewardCount int              `json:"rewardCount"`
	TotalAmount json.Number      `json:"totalAmount"`
	Adjustments []adjustmentView `json:"adjustments"`
	GeneratedAt *string          `json:"generatedAt"`
	ApprovedAt  *string          `json:"approvedAt"`
	SettledAt   *string          `json:"settledAt"`
}

type adjustmentView struct {
	TransactionID string      `json:"transactionId"`
	RewardID      string      `json:"rewardId,omitempty"` // none when the transaction earned no stored reward
	Type          string      `json:"type"`
	Amount        json.Number `json:"amount"`
	CreatedAt     string      `json:"createdAt"`
}

func (a *API) billView(r *http.Request, b *store.BillSummary) billView {
	money, digits := 2, 2
	if c, rd, err := a.p.OfferDigits(r.Context(), b.CampaignID, b.OfferID); err == nil {
		money, digits = c, rd
	}
	v := billView{
		billInfo: billInfo{CampaignID: b.CampaignID, OfferID: b.OfferID, BillID: b.ID, Status: b.Status, Name: b.Name, Type: b.Type,
			StartDate: b.StartDate, EndDate: b.EndDate, SettlementDate: b.SettlementDate},
		RewardCount: b.RewardCount, TotalAmount: json.Number(vsrp.FormatMinor(b.TotalAmount, digits)),
		Adjustments: make([]adjustmentView, len(b.Adjustments)), GeneratedAt: a.nullableTime(b.GeneratedAt),
		ApprovedAt: a.nullableTime(b.ApprovedAt), SettledAt: a.nullableTime(b.SettledAt),
	}
	for i, adj := range b.Adjustments {
		v.Adjustments[i] = adjustmentView{TransactionID: adj.TxnID, RewardID: adj.RewardID, Type: adj.Type,
			Amount: json.Number(vsrp.FormatMinor(adj.Amount, money)), CreatedAt: a.datetime(adj.CreatedAt)}
	}
	return v
}

func (a *API) listBills(w http.ResponseWriter, r *http.Request) {
	bills, err := a.p.Bills(r.Context(), r.URL.Query().Get("campaignId"))
	if err != nil {
		a.adminFail(w, r, err)
		return
	}
	out := make([]billView, len(bills))
	for i, b := range bills {
		out[i] = a.billView(r, b)
	}
	writeJSON(w, http.StatusOK, map[string]any{"bills": out})
}

// billStep runs one lifecycle step and answers the bill.
func (a *API) billStep(w http.ResponseWriter, r *http.Request, step func(id string) (*store.BillSummary, error)) {
	b, err := step(r.PathValue("billId"))
	if err != nil {
		a.adminFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.billView(r, b))
}

// optionalBody decodes a JSON body into v; an empty body leaves v as it is.
func optionalBody(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		var ve vsrp.ValidationError
		ve.Add("body", "not valid JSON: %v", err)
		return &ve
	}
	return nil
}

func (a *API) generateBill(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Force bool `json:"force"`
	}
	if err := optionalBody(r, &body); err != nil {
		a.adminFail(w, r, err)
		return
	}
	a.billStep(w, r, func(id string) (*store.BillSummary, error) { return a.p.GenerateBill(r.Context(), id, body.Force) })
}

func (a *API) approveBill(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Force bool `json:"force"` // accepted and ignored: approval has no due date
	}
	if err := optionalBody(r, &body); err != nil {
		a.adminFail(w, r, err)
		return
	}
	a.billStep(w, r, func(id string) (*store.BillSummary, error) { return a.p.ApproveBill(r.Context(), id) })
}

func (a *API) settleBill(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Results []platform.SettleResult `json:"results"`
		All     int                     `json:"all"`
	}
	if err := optionalBody(r, &body); err != nil {
		a.adminFail(w, r, err)
		return
	}
	a.billStep(w, r, func(id string) (*store.BillSummary, error) {
		return a.p.SettleBill(r.Context(), id, body.Results, body.All)
	})
}

func (a *API) addCodes(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Codes []struct {
			Type      string `json:"type"`
			Code      string `json:"code"`
			ExpiredAt string `json:"expiredAt"`
		} `json:"codes"`
	}
	if err := decodeAdmin(r, &body); err != nil {
		a.adminFail(w, r, err)
		return
	}
	items := make([]vsrp.RewardItem, len(body.Codes))
	var ve vsrp.ValidationError
	for i, c := range body.Codes {
		items[i] = vsrp.RewardItem{Type: c.Type, Code: c.Code}
		if c.ExpiredAt != "" {
			t, err := parseTime(c.ExpiredAt)
			if err != nil {
				ve.Add("codes["+itoa(i)+"].expiredAt", "not an RFC 3339 time")
			}
			items[i].ExpiredAt = t
		}
	}
	if err := ve.Err(); err != nil {
		a.adminFail(w, r, err)
		return
	}
	n, err := a.p.AddCodes(r.Context(), r.PathValue("campaignId"), r.PathValue("offerId"), items)
	if err != nil {
		a.adminFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"added": n, "duplicates": len(items) - n})
}

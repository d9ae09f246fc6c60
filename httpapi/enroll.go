package httpapi

import (
	"context"
	"encoding/json"

	"github.com/vsrp-dev/vsrp"
)

func (a *API) enroll(ctx context.Context, app *vsrp.App, payload []byte) (any, error) {
	var req struct {
		CardID            *string         `json:"cardId"`
		EnrollmentGroupID *string         `json:"enrollmentGroupId"`
		UserExtendedData  json.RawMessage `json:"userExtendedData"`
	}
	if err := decodeParams(payload, &req); err != nil {
		return nil, err
	}
	if err := required(req.CardID, req.EnrollmentGroupID); err != nil {
		return nil, err
	}
	e, already, err := a.p.Enroll(ctx, app, *req.CardID, *req.EnrollmentGroupID, req.UserExtendedData)
	if err != nil {
		return nil, err
	}
	return map[string]any{"enrollmentId": e.ID, "alreadyEnrolled": already}, nil
}

type enrollmentInfo struct {
	EnrollmentID string          `json:"enrollmentId"`
	Card         cardInfo        `json:"card"`
	ExtendedData json.RawMessage `json:"extendedData"`
	CreatedAt    string          `json:"createdAt"`
}

func (a *API) showEnrollment(ctx context.Context, app *vsrp.App, payload []byte) (any, error) {
	var req struct {
		Vuid              string  `json:"vuid"`
		CardID            string  `json:"cardId"`
		EnrollmentGroupID *string `json:"enrollmentGroupId"`
	}
	if err := decodeParams(payload, &req); err != nil {
		return nil, err
	}
	if err := required(req.EnrollmentGroupID); err != nil {
		return nil, err
	}
	views, err := a.p.ShowEnrollment(ctx, app, req.Vuid, req.CardID, *req.EnrollmentGroupID)
	if err != nil {
		return nil, err
	}
	out := make([]enrollmentInfo, len(views))
	for i, v := range views {
		ext := json.RawMessage("null")
		if v.ExtendedData != nil {
			ext = v.ExtendedData
		}
		out[i] = enrollmentInfo{EnrollmentID: v.Enrollment.ID, Card: a.cardInfo(v.Card), ExtendedData: ext, CreatedAt: a.datetime(v.Enrollment.CreatedAt)}
	}
	return out, nil
}

package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/vault"
)

// MaxExtendedData is the largest userExtendedData accepted, serialized.
const MaxExtendedData = 4 << 10

// group answers an enrollment group visible to the app: one of a campaign granted to it.
// Any other group answers 3006, exactly like a missing one.
func (p *Platform) group(ctx context.Context, a *vsrp.App, id string) (*store.Group, error) {
	g, err := p.store.Group(ctx, id)
	if errors.Is(err, vsrp.ErrNotFound) || (err == nil && !a.HasCampaign(g.CampaignID)) {
		return nil, vsrp.E(vsrp.CodeGroupNotFound)
	}
	return g, storeErr(err)
}

// Enroll enrolls a card (cardId or PAN) into an enrollment group for the app. Enrolling an
// enrolled card again answers the first enrollment with already true, keeping its time and
// data. Errors: 3006 group unknown or not granted, 3002/3003/3005/2007 card, 3007 not open,
// 3008 not eligible, 3009 bad userExtendedData, 3010 full.
func (p *Platform) Enroll(ctx context.Context, a *vsrp.App, cardRef, groupID string, ext json.RawMessage) (*vsrp.Enrollment, bool, error) {
	g, err := p.group(ctx, a, groupID)
	if err != nil {
		return nil, false, err
	}
	card, err := p.ResolveCard(ctx, a, cardRef)
	if err != nil {
		return nil, false, err
	}
	if e, err := p.store.Enrollment(ctx, g.EnrollmentGroupID, card.ID); err == nil {
		return e, true, nil
	} else if !errors.Is(err, vsrp.ErrNotFound) {
		return nil, false, storeErr(err)
	}
	now := p.now()
	if !g.Open(now) {
		return nil, false, vsrp.E(vsrp.CodeGroupClosed)
	}
	pan, err := p.panFor(ctx, &g.Eligibility, card.ID)
	if err != nil {
		return nil, false, err
	}
	if !g.Eligibility.Admits(pan, card.Attrs) {
		return nil, false, vsrp.E(vsrp.CodeNotEligible)
	}
	data, err := extendedData(ext)
	if err != nil {
		return nil, false, err
	}
	e, already, err := p.store.Enroll(ctx, &vsrp.Enrollment{
		ID: vault.NewID("enr_"), GroupID: g.EnrollmentGroupID, CampaignID: g.CampaignID, CardID: card.ID,
		AppID: a.ID, ExtendedData: data, CreatedAt: now,
	})
	if errors.Is(err, store.ErrFull) {
		return nil, false, vsrp.E(vsrp.CodeGroupFull)
	}
	if err != nil || already {
		return e, already, storeErr(err)
	}
	// A feed may send a transaction dated up to MaxFutureSkew ahead of its arrival: one stored
	// before this enrollment but dated at or after it counts from now on (contract 8), and no
	// later ingestion would look at it again. Most enrollments find none and write nothing; a
	// batch not yet committed is seen by its own look after its commit (catchUpEnrollments).
	evaluate, err := p.store.HasTxnsSince(ctx, card.ID, e.CreatedAt)
	if err == nil && !evaluate && card.Vuid != "" {
		// A card bound to a user of the app joins the user's account where the campaign
		// aggregates by account: the account's rewards are evaluated again with it (they list
		// it), as when a card is bound (regroup), whether or not it has transactions yet.
		var c *compiled
		c, err = p.compiledCampaign(g.CampaignID, func(id string) (*store.CampaignDoc, error) { return p.store.Campaign(ctx, id, 0) })
		evaluate = err == nil && c != nil && c.campaign.Aggregation == "account"
	}
	if err == nil && evaluate {
		err = p.store.WriteTx(ctx, func(tx *store.Tx) error {
			return p.evaluateCards(ctx, tx, []string{card.ID}, nil, g.CampaignID, now)
		})
	}
	if err != nil {
		// The enrollment is made; only its transactions dated ahead of it (or its account's
		// rewards) are not evaluated.
		p.log.ErrorContext(ctx, "evaluate transactions dated after an enrollment", "card_id", card.ID,
			"campaign_id", g.CampaignID, "err", err)
	}
	return e, false, nil
}

// panFor unseals the card's PAN, only when a BIN rule needs it.
func (p *Platform) panFor(ctx context.Context, e *vsrp.Eligibility, cardID string) (string, error) {
	if len(e.BINs) == 0 {
		return "", nil
	}
	c, err := p.store.CardByID(ctx, cardID)
	if err != nil {
		return "", storeErr(err)
	}
	pan, err := p.vault.Open("pan", c.PANSealed)
	if err != nil {
		return "", vsrp.Internal(err)
	}
	return string(pan), nil
}

// extendedData checks userExtendedData: absent or null is none; otherwise a JSON object of at
// most 4 KiB serialized (3009). Text that is not UTF-8 answers 1003, as PostgreSQL's refusal of
// it does in the store: SQLite would keep it, and the answer would depend on the database.
func extendedData(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, vsrp.E(vsrp.CodeExtDataInvalid)
	}
	if !utf8.Valid(raw) {
		return nil, vsrp.Errorf(vsrp.CodeInvalidParam, "userExtendedData must be UTF-8 text")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil || compact.Len() > MaxExtendedData {
		return nil, vsrp.E(vsrp.CodeExtDataInvalid)
	}
	return compact.Bytes(), nil
}

// EnrollmentView is an enrollment as one app sees it: with the card seen from the app, and
// the extended data only when the app made the enrollment.
type EnrollmentView struct {
	Enrollment   *vsrp.Enrollment
	Card         *vsrp.CardView
	ExtendedData []byte // nil for other apps than the enrolling one
}

// ShowEnrollment lists the group's enrollments: with cardRef, that card's only (whether or not
// it belongs to the vuid); else with vuid, those of every card bound to the vuid in this app.
// Errors: 1002 neither given, 3006, 3001, card errors.
func (p *Platform) ShowEnrollment(ctx context.Context, a *vsrp.App, vuid, cardRef, groupID string) ([]EnrollmentView, error) {
	if cardRef == "" && vuid == "" {
		return nil, vsrp.E(vsrp.CodeMissingParam)
	}
	g, err := p.group(ctx, a, groupID)
	if err != nil {
		return nil, err
	}
	var enrollments []*vsrp.Enrollment
	if cardRef != "" {
		card, err := p.ResolveCard(ctx, a, cardRef)
		if err != nil {
			return nil, err
		}
		e, err := p.store.Enrollment(ctx, g.EnrollmentGroupID, card.ID)
		if err == nil {
			enrollments = append(enrollments, e)
		} else if !errors.Is(err, vsrp.ErrNotFound) {
			return nil, storeErr(err)
		}
	} else {
		if _, err := p.user(ctx, a, vuid); err != nil {
			return nil, err
		}
		if enrollments, err = p.store.UserEnrollments(ctx, a.ID, vuid, g.EnrollmentGroupID); err != nil {
			return nil, storeErr(err)
		}
	}
	out := make([]EnrollmentView, 0, len(enrollments))
	for _, e := range enrollments {
		card, err := p.store.CardView(ctx, a.ID, e.CardID)
		if err != nil {
			return nil, storeErr(err)
		}
		if !a.SeesBID(card.Attrs.BID) {
			continue // a card of an issuer the app may not see, as listCards leaves it out
		}
		v := EnrollmentView{Enrollment: e, Card: card}
		if e.AppID == a.ID {
			v.ExtendedData = e.ExtendedData
		}
		out = append(out, v)
	}
	return out, nil
}

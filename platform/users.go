package platform

import (
	"context"
	"errors"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/vault"
)

// ValidAuid reports whether auid is 1–255 code points of valid UTF-8 without control
// characters.
func ValidAuid(auid string) bool {
	n := utf8.RuneCountInString(auid)
	if n < 1 || n > 255 || !utf8.ValidString(auid) {
		return false
	}
	for _, r := range auid {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// GetVuid answers the app's user for auid, creating it on first sight: the same auid always
// gives the same vuid and createdAt, also under concurrent first calls. Errors: 3014.
func (p *Platform) GetVuid(ctx context.Context, a *vsrp.App, auid string) (*vsrp.User, error) {
	if !ValidAuid(auid) {
		return nil, vsrp.E(vsrp.CodeAuidInvalid)
	}
	u, err := p.store.User(ctx, a.ID, p.vault.Lookup("auid:"+a.ID, []byte(auid)), vault.NewID("vu_"), p.now())
	return u, storeErr(err)
}

func (p *Platform) user(ctx context.Context, a *vsrp.App, vuid string) (*vsrp.User, error) {
	if vuid == "" {
		return nil, vsrp.E(vsrp.CodeVuidNotFound)
	}
	u, err := p.store.UserByVuid(ctx, a.ID, vuid)
	if errors.Is(err, vsrp.ErrNotFound) {
		return nil, vsrp.E(vsrp.CodeVuidNotFound)
	}
	return u, storeErr(err)
}

// looksLikePAN tells a PAN from a platform cardId: cardIds are never all digits.
func looksLikePAN(ref string) bool {
	if ref == "" {
		return false
	}
	for i := 0; i < len(ref); i++ {
		if ref[i] < '0' || ref[i] > '9' {
			return false
		}
	}
	return true
}

// cardByPAN resolves a PAN to its card, creating the card on its first look-up.
// Errors: 3002 invalid number, 3003 BIN not configured.
func (p *Platform) cardByPAN(ctx context.Context, pan string) (*vsrp.Card, error) {
	if !vsrp.ValidPAN(pan) {
		return nil, vsrp.E(vsrp.CodeCardInvalid)
	}
	bin, err := p.store.MatchBIN(ctx, pan)
	if errors.Is(err, vsrp.ErrNotFound) {
		return nil, vsrp.E(vsrp.CodeCardNoBIN)
	}
	if err != nil {
		return nil, storeErr(err)
	}
	c, err := p.store.Card(ctx, &vsrp.Card{
		ID: vault.NewID("card_"), PANHash: p.vault.Lookup("pan", []byte(pan)), PANSealed: p.vault.Seal("pan", []byte(pan)),
		BIN: bin.BIN, Last4: pan[12:], CreatedAt: p.now(),
	})
	return c, storeErr(err)
}

// ResolveCard answers the card that ref names: a platform cardId, or a PAN (resolved and
// created as getCardInfo does), seen from the app. Errors: 3002, 3003, 3005, and 2007 for an
// issuer the app may not see.
func (p *Platform) ResolveCard(ctx context.Context, a *vsrp.App, ref string) (*vsrp.CardView, error) {
	cardID := ref
	if looksLikePAN(ref) {
		c, err := p.cardByPAN(ctx, ref)
		if err != nil {
			return nil, err
		}
		cardID = c.ID
	}
	if cardID == "" {
		return nil, vsrp.E(vsrp.CodeCardNotFound)
	}
	v, err := p.store.CardView(ctx, a.ID, cardID)
	if errors.Is(err, vsrp.ErrNotFound) {
		return nil, vsrp.E(vsrp.CodeCardNotFound)
	}
	if err != nil {
		return nil, storeErr(err)
	}
	if !a.SeesBID(v.Attrs.BID) {
		return nil, vsrp.E(vsrp.CodeForbidden)
	}
	return v, nil
}

// CardInfo answers the card with the PAN, creating it on its first look-up from any app.
// Errors: 3002, 3003, 2007.
func (p *Platform) CardInfo(ctx context.Context, a *vsrp.App, pan string) (*vsrp.CardView, error) {
	if !looksLikePAN(pan) {
		return nil, vsrp.E(vsrp.CodeCardInvalid)
	}
	return p.ResolveCard(ctx, a, pan)
}

// AddCard binds the card (cardId or PAN) to the app's user; again to the same user is a no-op.
// Errors: 3001, 3002, 3003, 3004, 3005, 2007.
func (p *Platform) AddCard(ctx context.Context, a *vsrp.App, vuid, cardRef string) error {
	if _, err := p.user(ctx, a, vuid); err != nil {
		return err
	}
	c, err := p.ResolveCard(ctx, a, cardRef)
	if err != nil {
		return err
	}
	now := p.now()
	err = p.store.WriteTx(ctx, func(tx *store.Tx) error {
		if err := tx.Bind(a.ID, c.ID, vuid, now); err != nil {
			return err
		}
		return p.regroup(ctx, tx, a.ID, c.ID, vuid, now)
	})
	if errors.Is(err, vsrp.ErrConflict) {
		return vsrp.E(vsrp.CodeCardBound)
	}
	return storeErr(err)
}

// RemoveCard unbinds the card from the app's user. Enrollments stay; under account
// aggregation the rewards of open bills are recomputed without the card (it counts for
// itself again).
// Errors: 3001, 3005 (also when the card is not bound to that user).
func (p *Platform) RemoveCard(ctx context.Context, a *vsrp.App, vuid, cardRef string) error {
	if _, err := p.user(ctx, a, vuid); err != nil {
		return err
	}
	c, err := p.ResolveCard(ctx, a, cardRef)
	if err != nil {
		return err
	}
	now := p.now()
	err = p.store.WriteTx(ctx, func(tx *store.Tx) error {
		if err := tx.Unbind(a.ID, c.ID, vuid); err != nil {
			return err
		}
		return p.regroup(ctx, tx, a.ID, c.ID, vuid, now)
	})
	if errors.Is(err, vsrp.ErrNotFound) {
		return vsrp.E(vsrp.CodeCardNotFound)
	}
	return storeErr(err)
}

// ListCards lists the cards bound to the app's user, newest binding first, optionally of one
// issuer; cards of issuers the app may not see are left out. Errors: 3001, 2007 for a bid
// outside the app's grants.
func (p *Platform) ListCards(ctx context.Context, a *vsrp.App, vuid, bid string) ([]*vsrp.CardView, error) {
	if _, err := p.user(ctx, a, vuid); err != nil {
		return nil, err
	}
	if bid != "" && !a.SeesBID(bid) {
		return nil, vsrp.E(vsrp.CodeForbidden)
	}
	cards, err := p.store.BoundCards(ctx, a.ID, vuid, bid)
	if err != nil {
		return nil, storeErr(err)
	}
	out := cards[:0]
	for _, c := range cards {
		if a.SeesBID(c.Attrs.BID) {
			out = append(out, c)
		}
	}
	return out, nil
}

// UpsertBINs validates and stores BIN rows. Every bad row is reported (field "rows[i].name")
// and nothing is stored when any row is bad.
func (p *Platform) UpsertBINs(ctx context.Context, rows []vsrp.BIN) error {
	var ve vsrp.ValidationError
	for i, b := range rows {
		f := "rows[" + strconv.Itoa(i) + "]."
		if (len(b.BIN) != 6 && len(b.BIN) != 8) || !looksLikePAN(b.BIN) || b.BIN[0] != '4' {
			ve.Add(f+"bin", "must be 6 or 8 digits starting with 4")
		}
		if b.BID == "" {
			ve.Add(f+"bid", "required")
		}
		switch b.AccountFundingSource {
		case "D", "C", "P":
		default:
			ve.Add(f+"accountFundingSource", "must be D, C or P")
		}
		if len(b.IssuingCountryCode) != 2 {
			ve.Add(f+"issuingCountryCode", "must be a 2-letter country code")
		}
	}
	if err := ve.Err(); err != nil {
		return err
	}
	return storeErr(p.store.UpsertBINs(ctx, rows, p.now()))
}

package platform

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/store"
)

// regroup brings up to date the rewards of account-aggregated campaigns after the card was
// bound to or unbound from the app's user vuid: the card's transactions move between its own
// unit and the user's account. In every such campaign the card enrolled in through the app,
// the units of the card and of the user's cards are evaluated again from their stored
// transactions, and the open-bill rewards of a unit that no longer exists (the card's own,
// once it joined the account; the account's, once its last card left) are voided. Generated
// bills are not touched. It runs in the transaction that changed the binding.
func (p *Platform) regroup(ctx context.Context, tx *store.Tx, appID, cardID, vuid string, now time.Time) error {
	owned, err := tx.UserCards(appID, vuid)
	if err != nil {
		return err
	}
	cards := append([]string{cardID}, owned...)
	slices.Sort(cards)
	cards = slices.Compact(cards)
	enrollments, err := tx.CardCampaigns(cards)
	if err != nil {
		return err
	}
	for _, e := range enrollments[cardID] {
		if e.AppID != appID {
			continue
		}
		c, err := p.compiledCampaign(e.CampaignID, tx.Campaign)
		if errors.Is(err, vsrp.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if c.campaign.Aggregation != "account" {
			continue
		}
		live := map[string]bool{} // the units the cards make up now
		for _, card := range cards {
			for _, ce := range enrollments[card] {
				if ce.CampaignID != e.CampaignID {
					continue
				}
				u, err := p.unitOf(tx, c.campaign, card, ce)
				if err != nil {
					return err
				}
				live[u.Key] = true
			}
		}
		units := []string{cardUnit(cardID), accountUnit(appID, vuid)}
		existing, err := tx.UnitRewards(units)
		if err != nil {
			return err
		}
		for _, u := range units {
			if live[u] {
				continue
			}
			for _, o := range c.offers {
				if err := voidUnit(tx, o, u, nil, existing, "the card's transactions count for another account now", now); err != nil {
					return err
				}
			}
		}
		if err := p.evaluateCards(ctx, tx, cards, nil, e.CampaignID, now); err != nil {
			return err
		}
	}
	return nil
}

package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/engine"
	"github.com/vsrp-dev/vsrp/store"
)

// ApplyResult says what applying a campaign document did, or would do (dry run).
type ApplyResult struct {
	CampaignID string   `json:"campaignId"`
	Version    int      `json:"version"`
	Changed    bool     `json:"changed"`
	DryRun     bool     `json:"dryRun,omitempty"`
	Changes    []string `json:"changes"` // one line per changed field path
}

// ApplyCampaign validates a campaign document (JSON) and applies it as a whole: it creates the
// campaign or replaces it with a new version, and brings its enrollment groups and offers in
// line. Every problem is reported at once (*vsrp.ValidationError) and an invalid document
// changes nothing; applying the same document again changes nothing. Removing a group that
// has enrollments answers vsrp.ErrConflict. With dryRun nothing is stored.
func (p *Platform) ApplyCampaign(ctx context.Context, pathID string, doc []byte, dryRun bool) (*ApplyResult, error) {
	c, err := vsrp.ParseCampaign(doc)
	if err != nil {
		return nil, err
	}
	verr := c.Validate()
	var ve *vsrp.ValidationError
	if verr != nil {
		ve = verr.(*vsrp.ValidationError)
	} else {
		ve = &vsrp.ValidationError{}
	}
	if c.CampaignID != pathID {
		ve.Add("campaignId", "must equal the campaign id of the path (%q)", pathID)
	}
	if err := p.checkIDOwners(ctx, c, ve); err != nil {
		return nil, err
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	canonical, err := json.Marshal(c)
	if err != nil {
		return nil, vsrp.Internal(err)
	}
	cur, err := p.store.Campaign(ctx, c.CampaignID, 0)
	var before []byte
	version := 1
	switch {
	case err == nil:
		before, version = canonicalDoc(cur.Doc), cur.Version
		if string(before) != string(canonical) {
			version++
		}
	case !errors.Is(err, vsrp.ErrNotFound):
		return nil, storeErr(err)
	}
	var ungenerated []string
	if before != nil {
		if ungenerated, err = p.checkHistory(ctx, before, c); err != nil {
			return nil, err
		}
	}
	res := &ApplyResult{CampaignID: c.CampaignID, Version: version, Changed: string(before) != string(canonical), DryRun: dryRun,
		Changes: diffJSON(before, canonical)}
	if dryRun || !res.Changed {
		return res, nil
	}
	v, changed, err := p.store.ApplyCampaignUngenerated(ctx, c, canonical, p.now(), ungenerated)
	if err != nil {
		if errors.Is(err, vsrp.ErrConflict) {
			return nil, err
		}
		return nil, storeErr(err)
	}
	res.Version, res.Changed = v, changed
	if changed && before != nil {
		// Rewards on open bills follow the offers as they are now.
		if err := p.Reevaluate(ctx, c.CampaignID); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// canonicalDoc writes a stored document as a document applied now would be written (numbers
// were kept as written before, 10.00 and 10 alike), so that applying it again changes nothing.
func canonicalDoc(doc []byte) []byte {
	c, err := vsrp.ParseCampaign(doc)
	if err != nil {
		return doc
	}
	out, err := json.Marshal(c)
	if err != nil {
		return doc
	}
	return out
}

// checkHistory refuses changes that would rewrite history: removing an offer that has rewards,
// or changing an offer's match, goal or reward, its billing period, or the campaign's timezone
// or currency once any of its bills was generated. It answers the offers whose changes it
// allowed only because none of their bills was generated: the store checks again as it
// applies the document (a bill may be generated meanwhile).
func (p *Platform) checkHistory(ctx context.Context, before []byte, next *vsrp.Campaign) ([]string, error) {
	prev, err := vsrp.ParseCampaign(before)
	if err != nil {
		return nil, vsrp.Internal(err)
	}
	var ungenerated []string
	for _, old := range prev.Offers {
		i := slices.IndexFunc(next.Offers, func(o vsrp.Offer) bool { return o.OfferID == old.OfferID })
		hasRewards, generated, err := p.store.OfferHistory(ctx, old.OfferID)
		if err != nil {
			return nil, storeErr(err)
		}
		if i < 0 {
			if hasRewards {
				return nil, fmt.Errorf("%w: offer %s has rewards and cannot be removed", vsrp.ErrConflict, old.OfferID)
			}
			continue
		}
		n := next.Offers[i]
		rules := !jsonEqual(old.Match, n.Match) || !jsonEqual(old.Goal, n.Goal) || !jsonEqual(old.Reward, n.Reward)
		cuts := prev.Timezone != next.Timezone || prev.Currency != next.Currency || old.Billing.Period != n.Billing.Period
		dates := prev.StartDate != next.StartDate || prev.EndDate != next.EndDate
		if !generated {
			if rules || cuts || dates {
				ungenerated = append(ungenerated, old.OfferID)
			}
			continue
		}
		if rules {
			return nil, fmt.Errorf("%w: offer %s has generated bills: its match, goal and reward can no longer change", vsrp.ErrConflict, old.OfferID)
		}
		// What the generated bills' periods and amounts were cut by cannot change either.
		if cuts {
			return nil, fmt.Errorf("%w: offer %s has generated bills: the campaign's timezone and currency and the offer's billing period can no longer change",
				vsrp.ErrConflict, old.OfferID)
		}
		if dates {
			if err := p.checkGeneratedPeriods(ctx, next, &n); err != nil {
				return nil, err
			}
		}
	}
	return ungenerated, nil
}

// checkGeneratedPeriods refuses campaign dates that would cut the period of one of the offer's
// generated bills differently (its first or last period, clipped to the dates): the bill's
// purchases would fall in a new, open bill of the recut period and be rewarded again.
func (p *Platform) checkGeneratedPeriods(ctx context.Context, next *vsrp.Campaign, n *vsrp.Offer) error {
	o, err := engine.Compile(next, n)
	if err != nil {
		return vsrp.Internal(err)
	}
	bills, err := p.store.Bills(ctx, next.CampaignID)
	if err != nil {
		return storeErr(err)
	}
	for _, b := range bills {
		if b.OfferID != n.OfferID || b.Status == vsrp.BillOpen {
			continue
		}
		for _, day := range []string{b.StartDate, b.EndDate} {
			d, err := time.ParseInLocation(time.DateOnly, day, o.Loc)
			if err != nil {
				return vsrp.Internal(err)
			}
			// Noon: within the day whatever the zone's clocks do at midnight.
			if per := o.PeriodOf(d.Add(12 * time.Hour)); per.Start != b.StartDate || per.End != b.EndDate {
				return fmt.Errorf("%w: offer %s has a generated bill for %s to %s: the campaign dates can no longer cut that period differently",
					vsrp.ErrConflict, n.OfferID, b.StartDate, b.EndDate)
			}
		}
	}
	return nil
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// checkIDOwners reports group and offer ids that another campaign already uses.
func (p *Platform) checkIDOwners(ctx context.Context, c *vsrp.Campaign, ve *vsrp.ValidationError) error {
	var gids, oids []string
	for _, g := range c.EnrollmentGroups {
		gids = append(gids, g.EnrollmentGroupID)
	}
	for _, o := range c.Offers {
		oids = append(oids, o.OfferID)
	}
	groups, offers, err := p.store.IDOwners(ctx, gids, oids)
	if err != nil {
		return storeErr(err)
	}
	for i, id := range gids {
		if owner, ok := groups[id]; ok && owner != c.CampaignID {
			ve.Add(fmt.Sprintf("enrollmentGroups[%d].enrollmentGroupId", i), "id %q is already used by campaign %s", id, owner)
		}
	}
	for i, id := range oids {
		if owner, ok := offers[id]; ok && owner != c.CampaignID {
			ve.Add(fmt.Sprintf("offers[%d].offerId", i), "id %q is already used by campaign %s", id, owner)
		}
	}
	return nil
}

// Campaign reads a campaign document: the current version for version 0.
func (p *Platform) Campaign(ctx context.Context, id string, version int) (*store.CampaignDoc, error) {
	d, err := p.store.Campaign(ctx, id, version)
	if errors.Is(err, vsrp.ErrNotFound) {
		return nil, err
	}
	return d, storeErr(err)
}

// diffJSON lists the leaf paths that differ between two JSON documents, as
// "path: old → new" (absent values show as "—").
func diffJSON(before, after []byte) []string {
	a, b := map[string]string{}, map[string]string{}
	flatten(before, "", a)
	flatten(after, "", b)
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		av, aok := a[k]
		bv, bok := b[k]
		switch {
		case !aok:
			out = append(out, fmt.Sprintf("%s: — → %s", k, bv))
		case !bok:
			out = append(out, fmt.Sprintf("%s: %s → —", k, av))
		case av != bv:
			out = append(out, fmt.Sprintf("%s: %s → %s", k, av, bv))
		}
	}
	sort.Strings(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func flatten(doc []byte, prefix string, out map[string]string) {
	if len(doc) == 0 {
		return
	}
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return
	}
	flattenValue(v, prefix, out)
}

func flattenValue(v any, prefix string, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flattenValue(e, p, out)
		}
	case []any:
		if len(x) == 0 {
			out[prefix] = "[]"
		}
		for i, e := range x {
			flattenValue(e, fmt.Sprintf("%s[%d]", prefix, i), out)
		}
	default:
		b, _ := json.Marshal(x)
		out[prefix] = string(b)
	}
}

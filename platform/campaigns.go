package platform

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/store"
)

// ApplyResult says what applying a campaign document did.
type ApplyResult struct {
	CampaignID string `json:"campaignId"`
	Version    int    `json:"version"`
	Changed    bool   `json:"changed"`
	DryRun     bool   `json:"dryRun,omitempty"`
}

// ApplyCampaign stores a campaign document (JSON) as the campaign's next version. Applying
// the same document again changes nothing.
func (p *Platform) ApplyCampaign(ctx context.Context, id string, doc []byte, dryRun bool) (*ApplyResult, error) {
	var ve vsrp.ValidationError
	var head struct {
		CampaignID string `json:"campaignId"`
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(doc, &obj); err != nil {
		ve.Add("body", "not a JSON or YAML object")
		return nil, &ve
	}
	_ = json.Unmarshal(doc, &head)
	if head.CampaignID != id {
		ve.Add("campaignId", "must equal the campaign id of the path (%q)", id)
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	canonical, err := json.Marshal(obj) // sorted keys: the same document always stores the same bytes
	if err != nil {
		return nil, vsrp.Internal(err)
	}
	if dryRun {
		cur, err := p.store.Campaign(ctx, id, 0)
		if errors.Is(err, vsrp.ErrNotFound) {
			return &ApplyResult{CampaignID: id, Version: 1, Changed: true, DryRun: true}, nil
		}
		if err != nil {
			return nil, storeErr(err)
		}
		changed := string(cur.Doc) != string(canonical)
		v := cur.Version
		if changed {
			v++
		}
		return &ApplyResult{CampaignID: id, Version: v, Changed: changed, DryRun: true}, nil
	}
	v, changed, err := p.store.PutCampaign(ctx, id, canonical, p.now())
	if err != nil {
		return nil, storeErr(err)
	}
	return &ApplyResult{CampaignID: id, Version: v, Changed: changed}, nil
}

// Campaign reads a campaign document: the current version for version 0.
func (p *Platform) Campaign(ctx context.Context, id string, version int) (*store.CampaignDoc, error) {
	d, err := p.store.Campaign(ctx, id, version)
	if errors.Is(err, vsrp.ErrNotFound) {
		return nil, err
	}
	return d, storeErr(err)
}

// Package sandbox loads the demo data of `vsrp serve --sandbox`: a demo app whose credentials
// and public key are written to a file, and BIN rows whose test card numbers the README lists,
// so an integrator can make a first encrypted call within minutes.
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
)

// AppName names the demo app; the sandbox finds it by this name on later starts.
const AppName = "Sandbox demo app"

// The demo campaign granted to the demo app, and its open enrollment group.
const (
	CampaignID = "CMP-DEMO"
	GroupID    = "EG-DEMO"
)

// BINs are the demo BIN rows.
var BINs = []vsrp.BIN{
	{BIN: "411111", BID: "B-DEMO-1", IssuerName: "Demo Bank", IssuerNameNative: "演示银行", IssuingCountryCode: "CN",
		AccountFundingSource: "C", ProductID: "P-PLAT", ProductName: "Visa Platinum", ProductNameNative: "白金卡", IsChip: true},
	{BIN: "42424242", BID: "B-DEMO-2", IssuerName: "Demo Savings Bank", IssuerNameNative: "演示储蓄银行", IssuingCountryCode: "HK",
		AccountFundingSource: "D", ProductID: "P-CLS", ProductName: "Visa Classic", ProductNameNative: "普卡", IsDualBrand: true, IsChip: true},
	{BIN: "400005", BID: "B-DEMO-3", IssuerName: "Demo Prepaid", IssuerNameNative: "演示预付", IssuingCountryCode: "CN",
		AccountFundingSource: "P", ProductID: "P-PRE", ProductName: "Visa Prepaid", ProductNameNative: "预付卡", IsChip: true},
}

// TestCards are Luhn-valid card numbers in the demo BINs (public test numbers, never real cards).
var TestCards = []string{"4111111111111111", "4242424242424242", "4000056655665556"}

// Credentials is the file the sandbox writes for the integrator.
type Credentials struct {
	AppID         string   `json:"appId"`
	AppSecret     string   `json:"appSecret"`
	WebhookSecret string   `json:"webhookSecret"`
	KeyID         string   `json:"keyId"`
	PublicKeyPEM  string   `json:"publicKeyPem"`
	CampaignID    string   `json:"campaignId"`
	TestCards     []string `json:"testCards"`
}

// Load creates (or, on a later start, refreshes the secret of) the demo app and the demo BINs,
// and writes the credentials to dir/vsrp-sandbox.json and the public key to
// dir/vsrp-sandbox-public.pem. It answers the credentials file's path.
func Load(ctx context.Context, p *platform.Platform, dir string) (string, *Credentials, error) {
	if err := p.UpsertBINs(ctx, BINs); err != nil {
		return "", nil, err
	}
	if err := demoCampaign(ctx, p); err != nil {
		return "", nil, err
	}
	creds, err := demoApp(ctx, p)
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, "vsrp-sandbox.json")
	buf, _ := json.MarshalIndent(creds, "", "  ")
	if err := os.WriteFile(path, append(buf, '\n'), 0o600); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "vsrp-sandbox-public.pem"), []byte(creds.PublicKeyPEM), 0o644); err != nil {
		return "", nil, err
	}
	return path, creds, nil
}

func demoApp(ctx context.Context, p *platform.Platform) (*Credentials, error) {
	apps, err := p.Apps(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range apps {
		if a.Name != AppName {
			continue
		}
		// Secrets are kept only as hashes, so a restart issues a new appSecret.
		s, err := p.RotateSecret(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		k, err := p.CurrentKey(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		return &Credentials{AppID: a.ID, AppSecret: s.AppSecret, WebhookSecret: s.WebhookSecret, KeyID: k.KeyID,
			PublicKeyPEM: k.PublicKeyPEM, CampaignID: CampaignID, TestCards: TestCards}, nil
	}
	name := AppName
	campaigns := []string{CampaignID}
	c, err := p.CreateApp(ctx, platform.AppSpec{Name: &name, CampaignIDs: &campaigns})
	if err != nil {
		return nil, err
	}
	return &Credentials{AppID: c.AppID, AppSecret: c.AppSecret, WebhookSecret: c.WebhookSecret, KeyID: c.KeyID,
		PublicKeyPEM: c.PublicKeyPEM, CampaignID: CampaignID, TestCards: TestCards}, nil
}

// demoCampaign applies the demo campaign once: running from 30 days ago for a year, with an
// enrollment group open all that time and a dining offer (10% back, up to 50 CNY a month).
// Later starts leave it as the operator may have changed it.
func demoCampaign(ctx context.Context, p *platform.Platform) error {
	if _, err := p.Campaign(ctx, CampaignID, 0); err == nil {
		return nil
	} else if !errors.Is(err, vsrp.ErrNotFound) {
		return err
	}
	loc, _ := time.LoadLocation("Asia/Shanghai")
	today := time.Now().In(loc)
	start, end := today.AddDate(0, 0, -30), today.AddDate(1, 0, 0)
	c := vsrp.Campaign{
		CampaignID: CampaignID, Name: "Demo dining cashback", NameNative: "演示餐饮返现", Timezone: "Asia/Shanghai",
		StartDate: start.Format(time.DateOnly), EndDate: end.Format(time.DateOnly), Currency: "CNY", Aggregation: "card",
		EnrollmentGroups: []vsrp.EnrollmentGroup{{
			EnrollmentGroupID: GroupID, Name: "Demo group", Capacity: 0,
			EnrollStart: time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, loc),
			EnrollEnd:   time.Date(end.Year(), end.Month(), end.Day(), 23, 59, 59, 0, loc),
		}},
		Offers: []vsrp.Offer{{
			OfferID: "OF-DEMO-DINING", Name: "10% back on dining, up to 50 a month",
			Billing: vsrp.Billing{Period: "month", SettlementDelayDays: 0},
			Match:   vsrp.Match{MCC: []string{"5812", "5814"}, MinAmount: "10"},
			Goal:    vsrp.Goal{Type: "each"},
			Reward:  vsrp.RewardSpec{Type: "Cash", Percent: "10", Cap: "50", Provider: "Demo Bank", Code: "DEMO10", ClaimDays: 30, ValidityDays: 90},
		}},
	}
	doc, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = p.ApplyCampaign(ctx, CampaignID, doc, false)
	return err
}

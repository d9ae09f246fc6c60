package platform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/vault"
)

// testNow is the fixed clock of these tests.
var testNow = time.Date(2027, 1, 10, 12, 0, 0, 0, time.UTC)

var testKey = bytes.Repeat([]byte{7}, vault.KeySize)

// localhost is the whitelist of the tests' apps: outside sandbox mode an app needs one.
var localhost = []string{"127.0.0.1/32", "::1/128"}

func newPlatform(t testing.TB, st *store.Store) *platform.Platform {
	return newPlatformAt(t, st, testNow)
}

// newPlatformAt is a platform whose clock stands at now.
func newPlatformAt(t testing.TB, st *store.Store, now time.Time) *platform.Platform {
	t.Helper()
	v, err := vault.New(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return platform.New(st, v, platform.Config{}, func() time.Time { return now }, slog.New(slog.NewJSONHandler(io.Discard, nil)))
}

// fixture is a platform with one BIN and two apps, A granted the campaign "CMP-T", B not.
type fixture struct {
	p    *platform.Platform
	a, b *vsrp.App
}

func setup(t testing.TB, st *store.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	p := newPlatform(t, st)
	bins := []vsrp.BIN{{BIN: "41111111", BID: "B1", IssuerName: "Bank", IssuingCountryCode: "CN", AccountFundingSource: "C", ProductID: "P1"},
		{BIN: "424242", BID: "B2", IssuerName: "Bank 2", IssuingCountryCode: "HK", AccountFundingSource: "D", ProductID: "P2"}}
	if err := p.UpsertBINs(ctx, bins); err != nil {
		t.Fatal(err)
	}
	app := func(name string, campaigns []string) *vsrp.App {
		c, err := p.CreateApp(ctx, platform.AppSpec{Name: &name, CampaignIDs: &campaigns, IPWhitelist: &localhost})
		if err != nil {
			t.Fatal(err)
		}
		a, err := p.App(ctx, c.AppID)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	return &fixture{p: p, a: app("A", []string{"CMP-T"}), b: app("B", []string{})}
}

func campaignDoc(groups ...map[string]any) []byte {
	doc := map[string]any{
		"campaignId": "CMP-T", "name": "Test", "timezone": "Asia/Shanghai", "startDate": "2027-01-01", "endDate": "2027-12-31",
		"currency": "CNY", "aggregation": "card", "enrollmentGroups": groups, "offers": []any{},
	}
	b, _ := json.Marshal(doc)
	return b
}

func group(id string, capacity int, eligibility map[string]any) map[string]any {
	return map[string]any{"enrollmentGroupId": id, "name": id, "enrollStart": "2027-01-01T00:00:00+08:00",
		"enrollEnd": "2027-06-30T23:59:59+08:00", "capacity": capacity, "eligibility": eligibility}
}

// pan makes a Luhn-valid PAN from a 15-digit prefix.
func pan(prefix15 string) string {
	sum := 0
	for i := 0; i < 15; i++ {
		d := int(prefix15[14-i] - '0')
		if i%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return prefix15 + fmt.Sprint((10-sum%10)%10)
}

func code(err error) vsrp.Code { return vsrp.ErrorCode(err) }

func platformSpec(campaigns []string) platform.AppSpec {
	return platform.AppSpec{CampaignIDs: &campaigns}
}

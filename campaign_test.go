package vsrp

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

const validCampaign = `{
  "campaignId": "CMP-T", "name": "Test", "timezone": "Asia/Shanghai",
  "startDate": "2027-01-01", "endDate": "2027-03-31", "currency": "CNY", "aggregation": "card",
  "enrollmentGroups": [{"enrollmentGroupId": "EG-1", "name": "G", "enrollStart": "2026-12-15T00:00:00+08:00",
    "enrollEnd": "2027-03-31T23:59:59+08:00", "capacity": 10,
    "eligibility": {"bins": ["411111"], "bids": [], "productIds": [], "countries": ["CN"], "fundingSources": ["C"]}}],
  "offers": [{"offerId": "OF-1", "name": "O", "billing": {"period": "month", "settlementDelayDays": 10},
    "match": {"mcc": ["5812"], "currencies": ["CNY"], "minAmount": 100.00},
    "goal": {"type": "spend", "threshold": 500},
    "reward": {"type": "Cash", "percent": 10, "cap": 50.00, "claimDays": 30, "validityDays": 90},
    "limits": {"perCardPerPeriod": 1, "perCardTotal": 3, "budget": 10000}}]
}`

// mutate applies edit to the valid document (as a generic JSON value) and parses the result.
func mutate(t *testing.T, edit func(doc map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(validCampaign), &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	b, _ := json.Marshal(doc)
	return b
}

func group0(d map[string]any) map[string]any {
	return d["enrollmentGroups"].([]any)[0].(map[string]any)
}
func offer0(d map[string]any) map[string]any        { return d["offers"].([]any)[0].(map[string]any) }
func sub(m map[string]any, k string) map[string]any { return m[k].(map[string]any) }

func problemsOf(t *testing.T, doc []byte) []FieldError {
	t.Helper()
	c, err := ParseCampaign(doc)
	if err == nil {
		err = c.Validate()
	}
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is not a *ValidationError", err)
	}
	return ve.Problems
}

func TestValidCampaignHasNoProblems(t *testing.T) {
	if p := problemsOf(t, []byte(validCampaign)); len(p) != 0 {
		t.Fatalf("valid document: %v", p)
	}
}

func TestCampaignValidationRules(t *testing.T) {
	for _, c := range []struct {
		rule  string
		field string
		edit  func(d map[string]any)
	}{
		{"unknown timezone", "timezone", func(d map[string]any) { d["timezone"] = "Mars/Olympus" }},
		{"endDate before startDate", "endDate", func(d map[string]any) { d["endDate"] = "2026-12-31" }},
		{"startDate not a date", "startDate", func(d map[string]any) { d["startDate"] = "01/01/2027" }},
		{"unknown currency", "currency", func(d map[string]any) { d["currency"] = "XYZ" }},
		{"bad aggregation", "aggregation", func(d map[string]any) { d["aggregation"] = "family" }},
		{"missing name", "name", func(d map[string]any) { d["name"] = "" }},
		{"duplicate group id", "enrollmentGroups[1].enrollmentGroupId", func(d map[string]any) {
			d["enrollmentGroups"] = append(d["enrollmentGroups"].([]any), group0(d))
		}},
		{"duplicate offer id", "offers[1].offerId", func(d map[string]any) { d["offers"] = append(d["offers"].([]any), offer0(d)) }},
		{"enrollEnd before enrollStart", "enrollmentGroups[0].enrollEnd", func(d map[string]any) {
			group0(d)["enrollEnd"] = "2026-12-01T00:00:00+08:00"
		}},
		{"negative capacity", "enrollmentGroups[0].capacity", func(d map[string]any) { group0(d)["capacity"] = -1 }},
		{"eligibility BIN not digits", "enrollmentGroups[0].eligibility.bins[0]", func(d map[string]any) {
			sub(group0(d), "eligibility")["bins"] = []any{"41x111"}
		}},
		{"eligibility funding source", "enrollmentGroups[0].eligibility.fundingSources[0]", func(d map[string]any) {
			sub(group0(d), "eligibility")["fundingSources"] = []any{"X"}
		}},
		{"MCC not 4 digits", "offers[0].match.mcc[0]", func(d map[string]any) { sub(offer0(d), "match")["mcc"] = []any{"581"} }},
		{"MCC letters", "offers[0].match.mcc[0]", func(d map[string]any) { sub(offer0(d), "match")["mcc"] = []any{"58a2"} }},
		{"match currency unknown", "offers[0].match.currencies[0]", func(d map[string]any) {
			sub(offer0(d), "match")["currencies"] = []any{"ABC"}
		}},
		{"match currency with more decimals than the campaign's", "offers[0].match.currencies[1]", func(d map[string]any) {
			d["currency"] = "JPY"
			sub(offer0(d), "match")["currencies"] = []any{"JPY", "CNY"}
			sub(offer0(d), "match")["minAmount"] = 100
		}},
		{"minAmount too many decimals", "offers[0].match.minAmount", func(d map[string]any) {
			sub(offer0(d), "match")["minAmount"] = json.Number("1.005")
		}},
		{"percent and amount both", "offers[0].reward", func(d map[string]any) { sub(offer0(d), "reward")["amount"] = 5 }},
		{"percent and amount neither", "offers[0].reward", func(d map[string]any) { delete(sub(offer0(d), "reward"), "percent") }},
		{"percent over 100", "offers[0].reward.percent", func(d map[string]any) { sub(offer0(d), "reward")["percent"] = 101 }},
		{"negative cap", "offers[0].reward.cap", func(d map[string]any) { sub(offer0(d), "reward")["cap"] = -1 }},
		{"unknown reward type", "offers[0].reward.type", func(d map[string]any) { sub(offer0(d), "reward")["type"] = "Gold" }},
		{"unknown goal type", "offers[0].goal.type", func(d map[string]any) { sub(offer0(d), "goal")["type"] = "streak" }},
		{"spend goal without threshold", "offers[0].goal.threshold", func(d map[string]any) { delete(sub(offer0(d), "goal"), "threshold") }},
		{"count goal fractional", "offers[0].goal.threshold", func(d map[string]any) {
			offer0(d)["goal"] = map[string]any{"type": "count", "threshold": 1.5}
			sub(offer0(d), "reward")["amount"] = 5
			delete(sub(offer0(d), "reward"), "percent")
		}},
		{"unknown billing period", "offers[0].billing.period", func(d map[string]any) { sub(offer0(d), "billing")["period"] = "year" }},
		{"negative settlement delay", "offers[0].billing.settlementDelayDays", func(d map[string]any) {
			sub(offer0(d), "billing")["settlementDelayDays"] = -2
		}},
		{"negative perCardPerPeriod", "offers[0].limits.perCardPerPeriod", func(d map[string]any) {
			sub(offer0(d), "limits")["perCardPerPeriod"] = -1
		}},
		{"negative perCardTotal", "offers[0].limits.perCardTotal", func(d map[string]any) { sub(offer0(d), "limits")["perCardTotal"] = -1 }},
		{"negative budget", "offers[0].limits.budget", func(d map[string]any) { sub(offer0(d), "limits")["budget"] = -5 }},
		{"unknown field", "offerz", func(d map[string]any) { d["offerz"] = []any{} }},
		{"wrong type", "enrollmentGroups.capacity", func(d map[string]any) { group0(d)["capacity"] = "ten" }},
	} {
		t.Run(c.rule, func(t *testing.T) {
			problems := problemsOf(t, mutate(t, c.edit))
			if !slices.ContainsFunc(problems, func(p FieldError) bool { return p.Field == c.field }) {
				t.Fatalf("want a problem at %q, got %v", c.field, problems)
			}
		})
	}
}

func TestCampaignValidationReportsEveryProblem(t *testing.T) {
	problems := problemsOf(t, mutate(t, func(d map[string]any) {
		d["timezone"] = "Nowhere/City"
		d["currency"] = "QQQ"
		sub(offer0(d), "match")["mcc"] = []any{"5812", "12"}
		sub(offer0(d), "goal")["type"] = "magic"
	}))
	var fields []string
	for _, p := range problems {
		fields = append(fields, p.Field)
	}
	for _, want := range []string{"timezone", "currency", "offers[0].match.mcc[1]", "offers[0].goal.type"} {
		if !slices.Contains(fields, want) {
			t.Errorf("missing problem %q in %s", want, strings.Join(fields, ", "))
		}
	}
}

func TestEligibility(t *testing.T) {
	attrs := BIN{BID: "B1", ProductID: "P1", IssuingCountryCode: "CN", AccountFundingSource: "C"}
	for _, c := range []struct {
		name string
		e    Eligibility
		want bool
	}{
		{"empty admits all", Eligibility{}, true},
		{"8-digit bin prefix", Eligibility{BINs: []string{"41111111"}}, true},
		{"other bin", Eligibility{BINs: []string{"42424242"}}, false},
		{"bid", Eligibility{BIDs: []string{"B2"}}, false},
		{"product", Eligibility{ProductIDs: []string{"P1"}}, true},
		{"country", Eligibility{Countries: []string{"HK"}}, false},
		{"funding", Eligibility{FundingSources: []string{"D", "C"}}, true},
	} {
		if got := c.e.Admits("4111111111111111", attrs); got != c.want {
			t.Errorf("%s: Admits = %v, want %v", c.name, got, c.want)
		}
	}
}

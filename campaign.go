package vsrp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Campaign is a campaign document (contract section 8), applied as a whole.
type Campaign struct {
	CampaignID       string            `json:"campaignId"`
	Name             string            `json:"name"`
	NameNative       string            `json:"nameNative,omitempty"`
	Timezone         string            `json:"timezone"`
	StartDate        string            `json:"startDate"` // yyyy-MM-dd, inclusive, campaign timezone
	EndDate          string            `json:"endDate"`   // inclusive
	Currency         string            `json:"currency"`
	Aggregation      string            `json:"aggregation"` // card | account
	EnrollmentGroups []EnrollmentGroup `json:"enrollmentGroups"`
	Offers           []Offer           `json:"offers"`
}

// EnrollmentGroup is what a card enrolls into.
type EnrollmentGroup struct {
	EnrollmentGroupID string      `json:"enrollmentGroupId"`
	Name              string      `json:"name"`
	EnrollStart       time.Time   `json:"enrollStart"`
	EnrollEnd         time.Time   `json:"enrollEnd"`
	Capacity          int64       `json:"capacity"` // 0 = no limit
	Eligibility       Eligibility `json:"eligibility"`
}

// Eligibility lists what a card must match to enroll; an empty list allows any.
type Eligibility struct {
	BINs           []string `json:"bins"`
	BIDs           []string `json:"bids"`
	ProductIDs     []string `json:"productIds"`
	Countries      []string `json:"countries"`
	FundingSources []string `json:"fundingSources"`
}

// Offer turns qualifying transactions of enrolled cards into rewards.
type Offer struct {
	OfferID string     `json:"offerId"`
	Name    string     `json:"name"`
	Billing Billing    `json:"billing"`
	Match   Match      `json:"match"`
	Goal    Goal       `json:"goal"`
	Reward  RewardSpec `json:"reward"`
	Limits  Limits     `json:"limits"`
}

// Billing sets an offer's billing period.
type Billing struct {
	Period              string `json:"period"` // day | week | month | campaign
	SettlementDelayDays int    `json:"settlementDelayDays"`
}

// Match filters the transactions that count; every given filter must hold.
type Match struct {
	MCC               []string `json:"mcc"`
	MerchantIDs       []string `json:"merchantIds"`
	MerchantCountries []string `json:"merchantCountries"`
	Currencies        []string `json:"currencies"`
	MinAmount         Decimal  `json:"minAmount,omitempty"`
}

// Goal is each, spend (threshold an amount) or count (threshold a number).
type Goal struct {
	Type      string  `json:"type"`
	Threshold Decimal `json:"threshold,omitempty"`
}

// RewardSpec says what an offer pays.
type RewardSpec struct {
	Type          string  `json:"type"` // Cash | Point | Coupon | Material | None
	Percent       Decimal `json:"percent,omitempty"`
	Amount        Decimal `json:"amount,omitempty"`
	Cap           Decimal `json:"cap,omitempty"`
	Provider      string  `json:"provider,omitempty"`
	Code          string  `json:"code,omitempty"`
	ClaimRequired bool    `json:"claimRequired"`
	ClaimDays     int     `json:"claimDays"`
	ValidityDays  int     `json:"validityDays"`
}

// Limits bound an offer's rewards; 0 = no limit; the budget is in reward units.
type Limits struct {
	PerCardPerPeriod int64   `json:"perCardPerPeriod"`
	PerCardTotal     int64   `json:"perCardTotal"`
	Budget           Decimal `json:"budget,omitempty"`
}

// ParseCampaign decodes a campaign document (JSON). Unknown fields and wrong types are
// reported as validation problems with their field path.
func ParseCampaign(doc []byte) (*Campaign, error) {
	var c Campaign
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var ve ValidationError
		var te *json.UnmarshalTypeError
		var pe *time.ParseError
		switch {
		case errors.As(err, &te):
			ve.Add(te.Field, "wrong type: want %s", te.Type)
		case errors.As(err, &pe):
			ve.Add("body", "a time is not RFC 3339: %q", pe.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			ve.Add(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field")
		default:
			ve.Add("body", "not a valid document: %v", err)
		}
		return nil, &ve
	}
	if _, err := dec.Token(); err != io.EOF {
		var ve ValidationError
		ve.Add("body", "trailing data after the document")
		return nil, &ve
	}
	return &c, nil
}

// Location answers the campaign's time zone.
func (c *Campaign) Location() (*time.Location, error) { return time.LoadLocation(c.Timezone) }

// Validate checks the document and reports every problem at once, each with its field path.
func (c *Campaign) Validate() error {
	var ve ValidationError
	if c.CampaignID == "" || len(c.CampaignID) > 64 {
		ve.Add("campaignId", "required, at most 64 characters")
	}
	if c.Name == "" {
		ve.Add("name", "required")
	}
	loc, err := time.LoadLocation(c.Timezone)
	if c.Timezone == "" || err != nil {
		ve.Add("timezone", "unknown time zone %q (use an IANA name such as Asia/Shanghai)", c.Timezone)
		loc = time.UTC
	}
	start, errS := time.ParseInLocation(time.DateOnly, c.StartDate, loc)
	if errS != nil {
		ve.Add("startDate", "must be a date yyyy-MM-dd")
	}
	end, errE := time.ParseInLocation(time.DateOnly, c.EndDate, loc)
	if errE != nil {
		ve.Add("endDate", "must be a date yyyy-MM-dd")
	}
	if errS == nil && errE == nil && end.Before(start) {
		ve.Add("endDate", "is before startDate")
	}
	digits, known := MinorDigits(c.Currency)
	if !known {
		ve.Add("currency", "unknown currency %q (no known minor-unit count)", c.Currency)
	}
	if c.Aggregation != "card" && c.Aggregation != "account" {
		ve.Add("aggregation", "must be card or account")
	}
	seen := map[string]string{}
	for i, g := range c.EnrollmentGroups {
		f := fmt.Sprintf("enrollmentGroups[%d]", i)
		if g.EnrollmentGroupID == "" {
			ve.Add(f+".enrollmentGroupId", "required")
		} else if prev, dup := seen[g.EnrollmentGroupID]; dup {
			ve.Add(f+".enrollmentGroupId", "duplicate id %q (also %s)", g.EnrollmentGroupID, prev)
		} else {
			seen[g.EnrollmentGroupID] = f
		}
		if g.EnrollStart.IsZero() {
			ve.Add(f+".enrollStart", "required (RFC 3339)")
		}
		if g.EnrollEnd.IsZero() {
			ve.Add(f+".enrollEnd", "required (RFC 3339)")
		}
		if !g.EnrollStart.IsZero() && !g.EnrollEnd.IsZero() && g.EnrollEnd.Before(g.EnrollStart) {
			ve.Add(f+".enrollEnd", "is before enrollStart")
		}
		if g.Capacity < 0 {
			ve.Add(f+".capacity", "must not be negative (0 = no limit)")
		}
		for j, b := range g.Eligibility.BINs {
			if (len(b) < 6 || len(b) > 8) || !allDigits(b) {
				ve.Add(fmt.Sprintf("%s.eligibility.bins[%d]", f, j), "must be 6 to 8 digits")
			}
		}
		for j, s := range g.Eligibility.FundingSources {
			if s != "D" && s != "C" && s != "P" {
				ve.Add(fmt.Sprintf("%s.eligibility.fundingSources[%d]", f, j), "must be D, C or P")
			}
		}
		for j, s := range g.Eligibility.Countries {
			if len(s) != 2 {
				ve.Add(fmt.Sprintf("%s.eligibility.countries[%d]", f, j), "must be a 2-letter country code")
			}
		}
	}
	seenOffers := map[string]string{}
	for i, o := range c.Offers {
		f := fmt.Sprintf("offers[%d]", i)
		if o.OfferID == "" {
			ve.Add(f+".offerId", "required")
		} else if prev, dup := seenOffers[o.OfferID]; dup {
			ve.Add(f+".offerId", "duplicate id %q (also %s)", o.OfferID, prev)
		} else {
			seenOffers[o.OfferID] = f
		}
		if o.Name == "" {
			ve.Add(f+".name", "required")
		}
		switch o.Billing.Period {
		case "day", "week", "month", "campaign":
		default:
			ve.Add(f+".billing.period", "must be day, week, month or campaign")
		}
		if o.Billing.SettlementDelayDays < 0 {
			ve.Add(f+".billing.settlementDelayDays", "must not be negative")
		}
		for j, m := range o.Match.MCC {
			if len(m) != 4 || !allDigits(m) {
				ve.Add(fmt.Sprintf("%s.match.mcc[%d]", f, j), "must be exactly 4 digits")
			}
		}
		for j, cur := range o.Match.Currencies {
			d, ok := MinorDigits(cur)
			own, known := MinorDigits(c.Currency)
			switch {
			case !ok:
				ve.Add(fmt.Sprintf("%s.match.currencies[%d]", f, j), "unknown currency %q", cur)
			case known && d > own:
				// Amounts count at face value, never converted: 12.34 in a currency with more
				// decimals than the campaign's would not be a whole number of its minor units.
				ve.Add(fmt.Sprintf("%s.match.currencies[%d]", f, j), "%s has more decimals than the campaign currency %s", cur, c.Currency)
			}
		}
		for j, s := range o.Match.MerchantCountries {
			if len(s) != 2 {
				ve.Add(fmt.Sprintf("%s.match.merchantCountries[%d]", f, j), "must be a 2-letter country code")
			}
		}
		amount := func(field string, d Decimal) {
			if d == "" || !known {
				return
			}
			if v, err := d.Scaled(digits); err != nil {
				ve.Add(field, "not an amount in %s: %v", c.Currency, err)
			} else if v < 0 {
				ve.Add(field, "must not be negative")
			}
		}
		amount(f+".match.minAmount", o.Match.MinAmount)
		switch o.Goal.Type {
		case "each":
			if o.Goal.Threshold != "" {
				ve.Add(f+".goal.threshold", "not used with goal each")
			}
		case "spend":
			if o.Goal.Threshold == "" {
				ve.Add(f+".goal.threshold", "required for goal spend (an amount)")
			}
			amount(f+".goal.threshold", o.Goal.Threshold)
		case "count":
			if n, err := o.Goal.Threshold.Scaled(0); err != nil || n < 1 {
				ve.Add(f+".goal.threshold", "required for goal count: a whole number ≥ 1")
			}
		default:
			ve.Add(f+".goal.type", "unknown goal type %q (each, spend, count)", o.Goal.Type)
		}
		r := o.Reward
		if !slices.Contains([]string{"Cash", "Point", "Coupon", "Material", "None"}, r.Type) {
			ve.Add(f+".reward.type", "must be Cash, Point, Coupon, Material or None")
		}
		rewardDigits := digits
		if r.Type == "Point" || r.Type == "Coupon" || r.Type == "Material" {
			rewardDigits = 0 // points and units are whole numbers
		}
		switch {
		case r.Percent != "" && r.Amount != "":
			ve.Add(f+".reward", "percent and amount both given: give exactly one")
		case r.Percent == "" && r.Amount == "" && r.Type != "None":
			ve.Add(f+".reward", "neither percent nor amount given: give exactly one")
		}
		if r.Percent != "" {
			if p, err := r.Percent.Scaled(4); err != nil || p <= 0 || p > 100_0000 {
				ve.Add(f+".reward.percent", "must be more than 0 and at most 100, at most 4 decimal places")
			}
			if o.Goal.Type == "count" {
				ve.Add(f+".reward.percent", "a count goal pays a fixed amount")
			}
		}
		if r.Amount != "" && known {
			if v, err := r.Amount.Scaled(rewardDigits); err != nil || v <= 0 {
				ve.Add(f+".reward.amount", "must be a positive amount with at most %d decimal places", rewardDigits)
			}
		}
		if r.Cap != "" && known {
			if v, err := r.Cap.Scaled(rewardDigits); err != nil || v <= 0 {
				ve.Add(f+".reward.cap", "must be a positive amount with at most %d decimal places", rewardDigits)
			}
		}
		if r.ClaimDays < 0 {
			ve.Add(f+".reward.claimDays", "must not be negative")
		}
		if r.ValidityDays < 0 {
			ve.Add(f+".reward.validityDays", "must not be negative")
		}
		if o.Limits.PerCardPerPeriod < 0 {
			ve.Add(f+".limits.perCardPerPeriod", "must not be negative")
		}
		if o.Limits.PerCardTotal < 0 {
			ve.Add(f+".limits.perCardTotal", "must not be negative")
		}
		if o.Limits.Budget != "" && known {
			if v, err := o.Limits.Budget.Scaled(rewardDigits); err != nil || v < 0 {
				ve.Add(f+".limits.budget", "must not be negative, at most %d decimal places", rewardDigits)
			}
		}
	}
	return ve.Err()
}

// Open reports whether the group takes enrollments at t.
func (g *EnrollmentGroup) Open(t time.Time) bool {
	return !t.Before(g.EnrollStart) && !t.After(g.EnrollEnd)
}

// Admits reports whether a card with the BIN attributes and PAN meets the eligibility rules.
func (e *Eligibility) Admits(pan string, attrs BIN) bool {
	if len(e.BINs) > 0 && !slices.ContainsFunc(e.BINs, func(b string) bool { return strings.HasPrefix(pan, b) }) {
		return false
	}
	return (len(e.BIDs) == 0 || slices.Contains(e.BIDs, attrs.BID)) &&
		(len(e.ProductIDs) == 0 || slices.Contains(e.ProductIDs, attrs.ProductID)) &&
		(len(e.Countries) == 0 || slices.Contains(e.Countries, attrs.IssuingCountryCode)) &&
		(len(e.FundingSources) == 0 || slices.Contains(e.FundingSources, attrs.AccountFundingSource))
}

// Enrollment is a card's enrollment into a group. It belongs to the card; AppID is the app
// that made it and the only one that sees ExtendedData.
type Enrollment struct {
	ID           string
	GroupID      string
	CampaignID   string
	CardID       string
	AppID        string
	ExtendedData []byte // JSON object or nil
	CreatedAt    time.Time
}

// Package engine holds the reward rules: pure functions from an offer and the transactions of
// one reward unit (a card, or an account: all cards one user bound in one app) to that unit's
// rewards. It does no I/O and reads no clock; the same inputs always give the same rewards,
// whatever order the transactions arrived in.
//
// Money is int64 minor units of the campaign currency throughout; reward amounts are in reward
// units (minor units for Cash and None, whole units for points, coupons and goods).
package engine

import (
	"fmt"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/vsrp-dev/vsrp"
)

// Transaction types, as in package vsrp.
const (
	Purchase = vsrp.Purchase
	Refund   = vsrp.Refund
	Reversal = vsrp.Reversal
)

// Txn is a stored transaction.
type Txn = vsrp.Transaction

// Offer is a campaign offer compiled for evaluation.
type Offer struct {
	CampaignID   string
	OfferID      string
	Name         string
	Loc          *time.Location
	Start, End   civil // campaign dates, inclusive
	Currency     string
	Digits       int // the currency's minor digits
	Period       string
	DelayDays    int
	MCC          []string
	MerchantIDs  []string
	Countries    []string
	Currencies   []string         // empty: the campaign currency only
	scale        map[string]int64 // per counting currency: its minor units → the campaign currency's
	MinAmount    int64
	Goal         string // each | spend | count
	Threshold    int64  // spend: minor units; count: purchases
	RewardType   string
	Percent      int64 // percent × 10^4; 0 when a fixed amount
	Amount       int64 // fixed amount in reward units
	Cap          int64 // 0 = none; reward units
	RewardDigits int   // decimals of reward units
	PerPeriod    int64 // rewards per unit per period; 0 = no limit
	PerTotal     int64 // rewards per unit in total; 0 = no limit
	Budget       int64 // reward units over all units; 0 = no limit
	ClaimDays    int
	Validity     int
	ClaimReq     bool
	Provider     string
	Code         string

	// Periods depend only on the day, and an offer is compiled once per campaign version:
	// day → Period and day → period start, computed once (safe for concurrent use).
	periods sync.Map
	starts  sync.Map
}

// Compile turns a validated campaign's offer into an Offer.
func Compile(c *vsrp.Campaign, o *vsrp.Offer) (*Offer, error) {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return nil, err
	}
	start, err := parseCivil(c.StartDate)
	if err != nil {
		return nil, err
	}
	end, err := parseCivil(c.EndDate)
	if err != nil {
		return nil, err
	}
	digits, ok := vsrp.MinorDigits(c.Currency)
	if !ok {
		return nil, fmt.Errorf("unknown currency %s", c.Currency)
	}
	rd := digits
	switch o.Reward.Type {
	case "Point", "Coupon", "Material":
		rd = 0
	}
	f := &Offer{CampaignID: c.CampaignID, OfferID: o.OfferID, Name: o.Name, Loc: loc, Start: start, End: end,
		Currency: c.Currency, Digits: digits, Period: o.Billing.Period, DelayDays: o.Billing.SettlementDelayDays,
		MCC: o.Match.MCC, MerchantIDs: o.Match.MerchantIDs, Countries: o.Match.MerchantCountries, Currencies: o.Match.Currencies,
		Goal: o.Goal.Type, RewardType: o.Reward.Type, RewardDigits: rd, PerPeriod: o.Limits.PerCardPerPeriod,
		PerTotal: o.Limits.PerCardTotal, ClaimDays: o.Reward.ClaimDays, Validity: o.Reward.ValidityDays,
		ClaimReq: o.Reward.ClaimRequired, Provider: o.Reward.Provider, Code: o.Reward.Code}
	f.scale = map[string]int64{c.Currency: 1}
	for _, cur := range o.Match.Currencies {
		d, ok := vsrp.MinorDigits(cur)
		if !ok || d > digits {
			return nil, fmt.Errorf("currency %s cannot count in a campaign in %s", cur, c.Currency)
		}
		f.scale[cur] = pow10(digits - d)
	}
	scaled := func(d vsrp.Decimal, digits int) (int64, error) {
		if d == "" {
			return 0, nil
		}
		return d.Scaled(digits)
	}
	var errs []error
	var e error
	f.MinAmount, e = scaled(o.Match.MinAmount, digits)
	errs = append(errs, e)
	switch o.Goal.Type {
	case "spend":
		f.Threshold, e = scaled(o.Goal.Threshold, digits)
	case "count":
		f.Threshold, e = scaled(o.Goal.Threshold, 0)
	}
	errs = append(errs, e)
	f.Percent, e = scaled(o.Reward.Percent, 4)
	errs = append(errs, e)
	f.Amount, e = scaled(o.Reward.Amount, rd)
	errs = append(errs, e)
	f.Cap, e = scaled(o.Reward.Cap, rd)
	errs = append(errs, e)
	f.Budget, e = scaled(o.Limits.Budget, rd)
	errs = append(errs, e)
	for _, e := range errs {
		if e != nil {
			return nil, e
		}
	}
	return f, nil
}

// AmountOf answers the transaction's amount in minor units of the campaign currency: amounts
// count at face value, never converted (JPY 1000 counts as 1000.00 in a campaign in CNY).
func (o *Offer) AmountOf(t *Txn) int64 {
	if f, ok := o.scale[t.Currency]; ok {
		return t.Amount * f
	}
	return t.Amount // a currency that does not count (Matches says no)
}

func pow10(n int) int64 {
	f := int64(1)
	for range n {
		f *= 10
	}
	return f
}

// Matches reports whether a purchase counts for the offer by its own fields: campaign dates
// in the campaign's zone, currency, MCC, merchant, merchant country and minimum amount.
// Enrollment is the caller's check.
func (o *Offer) Matches(t *Txn) bool {
	d := civilOf(t.Time.In(o.Loc))
	if d.before(o.Start) || o.End.before(d) {
		return false
	}
	if len(o.Currencies) == 0 {
		if t.Currency != o.Currency {
			return false
		}
	} else if !slices.Contains(o.Currencies, t.Currency) {
		return false
	}
	return (len(o.MCC) == 0 || slices.Contains(o.MCC, t.MCC)) &&
		(len(o.MerchantIDs) == 0 || slices.Contains(o.MerchantIDs, t.MerchantID)) &&
		(len(o.Countries) == 0 || slices.Contains(o.Countries, t.MerchantCountry))
}

// percentOf answers base × percent%, converted from currency minor units to reward units and
// rounded half-even. Intermediate products use big integers: no overflow, no float.
func (o *Offer) percentOf(base int64) int64 {
	num := new(big.Int).Mul(big.NewInt(base), big.NewInt(o.Percent))
	den := big.NewInt(100 * 10_000)
	for i := o.RewardDigits; i < o.Digits; i++ {
		den.Mul(den, big.NewInt(10))
	}
	for i := o.Digits; i < o.RewardDigits; i++ {
		num.Mul(num, big.NewInt(10))
	}
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	twice := new(big.Int).Mul(r, big.NewInt(2))
	switch twice.Cmp(den) {
	case 1:
		q.Add(q, big.NewInt(1))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
	}
	return q.Int64()
}

// payout answers what a met reward pays for the base spend, and whether the cap cut it.
func (o *Offer) payout(base int64) (int64, bool) {
	amt := o.Amount
	if o.Percent != 0 {
		amt = o.percentOf(base)
	}
	if o.Cap > 0 && amt > o.Cap {
		return o.Cap, true
	}
	return amt, false
}

func (o *Offer) money(v int64) string  { return vsrp.FormatMinor(v, o.Digits) }
func (o *Offer) reward(v int64) string { return vsrp.FormatMinor(v, o.RewardDigits) }

package engine

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Unit is a reward unit: a card, or an account (all cards one user bound in one app), with the
// time each of its cards enrolled in the campaign (transactions before it do not count).
type Unit struct {
	Key          string
	Cards        map[string]time.Time
	AccountAppID string // account units only
	AccountVuid  string
}

// CardIDs answers the unit's cards, sorted.
func (u *Unit) CardIDs() []string {
	ids := make([]string, 0, len(u.Cards))
	for c := range u.Cards {
		ids = append(ids, c)
	}
	slices.Sort(ids)
	return ids
}

// Result is one reward of a unit as the rules compute it, before the offer's budget.
type Result struct {
	Key        string // stable across evaluations: offer+unit+period, or offer+purchase for each
	Period     Period
	Met        bool  // the goal is met and no per-card limit holds it back
	Voided     bool  // each: its purchase no longer counts (refunded away, or under minAmount)
	Amount     int64 // reward units the reward pays when met (0 while not met)
	EventCount int64
	EventTotal int64 // minor units of the currency
	Message    string
	// EarnAt and EarnTxn are the time and id of the transaction that met the goal. They order
	// rewards for the limits and the budget: the earliest earn.
	EarnAt  time.Time
	EarnTxn string
}

// EarnKey orders results: earlier transaction time first, ties by transaction id.
func (r *Result) EarnKey() string { return EarnKeyOf(r.EarnAt, r.EarnTxn) }

// EarnKeyOf is the earn key of a reward earned by the transaction at that time.
func EarnKeyOf(at time.Time, txnID string) string {
	return fmt.Sprintf("%020d|%s", at.UnixMicro(), txnID)
}

// ParseEarnKey answers the time and transaction id of an earn key.
func ParseEarnKey(k string) (time.Time, string, bool) {
	micros, id, ok := strings.Cut(k, "|")
	if !ok || len(micros) != 20 {
		return time.Time{}, "", false
	}
	n, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	return time.UnixMicro(n).UTC(), id, true
}

type purchase struct {
	t   *Txn
	net int64 // amount less refunds and reversals
}

// Qualifies reports whether a purchase counts for the offer in the unit: its card enrolled
// before it, and it matches the offer's filters and minimum amount. Refunds never qualify.
func (o *Offer) Qualifies(u *Unit, t *Txn) bool {
	if t.Type != Purchase {
		return false
	}
	enrolled, ok := u.Cards[t.CardID]
	return ok && !t.Time.Before(enrolled) && o.Matches(t) && o.AmountOf(t) >= o.MinAmount
}

// Frozen is what the unit's periods whose bill was generated fix: their rewards are final, so
// limits leave them as they are, and under a per-card total limit those that earned keep their
// places (a refund or a late purchase of such a period moves no other reward).
type Frozen struct {
	Periods map[Period]bool
	Earned  int64 // the rewards of those periods that earned
}

// Evaluate computes the unit's rewards for the offer from all the transactions of the unit's
// cards (in any order; duplicates must already be removed). The result is sorted by Key.
func Evaluate(o *Offer, u *Unit, txns []Txn) []Result { return EvaluateFrozen(o, u, txns, Frozen{}) }

// EvaluateFrozen is Evaluate for a unit with periods whose bill was generated. The results of
// those periods say what the transactions would make of them now; limits do not apply to them.
func EvaluateFrozen(o *Offer, u *Unit, txns []Txn, frozen Frozen) []Result {
	byID := make(map[string]*purchase)
	var qualifying []*purchase
	for i := range txns {
		t := &txns[i]
		if !o.Qualifies(u, t) {
			continue
		}
		p := &purchase{t: t, net: o.AmountOf(t)}
		byID[t.ID] = p
		qualifying = append(qualifying, p)
	}
	for i := range txns {
		t := &txns[i]
		if t.Type == Purchase {
			continue
		}
		if p, ok := byID[t.OriginalID]; ok {
			p.net -= o.AmountOf(t)
		}
	}
	slices.SortFunc(qualifying, func(a, b *purchase) int {
		return cmp.Or(a.t.Time.Compare(b.t.Time), strings.Compare(a.t.ID, b.t.ID))
	})
	counts := func(p *purchase) bool { return p.net > 0 && p.net >= o.MinAmount }

	var out []Result
	if o.Goal == "each" {
		for _, p := range qualifying {
			out = append(out, o.EachResult(u, p.t.ID, p.t.Time, p.net, counts(p)))
		}
	} else {
		byPeriod := map[Period][]*purchase{}
		var periods []Period
		for _, p := range qualifying {
			per := o.PeriodOf(p.t.Time)
			if _, seen := byPeriod[per]; !seen {
				periods = append(periods, per)
			}
			byPeriod[per] = append(byPeriod[per], p)
		}
		for _, per := range periods {
			var pr Progress
			var earn *purchase
			for _, p := range byPeriod[per] {
				if !counts(p) {
					continue
				}
				pr.Count++
				pr.Total += p.net
				if earn == nil && o.reached(pr) {
					earn = p
				}
			}
			r := o.PeriodResult(u, per, pr)
			if earn != nil {
				r.EarnAt, r.EarnTxn = earn.t.Time, earn.t.ID
			}
			out = append(out, r)
		}
	}
	o.ApplyLimits(out, frozen)
	slices.SortFunc(out, func(a, b Result) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Progress is the running state of a spend or count reward: how many purchases of its period
// count, and their total (what is left of them after refunds).
type Progress struct {
	Count int64
	Total int64 // minor units of the currency
}

func (o *Offer) reached(p Progress) bool {
	if o.Goal == "count" {
		return p.Count >= o.Threshold
	}
	return p.Total >= o.Threshold
}

// PeriodResult answers the spend or count reward of the unit for the period from its progress,
// before limits. Its earn fields are unset: only offers that are not Incremental use them.
func (o *Offer) PeriodResult(u *Unit, per Period, p Progress) Result {
	r := Result{Key: o.PeriodKey(u, per), Period: per, EventCount: p.Count, EventTotal: p.Total}
	switch {
	case o.reached(p):
		r.Met = true
		r.Amount, r.Message = o.describePayout(p.Total)
	case o.Goal == "count":
		r.Message = fmt.Sprintf("%d of %d purchases", p.Count, o.Threshold)
	default:
		r.Message = fmt.Sprintf("spent %s of %s", o.money(p.Total), o.money(o.Threshold))
	}
	return r
}

// EachResult answers the reward of one purchase of the unit under an each goal, before limits:
// net is what is left of it after refunds, and counts whether that still counts.
func (o *Offer) EachResult(u *Unit, txnID string, at time.Time, net int64, counts bool) Result {
	r := Result{Key: o.EachKey(u, txnID), Period: o.PeriodOf(at), EarnAt: at, EarnTxn: txnID}
	if !counts {
		r.Voided = true
		r.Message = "the purchase no longer counts after refunds"
	} else {
		r.Met, r.EventCount, r.EventTotal = true, 1, net
		r.Amount, r.Message = o.describePayout(net)
	}
	return r
}

// PeriodKey is the Key of the unit's spend or count result for the period.
func (o *Offer) PeriodKey(u *Unit, per Period) string {
	return o.OfferID + "|" + u.Key + "|" + per.Start
}

// EachKey is the Key of an each goal's result for the purchase in the unit. A card's own unit
// (or a nil unit) keys it by the purchase alone; an account adds its key, so that a purchase's
// reward in an account and in its card's own unit (before the card was bound, or after it was
// unbound) are two rewards, as a spend or count reward's are: binding or unbinding the card
// voids the one and gives the other.
func (o *Offer) EachKey(u *Unit, txnID string) string {
	if u == nil || u.AccountVuid == "" {
		return o.OfferID + "|" + txnID
	}
	return o.OfferID + "|" + u.Key + "|" + txnID
}

// Incremental reports whether the offer's rewards follow from their stored running state and
// new purchases alone, without the unit's history: no limit across periods and no budget.
// (A per-period limit of an each goal needs only the period's other rewards.)
func (o *Offer) Incremental() bool { return o.PerTotal == 0 && o.Budget == 0 }

func (o *Offer) describePayout(base int64) (int64, string) {
	amt, capped := o.payout(base)
	var msg string
	if o.Percent != 0 {
		msg = fmt.Sprintf("%s%% of %s = %s", strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%d.%04d", o.Percent/10000, o.Percent%10000), "0"), "."),
			o.money(base), o.reward(o.percentOf(base)))
	} else {
		msg = "fixed reward " + o.reward(amt)
	}
	if o.Goal != "each" {
		if o.Goal == "count" {
			msg = fmt.Sprintf("goal met: %d purchases; %s", o.Threshold, msg)
		} else {
			msg = fmt.Sprintf("goal met: spent %s of %s; %s", o.money(base), o.money(o.Threshold), msg)
		}
	}
	if capped {
		msg += ", capped at " + o.reward(o.Cap)
	}
	return amt, msg
}

// ApplyLimits holds back met rewards beyond the per-card limits, earliest earn first. It
// needs every result of the unit for a per-total limit, and every result of a period for a
// per-period limit; the results of frozen periods are left as they are.
func (o *Offer) ApplyLimits(rs []Result, frozen Frozen) {
	if o.PerPeriod == 0 && o.PerTotal == 0 {
		return
	}
	idx := make([]int, 0, len(rs))
	for i := range rs {
		if rs[i].Met && !frozen.Periods[rs[i].Period] {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(rs[a].EarnKey(), rs[b].EarnKey()) })
	perPeriod := map[Period]int64{}
	total := frozen.Earned
	for _, i := range idx {
		r := &rs[i]
		switch {
		case o.PerPeriod > 0 && perPeriod[r.Period] >= o.PerPeriod:
			o.holdBack(r, fmt.Sprintf("limit reached: %d per card per %s", o.PerPeriod, o.Period))
		case o.PerTotal > 0 && total >= o.PerTotal:
			o.holdBack(r, fmt.Sprintf("limit reached: %d per card in total", o.PerTotal))
		default:
			perPeriod[r.Period]++
			total++
		}
	}
}

// holdBack turns a met reward into one that earns nothing: an each reward disappears (voided),
// a spend or count reward stays at status 0 with the reason.
func (o *Offer) holdBack(r *Result, why string) {
	r.Met, r.Amount, r.Message = false, 0, why
	if o.Goal == "each" {
		r.Voided = true
	}
}

// BudgetItem is a met reward competing for an offer's budget.
type BudgetItem struct {
	EarnKey string
	Amount  int64
}

// AllocateBudget decides which met rewards the budget pays: in earn order, each reward that
// fits whole in what is left is granted; one that does not fit is not, and later smaller ones
// still may be. spent is what rewards outside the competition (of generated bills) already
// took. It answers, per item in the given order, whether it is granted.
func AllocateBudget(budget, spent int64, items []BudgetItem) []bool {
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(items[a].EarnKey, items[b].EarnKey) })
	granted := make([]bool, len(items))
	left := budget - spent
	for _, i := range order {
		if items[i].Amount <= left {
			granted[i] = true
			left -= items[i].Amount
		}
	}
	return granted
}

// Touched answers a filter of the results that new transactions can change, so that callers
// store only those: with no limit across periods, a result changes only when a new
// transaction falls in its period (for an each goal without a per-period limit, only the
// results of the new purchases and of the purchases new refunds refer to). stored holds every
// transaction of the unit, new ones included.
func (o *Offer) Touched(u *Unit, stored, fresh []Txn) func(*Result) bool {
	if o.PerTotal > 0 || len(fresh) == 0 {
		return func(*Result) bool { return len(fresh) > 0 }
	}
	byID := make(map[string]*Txn, len(stored))
	for i := range stored {
		byID[stored[i].ID] = &stored[i]
	}
	purchases := map[string]bool{}
	periods := map[Period]bool{}
	for i := range fresh {
		t := &fresh[i]
		if t.Type != Purchase {
			if orig, ok := byID[t.OriginalID]; ok {
				t = orig
			}
		}
		purchases[t.ID] = true
		periods[o.PeriodOf(t.Time)] = true
	}
	if o.Goal == "each" && o.PerPeriod == 0 {
		return func(r *Result) bool { return purchases[r.EarnTxn] }
	}
	return func(r *Result) bool { return periods[r.Period] }
}

package platform

import (
	"slices"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/engine"
	"github.com/vsrp-dev/vsrp/store"
)

// periodChange is what a batch's new purchases bring to one incremental offer's rewards of one
// unit in one billing period.
type periodChange struct {
	w      *unitWork
	o      *engine.Offer
	per    engine.Period
	bill   *vsrp.Bill
	open   bool
	key    string          // the spend or count reward's result key
	add    engine.Progress // spend and count goals: what the new purchases add
	buys   []*vsrp.Transaction
	stored []*store.StoredReward // each goal under a per-period limit: the period's stored rewards
}

// evaluateIncremental brings the units' incremental offers up to date from the rewards stored
// for the periods their new purchases fall in: a spend or count reward adds the purchases to
// its running state, an each goal adds one reward per purchase (and, under a per-period limit,
// decides the period's rewards again in earn order). New purchases in a period whose bill was
// generated become adjustments. It reads the stored rewards of all units in a few statements;
// a unit whose stored rewards do not carry what the increment needs (written before earn keys
// were kept) is handed back to evaluate in full.
func (p *Platform) evaluateIncremental(tx *store.Tx, keys []string, work map[string]*unitWork, bills *billCache,
	now time.Time) error {
	var changes []*periodChange
	byKey := map[string]*periodChange{}
	var ids []string
	var groups []store.UnitBill
	for _, k := range keys {
		w := work[k]
		for _, o := range w.incremental {
			for i := range w.fresh {
				t := &w.fresh[i]
				if !o.Qualifies(w.unit, t) {
					continue
				}
				per := o.PeriodOf(t.Time)
				key := o.PeriodKey(w.unit, per) // the period's spend or count result (or group of each results)
				ch := byKey[key]
				if ch == nil {
					bill, status, err := bills.get(o, per)
					if err != nil {
						return err
					}
					ch = &periodChange{w: w, o: o, per: per, bill: bill, open: status == vsrp.BillOpen, key: key}
					byKey[key] = ch
					changes = append(changes, ch)
					switch {
					case !ch.open:
					case o.Goal != "each":
						ids = append(ids, rewardID(key))
					case o.PerPeriod > 0:
						groups = append(groups, store.UnitBill{UnitKey: w.unit.Key, BillID: bill.ID})
					}
				}
				ch.add.Count++
				ch.add.Total += o.AmountOf(t)
				ch.buys = append(ch.buys, t)
			}
		}
	}
	stored, err := tx.Rewards(ids)
	if err != nil {
		return err
	}
	periods, err := tx.UnitBillRewards(groups)
	if err != nil {
		return err
	}
	// Decide first which units must be evaluated in full, then write.
	for _, ch := range changes {
		if !ch.open || ch.o.Goal != "each" {
			if old := stored[rewardID(ch.key)]; ch.open && old != nil && old.Computed.Voided {
				demote(ch.w, ch.o) // voided by a change of the offer: its running state is not kept
			}
			continue
		}
		ch.stored = periods[store.UnitBill{UnitKey: ch.w.unit.Key, BillID: ch.bill.ID}]
		for _, old := range ch.stored {
			if _, _, ok := engine.ParseEarnKey(old.EarnKey); !ok && old.EventCount > 0 {
				demote(ch.w, ch.o)
			}
		}
	}
	for _, ch := range changes {
		if !slices.Contains(ch.w.incremental, ch.o) {
			continue
		}
		if err := p.applyChange(tx, ch, stored[rewardID(ch.key)], now); err != nil {
			return err
		}
	}
	return nil
}

// demote moves an offer of the unit from incremental to full evaluation.
func demote(w *unitWork, o *engine.Offer) {
	if i := slices.Index(w.incremental, o); i >= 0 {
		w.incremental = slices.Delete(w.incremental, i, i+1)
		w.full = append(w.full, o)
	}
}

// applyChange stores what one period change brings; old is the stored spend or count reward.
func (p *Platform) applyChange(tx *store.Tx, ch *periodChange, old *store.StoredReward, now time.Time) error {
	o, unit := ch.o, ch.w.unit
	if !ch.open {
		for _, t := range ch.buys {
			key := ch.key
			if o.Goal == "each" {
				key = o.EachKey(unit, t.ID)
			}
			if err := tx.AddAdjustment(ch.bill.ID, t.ID, t.Type, o.AmountOf(t), adjustedReward(o, key, t), now); err != nil {
				return err
			}
		}
		return nil
	}
	if o.Goal != "each" {
		var pr engine.Progress
		if old != nil {
			pr = engine.Progress{Count: old.EventCount, Total: old.EventTotal}
		}
		pr.Count += ch.add.Count
		pr.Total += ch.add.Total
		r := o.PeriodResult(unit, ch.per, pr)
		return p.putReward(tx, o, unit, &r, ch.bill, old, now)
	}
	var results []engine.Result
	olds := make(map[string]*store.StoredReward, len(ch.stored))
	for _, s := range ch.stored {
		if s.EventCount != 1 {
			continue // its purchase no longer counts: no limit concerns it
		}
		at, txnID, _ := engine.ParseEarnKey(s.EarnKey)
		r := o.EachResult(unit, txnID, at, s.EventTotal, true)
		olds[rewardID(r.Key)] = s
		results = append(results, r)
	}
	for _, t := range ch.buys {
		results = append(results, o.EachResult(unit, t.ID, t.Time, o.AmountOf(t), true))
	}
	o.ApplyLimits(results, engine.Frozen{}) // an open period, of an offer without a limit across periods
	for i := range results {
		if err := p.putReward(tx, o, unit, &results[i], ch.bill, olds[rewardID(results[i].Key)], now); err != nil {
			return err
		}
	}
	return nil
}

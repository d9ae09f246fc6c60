package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
)

// Percent rewards are rounded half-even in the reward's own units: yen for a campaign in JPY
// (no minor digits), whole points for a Point reward of a campaign in CNY (spend in fen, the
// reward in points: the conversion divides by 100 more before rounding).
func TestPercentRoundsInRewardUnits(t *testing.T) {
	jpy := func(c *vsrp.Campaign, o *vsrp.Offer) { c.Currency = "JPY" }
	points := func(c *vsrp.Campaign, o *vsrp.Offer) { o.Reward = vsrp.RewardSpec{Type: "Point", Percent: "1"} }
	yen := func(id string, amount int64) Txn {
		x := buy(id, amount, "2027-01-05T12:00:00+08:00")
		x.Currency = "JPY"
		return x
	}
	for _, c := range []struct {
		name string
		edit func(c *vsrp.Campaign, o *vsrp.Offer)
		txns []Txn
		want map[string]string
	}{
		{"JPY: 10% of ¥125 is ¥12.5 → ¥12, of ¥135 ¥13.5 → ¥14, of ¥126 ¥12.6 → ¥13", jpy,
			[]Txn{yen("a", 125), yen("b", 135), yen("c", 126)},
			map[string]string{"O|a": "met=true voided=false amount=12 n=1 total=125", "O|b": "met=true voided=false amount=14 n=1 total=135",
				"O|c": "met=true voided=false amount=13 n=1 total=126"}},
		{"Point: 1% of 150.00 is 1.5 → 2 points, of 250.00 2.5 → 2, of 250.01 2.5001 → 3, of 49.99 0.4999 → 0", points,
			[]Txn{buy("a", 15000, "2027-01-05T12:00:00+08:00"), buy("b", 25000, "2027-01-05T12:00:01+08:00"),
				buy("c", 25001, "2027-01-05T12:00:02+08:00"), buy("d", 4999, "2027-01-05T12:00:03+08:00")},
			map[string]string{"O|a": "met=true voided=false amount=2 n=1 total=15000", "O|b": "met=true voided=false amount=2 n=1 total=25000",
				"O|c": "met=true voided=false amount=3 n=1 total=25001", "O|d": "met=true voided=false amount=0 n=1 total=4999"}},
		{"Point with a cap of 2 points: 1% of 1,000.00 is 10, capped at 2",
			func(c *vsrp.Campaign, o *vsrp.Offer) { points(c, o); o.Reward.Cap = "2" },
			[]Txn{buy("a", 100000, "2027-01-05T12:00:00+08:00")},
			map[string]string{"O|a": "met=true voided=false amount=2 n=1 total=100000"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := summary(Evaluate(testOffer(t, c.edit), unit(), c.txns))
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %v\nwant %v", got, c.want)
			}
		})
	}
}

// Periods follow the campaign zone's calendar also where its clocks jump at midnight, and the
// instant a period starts (from which ingestion reads a unit's history) is never later than
// the first transaction of its first day. A campaign ending mid-month clips the last month
// and its settlement date.
func TestPeriodsInZonesWithDaylightSaving(t *testing.T) {
	for _, c := range []struct {
		zone, period, end string
		when              string
		want              Period
	}{
		// Havana falls back at 01:00 CDT to 00:00 CST on 7 November 2027: 00:30 happens twice,
		// both times on the 7th.
		{"America/Havana", "day", "2027-12-31", "2027-11-07T00:30:00-04:00", Period{"2027-11-07", "2027-11-07", "2027-11-08"}},
		{"America/Havana", "day", "2027-12-31", "2027-11-07T00:30:00-05:00", Period{"2027-11-07", "2027-11-07", "2027-11-08"}},
		{"America/Havana", "day", "2027-12-31", "2027-11-06T23:59:59-04:00", Period{"2027-11-06", "2027-11-06", "2027-11-07"}},
		// Havana springs forward at 00:00 CST to 01:00 CDT on 14 March 2027: the day starts at 01:00.
		{"America/Havana", "day", "2027-12-31", "2027-03-14T01:00:00-04:00", Period{"2027-03-14", "2027-03-14", "2027-03-15"}},
		{"America/Havana", "day", "2027-12-31", "2027-03-13T23:59:59-05:00", Period{"2027-03-13", "2027-03-13", "2027-03-14"}},
		// New York springs forward on Sunday 14 March 2027: still the week of Monday 8 March.
		{"America/New_York", "week", "2027-12-31", "2027-03-14T23:59:59-04:00", Period{"2027-03-08", "2027-03-14", "2027-03-15"}},
		{"America/New_York", "week", "2027-12-31", "2027-03-15T00:00:00-04:00", Period{"2027-03-15", "2027-03-21", "2027-03-22"}},
		// A campaign ending on 15 March: March's period ends then, and falls due the day after.
		{"America/New_York", "month", "2027-03-15", "2027-03-15T23:00:00-04:00", Period{"2027-03-01", "2027-03-15", "2027-03-16"}},
	} {
		o := testOffer(t, func(camp *vsrp.Campaign, o *vsrp.Offer) {
			camp.Timezone, camp.EndDate = c.zone, c.end
			o.Billing = vsrp.Billing{Period: c.period}
		})
		at := at(c.when)
		if got := o.PeriodOf(at); got != c.want {
			t.Errorf("%s %s %s: %+v, want %+v", c.zone, c.period, c.when, got, c.want)
		}
		if start := o.PeriodStartAt(at); start.After(at) || civilOf(start.In(o.Loc)).String() > c.want.Start {
			t.Errorf("%s %s %s: the period starts at %v, after the transaction or before its first day", c.zone, c.period, c.when, start)
		}
		if !o.Matches(&Txn{Time: at, Currency: "CNY"}) {
			t.Errorf("%s %s: within the campaign dates but does not match", c.zone, c.when)
		}
	}
	// One second after the campaign's last day in its zone no longer counts.
	o := testOffer(t, func(camp *vsrp.Campaign, o *vsrp.Offer) {
		camp.Timezone, camp.EndDate = "America/New_York", "2027-03-15"
	})
	if o.Matches(&Txn{Time: time.Date(2027, 3, 16, 0, 0, 0, 0, o.Loc), Currency: "CNY"}) {
		t.Error("a transaction on the day after the campaign's end matches")
	}
}

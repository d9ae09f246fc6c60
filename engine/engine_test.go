package engine

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
)

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

func testOffer(t *testing.T, edit func(c *vsrp.Campaign, o *vsrp.Offer)) *Offer {
	t.Helper()
	c := &vsrp.Campaign{CampaignID: "C", Name: "c", Timezone: "Asia/Shanghai", StartDate: "2027-01-01", EndDate: "2027-03-31",
		Currency: "CNY", Aggregation: "card"}
	o := &vsrp.Offer{OfferID: "O", Name: "o", Billing: vsrp.Billing{Period: "month"}, Goal: vsrp.Goal{Type: "each"},
		Reward: vsrp.RewardSpec{Type: "Cash", Percent: "10"}}
	if edit != nil {
		edit(c, o)
	}
	c.Offers = []vsrp.Offer{*o}
	if err := c.Validate(); err != nil {
		t.Fatalf("test offer invalid: %v", err)
	}
	f, err := Compile(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var enrolled = time.Date(2027, 1, 1, 0, 0, 0, 0, shanghai)

func unit() *Unit { return &Unit{Key: "card:K", Cards: map[string]time.Time{"K": enrolled}} }

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func buy(id string, minor int64, when string) Txn {
	return Txn{ID: id, Type: Purchase, CardID: "K", Amount: minor, Currency: "CNY", Time: at(when), MCC: "5812", MerchantCountry: "CN"}
}

func refund(id, orig string, minor int64, when string) Txn {
	t := buy(id, minor, when)
	t.Type, t.OriginalID = Refund, orig
	return t
}

// summary is what a test asserts of results: key → (met, voided, amount, count, total).
func summary(rs []Result) map[string]string {
	out := map[string]string{}
	for _, r := range rs {
		out[r.Key] = fmt.Sprintf("met=%v voided=%v amount=%d n=%d total=%d", r.Met, r.Voided, r.Amount, r.EventCount, r.EventTotal)
	}
	return out
}

func TestRules(t *testing.T) {
	spend500 := func(c *vsrp.Campaign, o *vsrp.Offer) {
		o.Goal = vsrp.Goal{Type: "spend", Threshold: "500"}
		o.Reward = vsrp.RewardSpec{Type: "Cash", Amount: "30"}
	}
	for _, c := range []struct {
		name string
		edit func(c *vsrp.Campaign, o *vsrp.Offer)
		txns []Txn
		want map[string]string
		unit *Unit
	}{
		{"each: 10% of 200.00", nil, []Txn{buy("a", 20000, "2027-01-05T12:00:00+08:00")},
			map[string]string{"O|a": "met=true voided=false amount=2000 n=1 total=20000"}, nil},
		{"minAmount boundary: exactly the minimum counts, one cent less does not",
			func(c *vsrp.Campaign, o *vsrp.Offer) { o.Match.MinAmount = "100.00" },
			[]Txn{buy("a", 10000, "2027-01-05T12:00:00+08:00"), buy("b", 9999, "2027-01-05T13:00:00+08:00")},
			map[string]string{"O|a": "met=true voided=false amount=1000 n=1 total=10000"}, nil},
		{"cap", func(c *vsrp.Campaign, o *vsrp.Offer) { o.Reward.Cap = "50" },
			[]Txn{buy("a", 90000, "2027-01-05T12:00:00+08:00")},
			map[string]string{"O|a": "met=true voided=false amount=5000 n=1 total=90000"}, nil},
		{"percent rounds half-even: 10% of 0.25 is 0.02, of 0.35 is 0.04",
			func(c *vsrp.Campaign, o *vsrp.Offer) { o.Reward.Percent = "10" },
			[]Txn{buy("a", 25, "2027-01-05T12:00:00+08:00"), buy("b", 35, "2027-01-05T12:00:01+08:00"), buy("c", 26, "2027-01-05T12:00:02+08:00")},
			map[string]string{"O|a": "met=true voided=false amount=2 n=1 total=25", "O|b": "met=true voided=false amount=4 n=1 total=35",
				"O|c": "met=true voided=false amount=3 n=1 total=26"}, nil},
		{"spend: threshold exactly met", spend500,
			[]Txn{buy("a", 20000, "2027-01-05T12:00:00+08:00"), buy("b", 30000, "2027-01-06T12:00:00+08:00")},
			map[string]string{"O|card:K|2027-01-01": "met=true voided=false amount=3000 n=2 total=50000"}, nil},
		{"spend: one cent short", spend500,
			[]Txn{buy("a", 20000, "2027-01-05T12:00:00+08:00"), buy("b", 29999, "2027-01-06T12:00:00+08:00")},
			map[string]string{"O|card:K|2027-01-01": "met=false voided=false amount=0 n=2 total=49999"}, nil},
		{"spend: a refund takes a met reward back to 0", spend500,
			[]Txn{buy("a", 20000, "2027-01-05T12:00:00+08:00"), buy("b", 30000, "2027-01-06T12:00:00+08:00"),
				refund("r", "b", 10000, "2027-01-07T12:00:00+08:00")},
			map[string]string{"O|card:K|2027-01-01": "met=false voided=false amount=0 n=2 total=40000"}, nil},
		{"each: a full refund voids the reward, a partial one recomputes it", nil,
			[]Txn{buy("a", 20000, "2027-01-05T12:00:00+08:00"), refund("r", "a", 20000, "2027-01-06T12:00:00+08:00"),
				buy("b", 20000, "2027-01-05T12:00:00+08:00"), refund("s", "b", 5000, "2027-01-06T12:00:00+08:00")},
			map[string]string{"O|a": "met=false voided=true amount=0 n=0 total=0", "O|b": "met=true voided=false amount=1500 n=1 total=15000"}, nil},
		{"each: a partial refund that leaves less than minAmount voids the reward, one that leaves exactly minAmount keeps it",
			func(c *vsrp.Campaign, o *vsrp.Offer) { o.Match.MinAmount = "100.00" },
			// a: 150.00 less 50.01 leaves 99.99, under the minimum. b: 150.00 less 50.00 leaves
			// exactly 100.00, which still counts: 10% of it is 10.00.
			[]Txn{buy("a", 15000, "2027-01-05T12:00:00+08:00"), refund("r", "a", 5001, "2027-01-06T12:00:00+08:00"),
				buy("b", 15000, "2027-01-05T13:00:00+08:00"), refund("s", "b", 5000, "2027-01-06T13:00:00+08:00")},
			map[string]string{"O|a": "met=false voided=true amount=0 n=0 total=0", "O|b": "met=true voided=false amount=1000 n=1 total=10000"}, nil},
		{"count: refunded in full no longer counts",
			func(c *vsrp.Campaign, o *vsrp.Offer) {
				o.Goal = vsrp.Goal{Type: "count", Threshold: "2"}
				o.Reward = vsrp.RewardSpec{Type: "Point", Amount: "100"}
			},
			[]Txn{buy("a", 100, "2027-01-05T12:00:00+08:00"), buy("b", 100, "2027-01-06T12:00:00+08:00"), refund("r", "a", 100, "2027-01-07T12:00:00+08:00")},
			map[string]string{"O|card:K|2027-01-01": "met=false voided=false amount=0 n=1 total=100"}, nil},
		{"a transaction one second before enrollment does not count", nil,
			[]Txn{buy("a", 20000, "2027-01-01T00:00:00+08:00"), buy("b", 20000, "2026-12-31T23:59:59+08:00")},
			map[string]string{"O|a": "met=true voided=false amount=2000 n=1 total=20000"}, nil},
		{"period boundary is midnight in the campaign zone, not UTC",
			func(c *vsrp.Campaign, o *vsrp.Offer) {
				o.Billing.Period = "day"
				o.Goal = vsrp.Goal{Type: "spend", Threshold: "100"}
				o.Reward = vsrp.RewardSpec{Type: "Cash", Amount: "1"}
			},
			// 23:30 and 00:30 Shanghai time are one UTC day (15:30 and 16:30 UTC) but two campaign days.
			[]Txn{buy("a", 6000, "2027-01-05T23:30:00+08:00"), buy("b", 6000, "2027-01-06T00:30:00+08:00")},
			map[string]string{"O|card:K|2027-01-05": "met=false voided=false amount=0 n=1 total=6000",
				"O|card:K|2027-01-06": "met=false voided=false amount=0 n=1 total=6000"}, nil},
		{"campaign dates are inclusive in the campaign zone", nil,
			[]Txn{buy("a", 1000, "2027-03-31T23:59:59+08:00"), buy("b", 1000, "2027-04-01T00:00:00+08:00")},
			map[string]string{"O|a": "met=true voided=false amount=100 n=1 total=1000"}, nil},
		{"MCC and currency filters", func(c *vsrp.Campaign, o *vsrp.Offer) { o.Match.MCC = []string{"5814"} },
			[]Txn{buy("a", 1000, "2027-01-05T12:00:00+08:00"), func() Txn { x := buy("b", 1000, "2027-01-05T12:00:00+08:00"); x.MCC = "5814"; return x }(),
				func() Txn {
					x := buy("c", 1000, "2027-01-05T12:00:00+08:00")
					x.MCC, x.Currency = "5814", "USD"
					return x
				}()},
			map[string]string{"O|b": "met=true voided=false amount=100 n=1 total=1000"}, nil},
		{"another listed currency counts at face value in the campaign's minor units: JPY 1000 is 1000.00, against minAmount 100.00",
			func(c *vsrp.Campaign, o *vsrp.Offer) {
				o.Match.Currencies, o.Match.MinAmount = []string{"CNY", "JPY"}, "100"
			},
			[]Txn{func() Txn { x := buy("j", 1000, "2027-01-05T12:00:00+08:00"); x.Currency = "JPY"; return x }(),
				func() Txn { x := buy("k", 99, "2027-01-05T12:00:00+08:00"); x.Currency = "JPY"; return x }()},
			map[string]string{"O|j": "met=true voided=false amount=10000 n=1 total=100000"}, nil},
		{"a refund in another listed currency takes back at face value",
			func(c *vsrp.Campaign, o *vsrp.Offer) { o.Match.Currencies = []string{"CNY", "JPY"} },
			[]Txn{func() Txn { x := buy("j", 1000, "2027-01-05T12:00:00+08:00"); x.Currency = "JPY"; return x }(),
				func() Txn { x := refund("r", "j", 400, "2027-01-06T12:00:00+08:00"); x.Currency = "JPY"; return x }()},
			map[string]string{"O|j": "met=true voided=false amount=6000 n=1 total=60000"}, nil},
		{"per card per period: the earliest earn, whatever the input order",
			func(c *vsrp.Campaign, o *vsrp.Offer) { o.Limits.PerCardPerPeriod = 1 },
			[]Txn{buy("late", 1000, "2027-01-09T12:00:00+08:00"), buy("early", 1000, "2027-01-05T12:00:00+08:00")},
			map[string]string{"O|early": "met=true voided=false amount=100 n=1 total=1000", "O|late": "met=false voided=true amount=0 n=1 total=1000"}, nil},
		{"per card in total across periods", func(c *vsrp.Campaign, o *vsrp.Offer) { o.Limits.PerCardTotal = 1 },
			[]Txn{buy("feb", 1000, "2027-02-05T12:00:00+08:00"), buy("jan", 1000, "2027-01-05T12:00:00+08:00")},
			map[string]string{"O|jan": "met=true voided=false amount=100 n=1 total=1000", "O|feb": "met=false voided=true amount=0 n=1 total=1000"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := testOffer(t, c.edit)
			u := c.unit
			if u == nil {
				u = unit()
			}
			got := summary(Evaluate(o, u, c.txns))
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %v\nwant %v", got, c.want)
			}
		})
	}
}

func TestPeriods(t *testing.T) {
	for _, c := range []struct {
		period, when string
		want         Period
	}{
		{"month", "2027-01-31T23:59:59+08:00", Period{"2027-01-01", "2027-01-31", "2027-02-11"}},
		{"month", "2027-01-31T16:00:00Z", Period{"2027-02-01", "2027-02-28", "2027-03-11"}}, // already Feb 1 in Shanghai
		{"week", "2027-01-06T12:00:00+08:00", Period{"2027-01-04", "2027-01-10", "2027-01-21"}},
		{"week", "2027-01-02T12:00:00+08:00", Period{"2027-01-01", "2027-01-03", "2027-01-14"}}, // clipped to the campaign start
		{"campaign", "2027-02-02T12:00:00+08:00", Period{"2027-01-01", "2027-03-31", "2027-04-11"}},
		{"day", "2027-03-31T08:00:00+08:00", Period{"2027-03-31", "2027-03-31", "2027-04-11"}},
	} {
		o := testOffer(t, func(_ *vsrp.Campaign, o *vsrp.Offer) {
			o.Billing = vsrp.Billing{Period: c.period, SettlementDelayDays: 10}
		})
		if got := o.PeriodOf(at(c.when)); got != c.want {
			t.Errorf("%s %s: %+v, want %+v", c.period, c.when, got, c.want)
		}
	}
}

func TestAllocateBudget(t *testing.T) {
	got := AllocateBudget(100, 10, []BudgetItem{{"3", 50}, {"1", 40}, {"2", 30}, {"4", 20}})
	// in earn order: 1 (40, left 50), 2 (30, left 20), 3 (50 does not fit), 4 (20 fits exactly)
	if want := []bool{false, true, true, true}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// The same set of transactions gives the same rewards whatever the order, batch split or
// replays (duplicates are removed before evaluation, as the store does by transactionId).
func TestOrderIndependence(t *testing.T) {
	o := testOffer(t, func(c *vsrp.Campaign, o *vsrp.Offer) {
		o.Goal = vsrp.Goal{Type: "each"}
		o.Match.MinAmount = "20"
		o.Reward.Cap = "15"
		o.Limits.PerCardPerPeriod = 3
		o.Limits.PerCardTotal = 5
	})
	spend := testOffer(t, func(c *vsrp.Campaign, o *vsrp.Offer) {
		o.Billing.Period = "week"
		o.Goal = vsrp.Goal{Type: "spend", Threshold: "300"}
		o.Reward = vsrp.RewardSpec{Type: "Cash", Percent: "5", Cap: "40"}
		o.Limits.PerCardTotal = 4
	})
	rng := rand.New(rand.NewPCG(1, 2))
	var set []Txn
	for i := range 60 {
		when := enrolled.Add(time.Duration(rng.IntN(80*24)) * time.Hour).Add(time.Duration(rng.IntN(3600)) * time.Second)
		p := buy(fmt.Sprintf("p%02d", i), int64(1000+rng.IntN(30000)), when.Format(time.RFC3339))
		set = append(set, p)
		if rng.IntN(4) == 0 {
			kind := Refund
			if rng.IntN(2) == 0 {
				kind = Reversal
			}
			r := refund(fmt.Sprintf("r%02d", i), p.ID, 1+rng.Int64N(p.Amount), when.Add(time.Hour).Format(time.RFC3339))
			r.Type = kind
			set = append(set, r)
		}
	}
	for _, offer := range []*Offer{o, spend} {
		want := Evaluate(offer, unit(), set)
		for round := range 200 {
			perm := append([]Txn(nil), set...)
			rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
			// A random batch split, evaluated as the store does: each batch adds to what is stored.
			var stored []Txn
			for len(perm) > 0 {
				n := 1 + rng.IntN(len(perm))
				stored = append(stored, perm[:n]...)
				perm = perm[n:]
				Evaluate(offer, unit(), stored)
			}
			if got := Evaluate(offer, unit(), stored); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s round %d: results differ from the in-order evaluation", offer.Goal, round)
			}
		}
	}
}

package engine

// Tests added by a mutation-testing review of the reward rules (contract section 8): each one
// kills a deliberate mutation of the money logic that the existing engine tests let through.

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vsrp-dev/vsrp"
)

// Every match filter must hold (contract 8): merchantIds, merchantCountries and a listed
// currency each keep out a purchase that fails them, whatever the other filters say.
func TestH3EveryMatchFilterHolds(t *testing.T) {
	with := func(id string, edit func(*Txn)) Txn {
		x := buy(id, 10000, "2027-01-05T12:00:00+08:00")
		x.MerchantID = "M1"
		edit(&x)
		return x
	}
	for _, c := range []struct {
		name string
		edit func(c *vsrp.Campaign, o *vsrp.Offer)
		txns []Txn
		want map[string]string
	}{
		{"merchantIds", func(c *vsrp.Campaign, o *vsrp.Offer) { o.Match.MerchantIDs = []string{"M1"} },
			[]Txn{with("in", func(*Txn) {}), with("out", func(x *Txn) { x.MerchantID = "M2" })},
			map[string]string{"O|in": "met=true voided=false amount=1000 n=1 total=10000"}},
		{"merchantCountries", func(c *vsrp.Campaign, o *vsrp.Offer) { o.Match.MerchantCountries = []string{"CN"} },
			[]Txn{with("in", func(*Txn) {}), with("out", func(x *Txn) { x.MerchantCountry = "HK" })},
			map[string]string{"O|in": "met=true voided=false amount=1000 n=1 total=10000"}},
		// currencies listed: CNY and JPY count, USD (a known currency, not listed) does not.
		{"currencies", func(c *vsrp.Campaign, o *vsrp.Offer) { o.Match.Currencies = []string{"CNY", "JPY"} },
			[]Txn{with("in", func(*Txn) {}), with("usd", func(x *Txn) { x.Currency = "USD" })},
			map[string]string{"O|in": "met=true voided=false amount=1000 n=1 total=10000"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := summary(Evaluate(testOffer(t, c.edit), unit(), c.txns)); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %v\nwant %v", got, c.want)
			}
		})
	}
}

// transactionTime may carry fractional seconds, and where a limit lets only some purchases
// earn, the earliest by transactionTime earns; the transactionId breaks only true ties. Here
// "b" is 0.4 s earlier than "a": it earns though its id sorts later.
func TestH3FractionalSecondsDecideWhoEarnsUnderALimit(t *testing.T) {
	o := testOffer(t, func(c *vsrp.Campaign, o *vsrp.Offer) { o.Limits.PerCardPerPeriod = 1 })
	txns := []Txn{buy("b", 10000, "2027-01-05T12:00:00.1+08:00"), buy("a", 10000, "2027-01-05T12:00:00.5+08:00")}
	want := map[string]string{"O|b": "met=true voided=false amount=1000 n=1 total=10000",
		"O|a": "met=false voided=true amount=0 n=1 total=10000"}
	if got := summary(Evaluate(o, unit(), txns)); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

// A reversal subtracts from its purchase like a refund (contract 8): reversed in full, an each
// reward is voided; in part, it is recomputed from what is left; a spend reward falls back to 0.
func TestH3ReversalSubtracts(t *testing.T) {
	reversal := func(id, orig string, minor int64, when string) Txn {
		x := refund(id, orig, minor, when)
		x.Type = Reversal
		return x
	}
	each := []Txn{buy("a", 20000, "2027-01-05T12:00:00+08:00"), reversal("ra", "a", 20000, "2027-01-05T13:00:00+08:00"),
		buy("b", 20000, "2027-01-05T12:00:00+08:00"), reversal("rb", "b", 5000, "2027-01-05T13:00:00+08:00")}
	want := map[string]string{"O|a": "met=false voided=true amount=0 n=0 total=0", "O|b": "met=true voided=false amount=1500 n=1 total=15000"}
	if got := summary(Evaluate(testOffer(t, nil), unit(), each)); !reflect.DeepEqual(got, want) {
		t.Fatalf("each: got  %v\nwant %v", got, want)
	}
	spend := testOffer(t, func(c *vsrp.Campaign, o *vsrp.Offer) {
		o.Goal = vsrp.Goal{Type: "spend", Threshold: "500"}
		o.Reward = vsrp.RewardSpec{Type: "Cash", Amount: "30"}
	})
	txns := []Txn{buy("a", 50000, "2027-01-05T12:00:00+08:00"), reversal("ra", "a", 1, "2027-01-05T13:00:00+08:00")}
	want = map[string]string{"O|card:K|2027-01-01": "met=false voided=false amount=0 n=1 total=49999"}
	if got := summary(Evaluate(spend, unit(), txns)); !reflect.DeepEqual(got, want) {
		t.Fatalf("spend: got  %v\nwant %v", got, want)
	}
}

// A count goal is met when the number of counting purchases reaches the threshold exactly (≥),
// and the message says so.
func TestH3CountThresholdExactlyMet(t *testing.T) {
	o := testOffer(t, func(c *vsrp.Campaign, o *vsrp.Offer) {
		o.Goal = vsrp.Goal{Type: "count", Threshold: "2"}
		o.Reward = vsrp.RewardSpec{Type: "Point", Amount: "100"}
	})
	rs := Evaluate(o, unit(), []Txn{buy("a", 100, "2027-01-05T12:00:00+08:00"), buy("b", 100, "2027-01-06T12:00:00+08:00")})
	want := map[string]string{"O|card:K|2027-01-01": "met=true voided=false amount=100 n=2 total=200"}
	if got := summary(rs); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	if !strings.HasPrefix(rs[0].Message, "goal met: 2 purchases") {
		t.Fatalf("calculateMessage %q, want it to say the goal of 2 purchases is met", rs[0].Message)
	}
}

// What rewards of generated bills already took of the budget is not available again.
func TestH3BudgetSpentByGeneratedBillsIsGone(t *testing.T) {
	// budget 100, 60 spent: 40 left. 30 (earliest) fits, 20 does not (10 left), 10 fits exactly.
	got := AllocateBudget(100, 60, []BudgetItem{{"1", 30}, {"2", 20}, {"3", 10}})
	if want := []bool{true, false, true}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// minAmount is an amount of the campaign currency also when the reward is in points: 99.99
// does not reach a minimum of 100.00 (the reward's whole units must not rescale it).
func TestH3MinAmountOfAPointOfferIsMoney(t *testing.T) {
	o := testOffer(t, func(c *vsrp.Campaign, o *vsrp.Offer) {
		o.Match.MinAmount = "100.00"
		o.Reward = vsrp.RewardSpec{Type: "Point", Percent: "1"}
	})
	rs := Evaluate(o, unit(), []Txn{buy("a", 10000, "2027-01-05T12:00:00+08:00"), buy("b", 9999, "2027-01-05T13:00:00+08:00")})
	want := map[string]string{"O|a": "met=true voided=false amount=1 n=1 total=10000"}
	if got := summary(rs); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

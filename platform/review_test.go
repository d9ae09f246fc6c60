package platform_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// Contract 8: a purchase counts when its card was enrolled at or before its transactionTime,
// and a transactionTime up to 5 minutes in the future is accepted. A purchase dated a few
// minutes ahead, ingested before the card enrolls but dated after the enrollment, counts once
// the card is enrolled: the card's later transactions (and its listRewards) show it.
func TestPurchaseDatedAfterEnrollmentIngestedBeforeIt(t *testing.T) {
	for _, goal := range []string{"each", "spend"} {
		t.Run(goal, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, st *store.Store) {
				f := setup(t, st)
				ctx := context.Background()
				o := offer("OF-"+goal, goal, nil)
				if goal == "spend" {
					o = offer("OF-spend", "spend", map[string]any{"goal": map[string]any{"type": "spend", "threshold": 300},
						"reward": map[string]any{"type": "Cash", "amount": 20}})
				}
				applyOffers(t, f.p, o)
				card, err := f.p.CardInfo(ctx, f.a, pan("411111115000001"))
				if err != nil {
					t.Fatal(err)
				}
				// At testNow the feed sends a purchase dated 3 minutes ahead (allowed: at most 5).
				early := purchase("F1", card.ID, "200", testNow.Add(3*time.Minute))
				if sum := ingest(t, f.p, []platform.TxnInput{early}); sum.Accepted != 1 {
					t.Fatalf("ingest: %+v", sum)
				}
				// The card enrolls a minute later: before the purchase's time.
				later := newPlatformAt(t, st, testNow.Add(time.Minute))
				e, _, err := later.Enroll(ctx, f.a, card.ID, "EG-R", nil)
				if err != nil {
					t.Fatal(err)
				}
				if !e.CreatedAt.Before(testNow.Add(3 * time.Minute)) {
					t.Fatalf("enrolled at %v, not before the purchase", e.CreatedAt)
				}
				// A second purchase of the card, an hour later.
				p := newPlatformAt(t, st, testNow.Add(2*time.Hour))
				if sum := ingest(t, p, []platform.TxnInput{purchase("F2", card.ID, "150", testNow.Add(time.Hour))}); sum.Accepted != 1 {
					t.Fatalf("ingest: %+v", sum)
				}
				page, err := p.ListRewards(ctx, f.a, platform.ListRewardsParams{CardID: card.ID})
				if err != nil {
					t.Fatal(err)
				}
				var total, n int64
				for _, r := range page.Rewards {
					total += r.EventTotalAmount
					n += r.EventCount
				}
				if n != 2 || total != 35000 {
					t.Fatalf("rewards count %d purchases, %d in total; want both (350.00): the first is dated after the enrollment",
						n, total)
				}
			})
		})
	}
}

// accountCampaign is rewardCampaign under account aggregation.
func accountCampaign(offers ...map[string]any) []byte {
	return []byte(strings.Replace(string(rewardCampaign(offers...)), `"aggregation":"card"`, `"aggregation":"account"`, 1))
}

// Under account aggregation binding a card to a user moves its purchases into the user's
// account and unbinding it moves them back (contract 8; docs/decisions.md "Binding and account
// aggregation"): each rewards too, whether the purchase came before the binding or while the
// card was bound. The binding takes effect (no error), every purchase keeps exactly one
// reward that pays, and limits named perCard count per account while the card is in it.
func TestBindingMovesEachRewardsBetweenUnits(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		each := offer("OF-E", "each", map[string]any{"limits": map[string]any{"perCardPerPeriod": 1}})
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountCampaign(each), false); err != nil {
			t.Fatal(err)
		}
		cards := enrolledCards(t, f, 3)
		vuid := bindAll(t, f, "account-user", cards[0], cards[2])
		p := newPlatformAt(t, st, time.Date(2027, 2, 2, 0, 0, 0, 0, time.UTC))
		at := testNow.Add(time.Minute)
		// The first card is the account's, the second its own account (not bound yet); the
		// third is the account's too, its purchase one of February's.
		ingest(t, p, []platform.TxnInput{purchase("A1", cards[0], "100", at), purchase("B1", cards[1], "200", at.Add(time.Second)),
			purchase("C1", cards[2], "300", time.Date(2027, 2, 1, 12, 0, 0, 0, time.UTC))})
		paid := func(when string, want ...int64) {
			t.Helper()
			var got []int64
			for _, s := range rewardState(t, st) {
				var status, amount int64
				var voided bool
				fmt.Sscanf(s, "status=%d voided=%t amount=%d", &status, &voided, &amount)
				if !voided && status == 1 {
					got = append(got, amount)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: met rewards pay %v, want %v\n%v", when, got, want, rewardState(t, st))
			}
		}
		paid("before the binding", 1000, 2000, 3000)
		if err := p.AddCard(ctx, f.a, vuid, cards[1]); err != nil {
			t.Fatalf("binding the second card: %v", err)
		}
		// One account now: one reward in January, the earliest purchase's (A1).
		paid("after binding the second card", 1000, 3000)
		if err := p.RemoveCard(ctx, f.a, vuid, cards[1]); err != nil {
			t.Fatalf("unbinding it: %v", err)
		}
		paid("after unbinding it", 1000, 2000, 3000)
		// The third card's purchase was made in the account: unbound, it counts for the card.
		if err := p.RemoveCard(ctx, f.a, vuid, cards[2]); err != nil {
			t.Fatalf("unbinding the third card: %v", err)
		}
		paid("after unbinding the third card", 1000, 2000, 3000)
		if err := p.AddCard(ctx, f.a, vuid, cards[2]); err != nil {
			t.Fatalf("binding the third card again: %v", err)
		}
		paid("after binding the third card again", 1000, 2000, 3000)
		// A refund after all that takes back from the one reward of its purchase.
		r := purchase("C1R", cards[2], "100", time.Date(2027, 2, 1, 13, 0, 0, 0, time.UTC))
		r.Type, r.OriginalTransactionID = "refund", "C1"
		if sum := ingest(t, p, []platform.TxnInput{r}); sum.Accepted != 1 {
			t.Fatalf("refund: %+v", sum)
		}
		paid("after a partial refund of the third card's purchase", 1000, 2000, 2000)
	})
}

// An account's each reward stored under the purchase's key alone, as rewards were before an
// account's each rewards were keyed apart from its cards' own, stays the purchase's one reward:
// a refund recomputes it rather than adding a second reward beside it.
func TestAccountEachRewardStoredUnderThePurchaseKeyStaysOne(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountCampaign(offer("OF-E", "each", nil)), false); err != nil {
			t.Fatal(err)
		}
		cards := enrolledCards(t, f, 1)
		bindAll(t, f, "account-user", cards[0])
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		at := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("A1", cards[0], "100", at)})
		legacy := giveLegacyEachID(t, st, "A1")
		r := purchase("A1R", cards[0], "40", at.Add(time.Minute))
		r.Type, r.OriginalTransactionID = "refund", "A1"
		ingest(t, p, []platform.TxnInput{r, purchase("A2", cards[0], "50", at.Add(2*time.Minute))})
		got := rewardState(t, st)
		want := `status=1 voided=false amount=600 n=1 total=6000 msg="10% of 60.00 = 6.00"`
		if len(got) != 2 || got[legacy] != want {
			t.Fatalf("rewards: %v\nwant %s: %s and A2's", got, legacy, want)
		}
	})
}

// The budget counts what generated bills confirmed, and after generation nothing is taken
// back: a refund of a generated purchase frees no budget for a later one, while a refund of a
// purchase of an open bill does (contract 8).
func TestBudgetAfterGeneration(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		each := offer("OF-E", "each", map[string]any{"reward": map[string]any{"type": "Cash", "amount": 5},
			"limits": map[string]any{"budget": 10}})
		applyOffers(t, f.p, each)
		cards := enrolledCards(t, f, 3)
		p := newPlatformAt(t, st, time.Date(2027, 2, 20, 0, 0, 0, 0, time.UTC))
		jan, feb := time.Date(2027, 1, 15, 4, 0, 0, 0, time.UTC), time.Date(2027, 2, 5, 4, 0, 0, 0, time.UTC)
		ingest(t, p, []platform.TxnInput{purchase("A", cards[0], "100", jan), purchase("B", cards[1], "100", feb),
			purchase("C", cards[2], "100", feb.Add(time.Hour))})
		check := func(when string, want int) {
			t.Helper()
			if n := paying(t, st); n != want {
				t.Fatalf("%s: %d paying rewards, want %d\n%v", when, n, want, rewardState(t, st))
			}
		}
		check("before generation: A and B fit the 10.00, C does not", 2)
		if _, err := p.GenerateBill(ctx, billStarting(t, p, "2027-01-01"), true); err != nil {
			t.Fatal(err)
		}
		refund := func(id, orig, card string, at time.Time) {
			t.Helper()
			r := purchase(id, card, "100", at)
			r.Type, r.OriginalTransactionID = "refund", orig
			if s := ingest(t, p, []platform.TxnInput{r}); s.Accepted != 1 {
				t.Fatalf("%+v", s)
			}
		}
		refund("RA", "A", cards[0], feb.Add(2*time.Hour))
		check("after a refund of A, whose bill was generated: C still does not fit", 2)
		refund("RB", "B", cards[1], feb.Add(3*time.Hour))
		check("after a refund of B, whose bill is open: C takes its place", 2)
		if r := rewardByTotal(t, st, cards[2], 10000); r.Status != 1 || r.Voided || r.CalculatedAmount != 500 {
			t.Fatalf("C: status %d voided %v amount %d, want 1, false, 500", r.Status, r.Voided, r.CalculatedAmount)
		}
	})
}

// Campaign dates cut the first and last billing periods (contract 8: periods are clipped to
// the campaign dates), and after generation nothing is taken back. A change of the dates
// after a bill was generated must leave that bill's rewards as generated: an each reward stays
// confirmed (status 2) on its bill, and a spend reward is not given a second time on a bill of
// the recut period. A change that leaves every generated period as it was applies.
func TestCampaignDatesCannotRecutGeneratedPeriods(t *testing.T) {
	withDates := func(start, end string, offers ...map[string]any) []byte {
		doc := string(rewardCampaign(offers...))
		doc = strings.Replace(doc, `"startDate":"2027-01-01"`, `"startDate":"`+start+`"`, 1)
		return []byte(strings.Replace(doc, `"endDate":"2027-12-31"`, `"endDate":"`+end+`"`, 1))
	}
	for _, c := range []struct {
		name, period string
		start, end   string // the dates changed to, after the first bills are generated
		applies      bool   // the change leaves the generated periods as they were
	}{
		{"month: the start moves earlier, January's period grows", "month", "2027-01-01", "2027-12-31", false},
		{"month: the start moves later, into January's period", "month", "2027-01-08", "2027-12-31", false},
		{"month: the end moves, January's period stays", "month", "2027-01-05", "2027-06-30", true},
		{"campaign: the end moves, the one period changes", "campaign", "2027-01-05", "2027-06-30", false},
		{"week: the start moves within the generated week", "week", "2027-01-04", "2027-12-31", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, st *store.Store) {
				f := setup(t, st)
				ctx := context.Background()
				billing := map[string]any{"period": c.period}
				each := offer("OF-E", "each", map[string]any{"billing": billing, "reward": map[string]any{"type": "Cash", "amount": 5}})
				spend := offer("OF-S", "spend", map[string]any{"billing": billing, "goal": map[string]any{"type": "spend", "threshold": 50},
					"reward": map[string]any{"type": "Cash", "amount": 7}})
				if _, err := f.p.ApplyCampaign(ctx, "CMP-T", withDates("2027-01-05", "2027-12-31", each, spend), false); err != nil {
					t.Fatal(err)
				}
				card := enrolledCards(t, f, 1)[0]
				p := newPlatformAt(t, st, time.Date(2027, 2, 20, 0, 0, 0, 0, time.UTC))
				ingest(t, p, []platform.TxnInput{purchase("A", card, "100", time.Date(2027, 1, 10, 13, 0, 0, 0, time.UTC))})
				bills, err := p.Bills(ctx, "CMP-T")
				if err != nil || len(bills) != 2 {
					t.Fatalf("bills: %v %v", bills, err)
				}
				for _, b := range bills {
					if _, err := p.GenerateBill(ctx, b.ID, true); err != nil {
						t.Fatal(err)
					}
				}
				_, err = p.ApplyCampaign(ctx, "CMP-T", withDates(c.start, c.end, each, spend), false)
				switch {
				case c.applies && err != nil:
					t.Fatalf("applying %s to %s: %v; the generated periods stay as they were", c.start, c.end, err)
				case err != nil && !errors.Is(err, vsrp.ErrConflict):
					t.Fatal(err)
				}
				rs, _, err := st.AdminRewards(ctx, store.AdminRewardQuery{CampaignID: "CMP-T", Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				paying := map[string][]int{}
				for _, r := range rs {
					if !r.Voided && r.Status >= 1 {
						paying[r.OfferID] = append(paying[r.OfferID], r.Status)
					}
				}
				if len(paying["OF-E"]) != 1 || paying["OF-E"][0] != 2 || len(paying["OF-S"]) != 1 || paying["OF-S"][0] != 2 {
					t.Fatalf("rewards of the purchase by offer (statuses): %v; want one each, confirmed (2) on the generated bills\n%v",
						paying, rewardState(t, st))
				}
			})
		})
	}
}

// A refund in another currency than its purchase is rejected for that reason, whatever its
// amount: amounts in two currencies are not compared (JPY 20000 is not "larger" than CNY
// 100.00, nor JPY 50 smaller).
func TestRefundInAnotherCurrencyIsRejectedForIt(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		each := offer("OF-E", "each", map[string]any{"match": map[string]any{"currencies": []string{"CNY", "JPY"}}})
		applyOffers(t, f.p, each)
		card := enrolledCards(t, f, 1)[0]
		p := newPlatformAt(t, st, testNow.Add(time.Hour))
		at := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("A", card, "100", at)})
		var rows []platform.TxnInput
		for i, amount := range []string{"20000", "50"} {
			r := purchase(fmt.Sprintf("R%d", i), card, amount, at.Add(time.Minute))
			r.Type, r.OriginalTransactionID, r.Currency = "refund", "A", "JPY"
			rows = append(rows, r)
		}
		sum := ingest(t, p, rows)
		if sum.Rejected != 2 {
			t.Fatalf("%+v", sum)
		}
		for _, e := range sum.Errors {
			if e.Reason != "refund currency differs from the original" {
				t.Errorf("row %d: %q, want the currency reason", e.Row, e.Reason)
			}
		}
	})
}

// giveLegacyEachID gives the campaign's only reward the id an account's each reward had before
// account keys were kept apart from the card's: rw_ and the hash of "OF-E|" and its purchase.
func giveLegacyEachID(t *testing.T, st *store.Store, txnID string) string {
	t.Helper()
	ids := slices.Collect(maps.Keys(rewardState(t, st)))
	if len(ids) != 1 {
		t.Fatalf("rewards: %v", rewardState(t, st))
	}
	h := sha256.Sum256([]byte("OF-E|" + txnID))
	legacy := "rw_" + base64.RawURLEncoding.EncodeToString(h[:16])
	for _, stmt := range []string{
		`CREATE TEMP TABLE moved AS SELECT * FROM rewards WHERE reward_id = '` + ids[0] + `'`,
		`UPDATE moved SET reward_id = '` + legacy + `'`,
		`INSERT INTO rewards SELECT * FROM moved`,
		`UPDATE reward_cards SET reward_id = '` + legacy + `' WHERE reward_id = '` + ids[0] + `'`,
		`DELETE FROM rewards WHERE reward_id = '` + ids[0] + `'`,
		`DROP TABLE moved`,
	} {
		if _, err := st.DB().Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return legacy
}

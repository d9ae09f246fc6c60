package platform_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// Cards are used in every currency: a purchase abroad in Kuwaiti dinars (3 minor digits) is a
// transaction like any other. In a CNY campaign it is stored and earns nothing (contract 8:
// only the campaign currency counts); in a KWD campaign a percent reward is computed in
// fils, half-even (1.5% of 12.345 KWD = 0.185175 → 0.185). Before, every currency but twenty
// was rejected at ingestion as "bad currency", and a KWD campaign could not be applied.
func TestThreeDigitCurrency(t *testing.T) {
	kwd := func(p platform.TxnInput) platform.TxnInput { p.Currency = "KWD"; return p }
	t.Run("a purchase abroad in a CNY campaign", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, st *store.Store) {
			f := setup(t, st)
			applyOffers(t, f.p, offer("OF-E", "each", nil))
			card := enrolledCards(t, f, 1)[0]
			p := newPlatformAt(t, st, testNow.Add(time.Hour))
			sum, err := p.Ingest(t.Context(), []platform.TxnInput{kwd(purchase("K1", card, "12.345", testNow.Add(time.Minute)))}, 1)
			if err != nil || sum.Accepted != 1 || sum.Rejected != 0 {
				t.Fatalf("a KWD purchase: %+v %v, want it accepted", sum, err)
			}
			if rs := h3Listed(t, p, f.a, card, "OF-E"); len(rs) != 0 {
				t.Fatalf("a KWD purchase earned in a CNY campaign: %+v", rs[0])
			}
		})
	})
	t.Run("a KWD campaign", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, st *store.Store) {
			f := setup(t, st)
			doc := strings.Replace(string(rewardCampaign(offer("OF-E", "each",
				map[string]any{"reward": map[string]any{"type": "Cash", "percent": 1.5}}))), `"currency":"CNY"`, `"currency":"KWD"`, 1)
			if _, err := f.p.ApplyCampaign(t.Context(), "CMP-T", []byte(doc), false); err != nil {
				t.Fatal(err)
			}
			card := enrolledCards(t, f, 1)[0]
			p := newPlatformAt(t, st, testNow.Add(time.Hour))
			ingest(t, p, []platform.TxnInput{kwd(purchase("K1", card, "12.345", testNow.Add(time.Minute)))})
			rs := h3Listed(t, p, f.a, card, "OF-E")
			if len(rs) != 1 || rs[0].CalculatedAmount != 185 || rs[0].EventTotalAmount != 12345 || rs[0].Currency != "KWD" {
				t.Fatalf("rewards %+v; want one of 185 fils on 12345 fils", rs)
			}
			sum, err := p.Ingest(t.Context(), []platform.TxnInput{kwd(purchase("K2", card, "1.2345", testNow.Add(time.Minute)))}, 1)
			if err != nil || sum.Rejected != 1 || !slices.ContainsFunc(sum.Errors, func(e platform.RowError) bool {
				return strings.Contains(e.Reason, "at most 3 decimals")
			}) {
				t.Fatalf("an amount of 4 decimals in KWD: %+v %v, want it rejected", sum, err)
			}
		})
	})
}

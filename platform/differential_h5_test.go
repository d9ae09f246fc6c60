package platform_test

// Differential tests of the reward engine's two ways (docs/decisions.md, "Evaluation"): the
// incremental one (purchases of card-aggregated units, offers without limits across periods or
// a budget) and the full recomputation from stored transactions (everything else, and
// Reevaluate after a campaign change). A seeded random campaign and history (purchases,
// partial and full refunds and reversals, duplicates, cards bound, rebound and unbound, a card
// enrolling late, one or two bill generations with late purchases and refunds after them) is
// played in three worlds that must agree after every step (contract 8: results do not depend
// on arrival order, batch split or replays), and the first is held to what users rely on
// (limits, budget, bills, event counts, adjustments) against a model of the transactions.
//
// The tests named TestH5… after TestH5Differential are its findings, minimized.

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

// h5Seeds is how many random cases TestH5Differential plays on SQLite, h5SeedsPostgres on
// PostgreSQL: about 40 seconds with -race. Hunting, VSRP_H5_SEEDS=from-to plays others (seeds
// 0-600 on SQLite and 0-60 on PostgreSQL ran clean), and VSRP_H5_SHRINK shrinks a failing case.
const (
	h5Seeds         = 8
	h5SeedsPostgres = 3
)

// h5Clock is the clock of the ingesting platform: after every transaction of the cases.
var h5Clock = orderClock

// h5Enrollments are the times a case's cards may enroll at: before the campaign starts, and
// twice during January (transactions before them do not count).
var h5Enrollments = []time.Time{time.Date(2026, 12, 20, 12, 0, 0, 0, orderZone), testNow,
	time.Date(2027, 1, 20, 9, 30, 0, 0, orderZone)}

// h5Offer is an offer of a case: orderOffer's rules, and optionally the one MCC that counts.
type h5Offer struct {
	orderOffer
	mcc string
}

func (o h5Offer) doc() map[string]any {
	d := o.orderOffer.doc()
	if o.mcc != "" {
		d["match"].(map[string]any)["mcc"] = []string{o.mcc}
	}
	return d
}

// limited reports whether some qualifying purchases may earn nothing because of a limit or
// the budget.
func (o h5Offer) limited() bool { return o.perPeriod > 0 || o.perTotal > 0 || o.budget > 0 }

// h5Txn is a transaction of a case, on the case's card index card.
type h5Txn struct {
	otxn
	mcc string
}

func (x h5Txn) input(cards []string) platform.TxnInput {
	in := x.otxn.input(cards)
	in.MCC = x.mcc
	return in
}

// Kinds of steps of a case's history.
const (
	h5Ingest   = "ingest"   // a run of transactions
	h5Bind     = "bind"     // card bound to user (rebound when bound to another; unbound for user -1)
	h5Generate = "generate" // the open bills that end before day are generated
	h5Enroll   = "enroll"   // the last card enrolls, at its time (maybe before transactions stored already)
)

type h5Step struct {
	kind       string
	rows       []h5Txn
	card, user int
	day        string
}

// h5Case is a random campaign and history.
type h5Case struct {
	seed        uint64
	aggregation string
	startDate   string
	endDate     string
	offers      []h5Offer
	enrolled    []time.Time // per card
	lateEnroll  bool        // the last card enrolls during the history (an h5Enroll step), not before it
	otherApp    bool        // card c2 enrolls through another app: it never joins an account of app A's users
	bound       []int       // per card: its user before the history, -1 none
	steps       []h5Step
}

func (c *h5Case) doc(name string) []byte {
	var docs []map[string]any
	for _, o := range c.offers {
		docs = append(docs, o.doc())
	}
	doc := string(rewardCampaign(docs...))
	doc = strings.Replace(doc, `"aggregation":"card"`, `"aggregation":"`+c.aggregation+`"`, 1)
	doc = strings.Replace(doc, `"startDate":"2027-01-01"`, `"startDate":"`+c.startDate+`"`, 1)
	doc = strings.Replace(doc, `"endDate":"2027-12-31"`, `"endDate":"`+c.endDate+`"`, 1)
	return []byte(strings.Replace(doc, `"name":"Test"`, `"name":"`+name+`"`, 1))
}

func (c *h5Case) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: aggregation %s, campaign %s to %s\n", c.seed, c.aggregation, c.startDate, c.endDate)
	for _, o := range c.offers {
		fmt.Fprintf(&b, "  offer %+v mcc=%q\n", o.orderOffer, o.mcc)
	}
	for i, at := range c.enrolled {
		late := ""
		if c.lateEnroll && i == len(c.enrolled)-1 {
			late = " (during the history)"
		}
		if c.otherApp && i == 2 {
			late += " through another app"
		}
		fmt.Fprintf(&b, "  card c%d enrolled %s%s, bound to %d\n", i, at.Format(time.RFC3339), late, c.bound[i])
	}
	for _, s := range c.steps {
		switch s.kind {
		case h5Ingest:
			fmt.Fprintf(&b, "  ingest\n")
			for _, x := range s.rows {
				fmt.Fprintf(&b, "    %s %s %s c%d %d %s mcc=%s\n", x.id, x.kind, x.orig, x.card, x.amount, x.at.In(orderZone).Format(time.RFC3339), x.mcc)
			}
		case h5Bind:
			fmt.Fprintf(&b, "  bind c%d to u%d\n", s.card, s.user)
		case h5Generate:
			fmt.Fprintf(&b, "  generate bills ending before %s\n", s.day)
		case h5Enroll:
			fmt.Fprintf(&b, "  enroll c%d\n", len(c.enrolled)-1)
		}
	}
	return b.String()
}

// h5NewCase draws a campaign (one to three offers) and a history: four cards, two users, runs
// of transactions between binding changes and one generation of the bills of January (or of
// the first half of it), with late purchases and refunds for the generated periods after it.
// Refunds and reversals arrive after their purchase and never exceed what is left of it.
func h5NewCase(seed uint64) *h5Case {
	rng := rand.New(rand.NewPCG(seed, 5))
	c := &h5Case{seed: seed, aggregation: "card", startDate: "2027-01-01", endDate: "2027-12-31"}
	if rng.IntN(100) < 45 {
		c.aggregation = "account"
	}
	if rng.IntN(4) == 0 {
		c.endDate = "2027-03-10"
	}
	if rng.IntN(4) == 0 {
		c.startDate = "2027-01-06" // a Wednesday: the first week and month are clipped
	}
	pick := func(vs ...int64) int64 { return vs[rng.IntN(len(vs))] }
	for i := range 1 + rng.IntN(3) {
		o := h5Offer{orderOffer: orderOffer{id: fmt.Sprintf("OF-%d", i), goal: []string{"each", "each", "spend", "count"}[rng.IntN(4)],
			period: []string{"day", "week", "week", "month", "month", "campaign"}[rng.IntN(6)], rewardType: "Cash"}}
		if rng.IntN(10) < 3 {
			o.rewardType = "Point"
		}
		unit := int64(100) // reward units per whole currency unit
		if o.rewardType == "Point" {
			unit = 1
		}
		if o.goal != "count" && rng.IntN(2) == 0 { // a count goal pays a fixed amount
			o.percent = pick(1, 5, 10, 33)
			if rng.IntN(2) == 0 {
				o.cap = pick(3, 8, 15) * unit
			}
		} else {
			o.amount = pick(1, 5, 12) * unit
		}
		o.minAmount = pick(0, 0, 2000, 5000)
		switch o.goal {
		case "spend":
			o.threshold = pick(10000, 25000, 40000)
		case "count":
			o.threshold = pick(2, 3, 4)
		}
		if rng.IntN(10) < 6 {
			o.perPeriod = pick(0, 0, 1, 2)
			o.perTotal = pick(0, 0, 1, 3, 5)
			o.budget = pick(0, 0, 10, 25, 60) * unit
		}
		if rng.IntN(4) == 0 {
			o.mcc = "5812"
		}
		c.offers = append(c.offers, o)
	}
	for range 4 {
		c.enrolled = append(c.enrolled, h5Enrollments[rng.IntN(len(h5Enrollments))])
		c.bound = append(c.bound, rng.IntN(3)-1)
	}
	c.lateEnroll = rng.IntN(3) == 0
	c.otherApp = c.aggregation == "account" && rng.IntN(4) == 0

	sh := orderZone
	lo, hi := time.Date(2026, 12, 28, 0, 0, 0, 0, sh), time.Date(2027, 4, 1, 0, 0, 0, 0, sh)
	bounds := []time.Time{time.Date(2027, 1, 1, 0, 0, 0, 0, sh), time.Date(2027, 2, 1, 0, 0, 0, 0, sh),
		time.Date(2027, 3, 1, 0, 0, 0, 0, sh), time.Date(2027, 3, 11, 0, 0, 0, 0, sh), testNow, h5Enrollments[2]}
	for d := time.Date(2027, 1, 4, 0, 0, 0, 0, sh); d.Before(hi); d = d.AddDate(0, 0, 7) { // Mondays
		bounds = append(bounds, d)
	}
	clamp := func(at, from, to time.Time) time.Time {
		if at.Before(from) {
			return from
		}
		if at.After(to) {
			return to
		}
		return at
	}
	when := func(from, to time.Time) time.Time {
		b := bounds[rng.IntN(len(bounds))]
		switch rng.IntN(5) {
		case 0:
			return from.Add(time.Duration(rng.Int64N(int64(to.Sub(from)/time.Second))) * time.Second)
		case 1: // fractional seconds: stored to the microsecond
			return from.Add(time.Duration(rng.Int64N(int64(to.Sub(from)))))
		case 2:
			return clamp(b.Add(time.Duration(rng.IntN(3)-1)*time.Second), from, to)
		default:
			return clamp(b.Add(time.Duration(rng.IntN(4*86400)-2*86400)*time.Second), from, to)
		}
	}

	type bought struct {
		h5Txn
		left int64
		refs int
	}
	var purchases []*bought
	var sent []h5Txn // every row so far, for duplicates
	generatedBefore := time.Time{}
	n := 0
	row := func(late bool) h5Txn {
		n++
		switch k := rng.IntN(100); {
		case k < 10 && len(sent) > 0:
			return sent[rng.IntN(len(sent))] // sent again: a duplicate
		case k < 32 && len(purchases) > 0:
			var p *bought
			for range 4 { // after generation, mostly refunds of the generated periods' purchases
				p = purchases[rng.IntN(len(purchases))]
				if p.left > 0 && p.refs < 3 && (!late || p.at.Before(generatedBefore)) {
					break
				}
			}
			if p.left == 0 || p.refs >= 3 {
				break
			}
			var back int64
			switch rng.IntN(5) {
			case 0, 1:
				back = p.left
			case 2:
				back = p.left - max(p.left/2, 2000) // may leave exactly minAmount
			default:
				back = 1 + rng.Int64N(p.left)
			}
			if back <= 0 {
				back = 1 + rng.Int64N(p.left)
			}
			p.left -= back
			p.refs++
			at := clamp(p.at.Add(time.Second+time.Duration(rng.Int64N(int64(15*24*time.Hour)))), p.at, hi)
			return h5Txn{otxn: otxn{id: fmt.Sprintf("R%02d", n), kind: []string{"refund", "reversal"}[rng.IntN(2)], orig: p.id,
				card: p.card, amount: back, at: at}, mcc: p.mcc}
		}
		at := when(lo, hi)
		if late && rng.IntN(3) == 0 {
			at = when(lo, generatedBefore.Add(-time.Second)) // a late purchase for a generated period
		}
		var amount int64
		switch rng.IntN(6) {
		case 0:
			amount = 2000
		case 1:
			amount = 5000
		default:
			amount = 300 + rng.Int64N(30000)
		}
		x := h5Txn{otxn: otxn{id: fmt.Sprintf("P%02d", n), kind: "purchase", card: rng.IntN(4), amount: amount, at: at}, mcc: "5812"}
		if rng.IntN(5) == 0 {
			x.mcc = "5411"
		}
		purchases = append(purchases, &bought{h5Txn: x, left: amount})
		return x
	}
	segments := 3 + rng.IntN(3)
	generateAfter := 1 + rng.IntN(segments-1)
	for s := range segments {
		var rows []h5Txn
		for range 6 + rng.IntN(18) {
			x := row(!generatedBefore.IsZero())
			rows = append(rows, x)
			sent = append(sent, x)
		}
		c.steps = append(c.steps, h5Step{kind: h5Ingest, rows: rows})
		if s == segments-1 {
			break
		}
		if c.lateEnroll && s == 0 {
			c.steps = append(c.steps, h5Step{kind: h5Enroll})
		}
		for range rng.IntN(3) {
			c.steps = append(c.steps, h5Step{kind: h5Bind, card: rng.IntN(4), user: rng.IntN(3) - 1})
		}
		day := ""
		switch {
		case s+1 == generateAfter && rng.IntN(5) != 0:
			day = []string{"2027-01-16", "2027-02-01", "2027-02-01"}[rng.IntN(3)]
		case s+1 > generateAfter && !generatedBefore.IsZero() && generatedBefore.Month() < 3 && rng.IntN(3) == 0:
			day = "2027-03-01" // a second generation, of February
		}
		if day != "" {
			generatedBefore, _ = time.ParseInLocation(time.DateOnly, day, sh)
			c.steps = append(c.steps, h5Step{kind: h5Generate, day: day})
		}
	}
	return c
}

// h5World is a case played on a store of its own.
type h5World struct {
	t        *testing.T
	c        *h5Case
	st       *store.Store
	f        *fixture
	p        *platform.Platform
	cards    []string
	vuids    []string
	name     map[string]string // card ids and vuids → c0…, u0…
	bound    []int             // per card: its user now, -1 none
	enrolled []bool            // per card: enrolled yet
	viaA     []bool            // per card: enrolled through app A (where its user is)
	other    *vsrp.App         // the app c2 enrolls through when not A
	pending  bool              // a change of the campaign is stored and not re-evaluated yet
	stored   map[string]h5Txn  // the transactions stored so far, by id
	// frozen holds the state of each generated bill and its rewards as generated.
	frozen  map[string][]string
	gen     map[string]*h5Generation
	renames int
}

func newH5World(t *testing.T, engine store.Engine, c *h5Case) *h5World {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, engine)
	w := &h5World{t: t, c: c, st: st, f: setup(t, st), p: newPlatformAt(t, st, h5Clock), name: map[string]string{},
		bound: slices.Repeat([]int{-1}, len(c.enrolled)), enrolled: make([]bool, len(c.enrolled)),
		viaA: slices.Repeat([]bool{true}, len(c.enrolled)), stored: map[string]h5Txn{}, frozen: map[string][]string{},
		gen: map[string]*h5Generation{}}
	if c.otherApp {
		w.other, w.viaA[2] = otherApp(t, w.f), false
	}
	if _, err := w.f.p.ApplyCampaign(ctx, "CMP-T", c.doc("Test"), false); err != nil {
		t.Fatal(err)
	}
	for i := range c.enrolled {
		card, err := w.f.p.CardInfo(ctx, w.f.a, pan(fmt.Sprintf("411111118%06d", i)))
		if err != nil {
			t.Fatal(err)
		}
		w.cards = append(w.cards, card.ID)
		w.name[card.ID] = fmt.Sprintf("c%d", i)
		if !c.lateEnroll || i < len(c.enrolled)-1 {
			if err := w.enroll(i); err != nil {
				t.Fatal(err)
			}
		}
	}
	for j := range 2 {
		u, err := w.f.p.GetVuid(ctx, w.f.a, fmt.Sprintf("h5-user-%d", j))
		if err != nil {
			t.Fatal(err)
		}
		w.vuids = append(w.vuids, u.Vuid)
		w.name[u.Vuid] = fmt.Sprintf("u%d", j)
	}
	for i, u := range c.bound {
		if err := w.bind(i, u); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// enroll enrolls card i at its enrollment time.
func (w *h5World) enroll(i int) error {
	a := w.f.a
	if !w.viaA[i] {
		a = w.other
	}
	e, _, err := newPlatformAt(w.t, w.st, w.c.enrolled[i]).Enroll(context.Background(), a, w.cards[i], "EG-R", nil)
	if err == nil && !e.CreatedAt.Equal(w.c.enrolled[i]) {
		err = fmt.Errorf("c%d enrolled at %v, want %v", i, e.CreatedAt, w.c.enrolled[i])
	}
	w.enrolled[i] = err == nil
	return err
}

// bind binds card i to user u (unbinding it from another first), or unbinds it (u -1).
func (w *h5World) bind(i, u int) error {
	ctx := context.Background()
	if w.bound[i] == u {
		return nil
	}
	if w.bound[i] >= 0 {
		if err := w.p.RemoveCard(ctx, w.f.a, w.vuids[w.bound[i]], w.cards[i]); err != nil {
			return fmt.Errorf("unbinding c%d: %w", i, err)
		}
		w.bound[i] = -1
	}
	if u >= 0 {
		if err := w.p.AddCard(ctx, w.f.a, w.vuids[u], w.cards[i]); err != nil {
			return fmt.Errorf("binding c%d to u%d: %w", i, u, err)
		}
		w.bound[i] = u
	}
	return nil
}

// ingest ingests rows as one batch; every row must be accepted or a duplicate.
func (w *h5World) ingest(rows []h5Txn) error {
	var in []platform.TxnInput
	for _, x := range rows {
		in = append(in, x.input(w.cards))
	}
	sum, err := w.p.Ingest(context.Background(), in, 1)
	if err != nil {
		return err
	}
	if sum.Rejected != 0 {
		return fmt.Errorf("rejected rows: %+v", sum.Errors)
	}
	for _, x := range rows {
		w.stored[x.id] = x
	}
	return nil
}

// generate generates every open bill of the campaign that ends before day, and keeps what
// they hold.
func (w *h5World) generate(day string) error {
	ctx := context.Background()
	if err := w.settle(); err != nil { // bills are not generated while a change is pending
		return err
	}
	bills, err := w.p.Bills(ctx, "CMP-T")
	if err != nil {
		return err
	}
	for _, b := range bills {
		if b.Status != vsrp.BillOpen || b.EndDate >= day {
			continue
		}
		if _, err := w.p.GenerateBill(ctx, b.ID, true); err != nil {
			return fmt.Errorf("generating %s %s: %w", b.OfferID, b.StartDate, err)
		}
	}
	rs, bills, err := w.rewards()
	if err != nil {
		return err
	}
	for label, lines := range w.generatedBills(rs, bills) {
		if _, seen := w.frozen[label]; !seen {
			w.frozen[label] = lines
		}
	}
	for _, b := range bills {
		if b.Status == vsrp.BillOpen || w.gen[b.ID] != nil {
			continue
		}
		g := &h5Generation{each: map[string]bool{}, live: map[string]string{}, voided: map[string][]string{}, stored: map[string]bool{}}
		for i := range w.cards {
			g.units = append(g.units, w.unitOf(i))
		}
		for _, r := range rs {
			switch {
			case r.Bill.ID != b.ID:
			case strings.Contains(r.label, " P"):
				g.each[r.label] = true
			case !r.Voided:
				for _, c := range r.CardIDs {
					g.live[w.name[c]] = r.label
				}
			default:
				for _, c := range r.CardIDs {
					g.voided[w.name[c]] = append(g.voided[w.name[c]], r.label)
				}
			}
		}
		for id := range w.stored {
			g.stored[id] = true
		}
		w.gen[b.ID] = g
	}
	return nil
}

// h5Generation is what a world knew when it generated a bill.
type h5Generation struct {
	units  []string            // per card: the unit it counted in
	each   map[string]bool     // the bill's each rewards (voided ones too), by label
	live   map[string]string   // card → the live spend or count reward listing it
	voided map[string][]string // card → the voided spend or count rewards listing it (former units' or none counting)
	stored map[string]bool     // the transactions stored
}

// rename applies the campaign again with another name: nothing a reward depends on changes,
// and the change is re-evaluated (every reward of open bills recomputed from the stored
// transactions).
//
// Unless settle, the change is only stored, as by a process that died before re-evaluating
// it: until settled (Reevaluate), ingestion evaluates the campaign's units in full.
func (w *h5World) rename(settle bool) error {
	ctx := context.Background()
	w.renames++
	doc := w.c.doc(fmt.Sprintf("Test %d", w.renames))
	if settle {
		_, err := w.p.ApplyCampaign(ctx, "CMP-T", doc, false)
		w.pending = w.pending && err != nil
		return err
	}
	c, err := vsrp.ParseCampaign(doc)
	if err == nil {
		_, _, err = w.st.ApplyCampaign(ctx, c, doc, h5Clock)
	}
	w.pending = true
	return err
}

// settle re-evaluates a change of the campaign left pending, as the scheduler does.
func (w *h5World) settle() error {
	if !w.pending {
		return nil
	}
	w.pending = false
	return w.p.Reevaluate(context.Background(), "CMP-T")
}

// h5Mode is how a world plays a case's runs of transactions.
type h5Mode int

const (
	h5OneBatch   h5Mode = iota // each run as one batch, in the order drawn
	h5Split                    // each run shuffled (refunds after their purchases) and split in random batches, some replayed
	h5Reevaluate               // each run split in random batches, the campaign applied again now and then (re-evaluated then or later)
)

// play plays the case's history; after every step check (when set) may look at the world.
func (w *h5World) play(mode h5Mode, rng *rand.Rand, check func(step int) error) error {
	for i, s := range w.c.steps {
		var err error
		switch s.kind {
		case h5Bind:
			err = w.bind(s.card, s.user)
		case h5Generate:
			err = w.generate(s.day)
		case h5Enroll:
			err = w.enroll(len(w.cards) - 1)
		case h5Ingest:
			rows := s.rows
			if mode == h5OneBatch {
				err = w.ingest(rows)
				break
			}
			if mode == h5Split {
				rows = h5Shuffle(rng, rows)
			}
			for len(rows) > 0 && err == nil {
				n := 1 + rng.IntN(min(len(rows), 6))
				err = w.ingest(rows[:n])
				if err == nil && mode == h5Split && rng.IntN(5) == 0 {
					err = w.ingest(rows[:n]) // the batch replayed: duplicates only
				}
				rows = rows[n:]
				if err == nil && mode == h5Reevaluate && rng.IntN(6) == 0 {
					err = w.rename(rng.IntN(2) == 0)
				}
			}
		}
		if err != nil {
			return fmt.Errorf("step %d (%s): %w", i, s.kind, err)
		}
		if check != nil {
			if err := check(i); err != nil {
				return fmt.Errorf("after step %d (%s): %w", i, s.kind, err)
			}
		}
	}
	return w.settle()
}

// bindingsMoved answers the case's history up to its first generation with the binding
// changes of each stretch between enrollments moved before (or after) all the stretch's
// transactions, which come as one batch; and the step of the case after which the state is
// the one the moved history must end in. nil when the case changes no binding then.
func (c *h5Case) bindingsMoved() (*h5Case, int) {
	moved := *c
	moved.steps = nil
	rng := rand.New(rand.NewPCG(c.seed, 7))
	var binds []h5Step
	var rows []h5Txn
	flush := func() {
		first := rng.IntN(2) == 0
		if first {
			moved.steps = append(moved.steps, binds...)
		}
		if len(rows) > 0 {
			moved.steps = append(moved.steps, h5Step{kind: h5Ingest, rows: rows})
		}
		if !first {
			moved.steps = append(moved.steps, binds...)
		}
		binds, rows = nil, nil
	}
	last, changed := len(c.steps)-1, false
	for i, s := range c.steps {
		if s.kind == h5Generate {
			last = i - 1
			break
		}
		switch s.kind {
		case h5Bind:
			binds, changed = append(binds, s), true
		case h5Ingest:
			rows = append(rows, s.rows...)
		case h5Enroll:
			flush()
			moved.steps = append(moved.steps, s)
		}
	}
	flush()
	if !changed {
		return nil, 0
	}
	return &moved, last
}

// h5Live keeps of a state the rewards that are not voided and the bills that hold one: what
// users see, whatever voided rewards an order of binding changes left behind.
func h5Live(state []string) []string {
	var out []string
	for _, l := range state {
		if strings.HasPrefix(l, "reward ") && strings.Contains(l, " voided=false ") ||
			strings.HasPrefix(l, "bill ") && !strings.Contains(l, " rewards=0 total=0") {
			out = append(out, l)
		}
	}
	return out
}

// h5Shuffle shuffles rows, then moves every refund or reversal after its purchase.
func h5Shuffle(rng *rand.Rand, rows []h5Txn) []h5Txn {
	out := slices.Clone(rows)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	for i := 0; i < len(out); i++ {
		if out[i].orig == "" {
			continue
		}
		if j := slices.IndexFunc(out[i+1:], func(x h5Txn) bool { return x.id == out[i].orig }); j >= 0 {
			out[i], out[i+1+j] = out[i+1+j], out[i]
			i--
		}
	}
	return out
}

// h5RewardID is the id the platform gives the reward of a result key (offer, unit and period,
// or offer and purchase): the tests name rewards by what they reward with it.
func h5RewardID(key string) string {
	h := sha256.Sum256([]byte(key))
	return "rw_" + base64.RawURLEncoding.EncodeToString(h[:16])
}

// labels names the world's possible rewards: "OF-0 u1 2027-01-04" (a spend or count reward of
// user u1's account for the period starting that day), "OF-0 c2 P17" (an each reward of the
// purchase in card c2's own unit), "OF-0 u1 P17" (in the account).
func (w *h5World) labels(billStarts []string) map[string]string {
	type unit struct{ key, name string }
	var units []unit
	for i, c := range w.cards {
		units = append(units, unit{"card:" + c, fmt.Sprintf("c%d", i)})
	}
	for j, v := range w.vuids {
		units = append(units, unit{"acct:" + w.f.a.ID + ":" + v, fmt.Sprintf("u%d", j)})
	}
	out := map[string]string{}
	for _, o := range w.c.offers {
		for _, s := range w.c.steps {
			for _, x := range s.rows {
				if x.kind != "purchase" {
					continue
				}
				out[h5RewardID(o.id+"|"+x.id)] = fmt.Sprintf("%s c%d %s", o.id, x.card, x.id)
				for _, u := range units[len(w.cards):] {
					out[h5RewardID(o.id+"|"+u.key+"|"+x.id)] = fmt.Sprintf("%s %s %s", o.id, u.name, x.id)
				}
			}
		}
		for _, start := range billStarts {
			for _, u := range units {
				out[h5RewardID(o.id+"|"+u.key+"|"+start)] = fmt.Sprintf("%s %s %s", o.id, u.name, start)
			}
		}
	}
	return out
}

// h5Reward is a reward with the name of what it rewards.
type h5Reward struct {
	*vsrp.Reward
	label string
}

// rewards answers every reward of the campaign (voided ones included), named, and the bills.
func (w *h5World) rewards() ([]h5Reward, []*store.BillSummary, error) {
	ctx := context.Background()
	bills, err := w.p.Bills(ctx, "CMP-T")
	if err != nil {
		return nil, nil, err
	}
	var starts []string
	for _, b := range bills {
		starts = append(starts, b.StartDate)
	}
	names := w.labels(starts)
	rs, _, err := w.st.AdminRewards(ctx, store.AdminRewardQuery{CampaignID: "CMP-T", Limit: 100000})
	if err != nil {
		return nil, nil, err
	}
	out := make([]h5Reward, len(rs))
	for i, r := range rs {
		label := names[r.ID]
		if label == "" {
			label = "unknown " + r.ID
		}
		out[i] = h5Reward{r, label}
	}
	return out, bills, nil
}

func (w *h5World) names(ids []string) string {
	var out []string
	for _, id := range ids {
		out = append(out, cmp.Or(w.name[id], id))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func (w *h5World) describeReward(r h5Reward) string {
	confirmed := "-"
	if r.ConfirmedAmount != nil {
		confirmed = fmt.Sprint(*r.ConfirmedAmount)
	}
	return fmt.Sprintf("reward %s bill=%s..%s status=%d voided=%v amount=%d confirmed=%s n=%d total=%d account=%s cards=%s msg=%q",
		r.label, r.Bill.StartDate, r.Bill.EndDate, r.Status, r.Voided, r.CalculatedAmount, confirmed, r.EventCount,
		r.EventTotalAmount, cmp.Or(w.name[r.AccountVuid], r.AccountVuid), w.names(r.CardIDs), r.CalculateMessage)
}

func (w *h5World) describeBill(b *store.BillSummary, names map[string]string, adjustments bool) string {
	s := fmt.Sprintf("bill %s %s..%s due=%s status=%d rewards=%d total=%d", b.OfferID, b.StartDate, b.EndDate, b.SettlementDate,
		b.Status, b.RewardCount, b.TotalAmount)
	if adjustments {
		var adj []string
		for _, a := range b.Adjustments {
			adj = append(adj, fmt.Sprintf("%s %s %d → %s", a.TxnID, a.Type, a.Amount, cmp.Or(names[a.RewardID], a.RewardID, "none")))
		}
		slices.Sort(adj)
		s += fmt.Sprintf(" adjustments=%q", adj)
	}
	return s
}

// state is everything stored of the campaign's rewards and bills, in words that do not depend
// on the store's random ids, one line each, sorted.
func (w *h5World) state() ([]string, error) {
	rs, bills, err := w.rewards()
	if err != nil {
		return nil, err
	}
	return w.stateOf(rs, bills), nil
}

// stateOf is state from the rewards and bills read.
func (w *h5World) stateOf(rs []h5Reward, bills []*store.BillSummary) []string {
	names := map[string]string{}
	var out []string
	for _, r := range rs {
		names[r.ID] = r.label
		out = append(out, w.describeReward(r))
	}
	for _, b := range bills {
		out = append(out, w.describeBill(b, names, true))
	}
	slices.Sort(out)
	return out
}

// generatedBills answers, for each generated bill, the bill and its rewards (voided ones
// included) as they stand, adjustments left out.
func (w *h5World) generatedBills(rs []h5Reward, bills []*store.BillSummary) map[string][]string {
	out := map[string][]string{}
	for _, b := range bills {
		if b.Status != vsrp.BillOpen {
			out[b.ID] = []string{w.describeBill(b, nil, false)}
		}
	}
	for _, r := range rs {
		if lines, ok := out[r.Bill.ID]; ok {
			out[r.Bill.ID] = append(lines, w.describeReward(r))
		}
	}
	for _, lines := range out {
		slices.Sort(lines)
	}
	return out
}

// h5Day is the campaign zone's date of t.
func h5Day(t time.Time) string { return t.In(orderZone).Format(time.DateOnly) }

// qualifies reports whether the purchase counts for the offer by itself (contract 8): its card
// enrolled at or before it, within the campaign dates, on the offer's MCC, at least minAmount.
func (w *h5World) qualifies(o h5Offer, x h5Txn) bool {
	d := h5Day(x.at)
	return x.kind == "purchase" && w.enrolled[x.card] && !x.at.Before(w.c.enrolled[x.card]) && d >= w.c.startDate && d <= w.c.endDate &&
		(o.mcc == "" || o.mcc == x.mcc) && x.amount >= o.minAmount
}

// net answers what is left of the purchase after the refunds and reversals stored so far.
func (w *h5World) net(id string) int64 {
	left := w.stored[id].amount
	for _, x := range w.stored {
		if x.orig == id {
			left -= x.amount
		}
	}
	return left
}

// payout is what a met reward pays for the base spend: the fixed amount, or percent of it
// (half-even, in reward units), capped.
func (o h5Offer) payout(base int64) int64 {
	v := o.amount
	if o.percent != 0 {
		num, den := base*o.percent, int64(100)
		if o.rewardType == "Point" {
			den *= 100 // minor units of CNY to whole points
		}
		q, r := num/den, num%den
		if 2*r > den || (2*r == den && q%2 == 1) {
			q++
		}
		v = q
	}
	if o.cap > 0 && v > o.cap {
		v = o.cap
	}
	return v
}

// unitCards answers the cards of a unit now: the cards bound to the account's user that
// enrolled in the campaign through app A, or the card.
func (w *h5World) unitCards(name string) []int {
	var out []int
	for i := range w.cards {
		if (name[0] == 'u' && w.enrolled[i] && w.viaA[i] && fmt.Sprintf("u%d", w.bound[i]) == name) ||
			(name[0] == 'c' && fmt.Sprintf("c%d", i) == name) {
			out = append(out, i)
		}
	}
	return out
}

// unitOf answers the unit card i counts in now.
func (w *h5World) unitOf(i int) string {
	if w.c.aggregation == "account" && w.bound[i] >= 0 && w.viaA[i] {
		return fmt.Sprintf("u%d", w.bound[i])
	}
	return fmt.Sprintf("c%d", i)
}

// check holds the world to what users rely on (contract 8), against the transactions stored so
// far: limits and the budget are never exceeded; generated bills are as generated; each bill's
// totals are those of its live rewards; every live reward of an open bill belongs to a unit as
// the bindings make it now, lists that unit's cards, and counts exactly the unit's purchases
// of its period that count (eventCount, eventTotalAmount), paying what they earn when met;
// and every purchase that counts has its reward. rs and bills are the world's, as read now.
func (w *h5World) check(rs []h5Reward, bills []*store.BillSummary) error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	generated := w.generatedBills(rs, bills)
	for label, want := range w.frozen {
		if got := generated[label]; !slices.Equal(got, want) {
			bad("generated bill changed:\n      now  %q\n      then %q", got, want)
		}
	}
	billOf := map[string]*store.BillSummary{}
	for _, b := range bills {
		billOf[b.ID] = b
		var n int
		var total int64
		for _, r := range rs {
			if r.Bill.ID == b.ID && !r.Voided {
				if b.Status == vsrp.BillOpen || r.Status > 0 {
					n++
				}
				total += *cmp.Or(r.ConfirmedAmount, &r.CalculatedAmount)
			}
		}
		if b.RewardCount != n || b.TotalAmount != total {
			bad("bill %s %s: rewardCount %d, totalAmount %d; its live rewards: %d, %d", b.OfferID, b.StartDate, b.RewardCount,
				b.TotalAmount, n, total)
		}
	}

	offers := map[string]h5Offer{}
	for _, o := range w.c.offers {
		offers[o.id] = o
	}
	perPeriod, perTotal, paid := map[string]int64{}, map[string]int64{}, map[string]int64{}
	type unitBill struct{ offer, unit, bill string }
	live := map[unitBill]bool{}   // spend and count rewards of open bills
	each := map[string]h5Reward{} // each rewards by label, voided too
	for _, r := range rs {
		o := offers[r.OfferID]
		if !r.Voided && r.Status >= vsrp.RewardMet {
			unit := cmp.Or(w.name[r.AccountVuid], w.names(r.CardIDs))
			perPeriod[r.OfferID+" "+unit+" "+r.Bill.StartDate]++
			perTotal[r.OfferID+" "+unit]++
			paid[r.OfferID] += *cmp.Or(r.ConfirmedAmount, &r.CalculatedAmount)
		}
		if o.goal == "each" {
			each[r.label] = r
		}
		if r.Voided {
			continue
		}
		b := billOf[r.Bill.ID]
		if b.Status != vsrp.BillOpen {
			switch {
			case r.Status != vsrp.RewardNotMet && r.Status != vsrp.RewardToSettle:
				bad("%s: status %d on a generated bill, want 0 or 2", r.label, r.Status)
			case r.ConfirmedAmount == nil:
				bad("%s: no confirmedAmount on a generated bill", r.label)
			case r.Status == vsrp.RewardToSettle && *r.ConfirmedAmount != r.CalculatedAmount:
				bad("%s: confirmed %d, calculated %d", r.label, *r.ConfirmedAmount, r.CalculatedAmount)
			case r.Status == vsrp.RewardNotMet && (*r.ConfirmedAmount != 0 || r.CalculatedAmount != 0):
				bad("%s: not met, yet confirmed %d, calculated %d", r.label, *r.ConfirmedAmount, r.CalculatedAmount)
			}
			continue
		}
		// A live reward of an open bill: its unit as the bindings make it now.
		fields := strings.Fields(r.label)
		if len(fields) != 3 {
			bad("%s: a reward the rules do not name (%s)", r.label, w.describeReward(r))
			continue
		}
		unit, what := fields[1], fields[2]
		cards := w.unitCards(unit)
		var cardNames []string
		for _, i := range cards {
			cardNames = append(cardNames, fmt.Sprintf("c%d", i))
		}
		switch {
		case r.Status > vsrp.RewardMet || r.ConfirmedAmount != nil:
			bad("%s: status %d (confirmed %v) on an open bill", r.label, r.Status, r.ConfirmedAmount)
		case unit[0] == 'u' && w.c.aggregation != "account":
			bad("%s: an account's reward under card aggregation", r.label)
		case unit[0] == 'u' && len(cards) == 0:
			bad("%s: live, but its account has no card now", r.label)
		case unit[0] == 'c' && w.unitOf(cards[0]) != unit:
			bad("%s: live, but card %s counts in %s's account now", r.label, unit, w.unitOf(cards[0]))
		case w.names(r.CardIDs) != strings.Join(cardNames, ","):
			bad("%s: lists cards %s, its unit has %v", r.label, w.names(r.CardIDs), cardNames)
		case (unit[0] == 'u') != (r.AccountVuid != "") || (r.AccountVuid != "" && w.name[r.AccountVuid] != unit):
			bad("%s: the reward of account %q", r.label, cmp.Or(w.name[r.AccountVuid], r.AccountVuid))
		}
		var n, total int64
		var counted []string
		for _, x := range w.stored {
			d := h5Day(x.at)
			if !slices.Contains(cards, x.card) || !w.qualifies(o, x) || d < r.Bill.StartDate || d > r.Bill.EndDate {
				continue
			}
			if net := w.net(x.id); net > 0 && net >= o.minAmount && (o.goal != "each" || x.id == what) {
				n, total = n+1, total+net
				counted = append(counted, x.id)
			}
		}
		if r.EventCount != n || r.EventTotalAmount != total {
			bad("%s: eventCount %d, eventTotalAmount %d; the purchases that count for it: %d, %d %v", r.label, r.EventCount,
				r.EventTotalAmount, n, total, counted)
		}
		met := o.goal == "each" || (o.goal == "count" && n >= o.threshold) || (o.goal == "spend" && total >= o.threshold)
		switch {
		case o.goal == "each" && n != 1:
			bad("%s: live, but its purchase does not count", r.label)
		case !met && (r.Status != vsrp.RewardNotMet || r.CalculatedAmount != 0):
			bad("%s: goal not met, yet status %d amount %d", r.label, r.Status, r.CalculatedAmount)
		case met && r.Status == vsrp.RewardMet && r.CalculatedAmount != o.payout(total):
			bad("%s: pays %d, want %d for %d", r.label, r.CalculatedAmount, o.payout(total), total)
		case met && r.Status == vsrp.RewardNotMet && (!o.limited() ||
			!strings.Contains(r.CalculateMessage, "limit reached") && !strings.Contains(r.CalculateMessage, "budget is spent")):
			bad("%s: goal met, status 0 with message %q", r.label, r.CalculateMessage)
		}
		if o.goal != "each" {
			live[unitBill{r.OfferID, unit, r.Bill.StartDate}] = true
		}
	}
	problems = append(problems, w.checkEarnOrder(rs, billOf)...)
	problems = append(problems, w.checkAdjustments(rs, bills)...)
	for key, n := range perPeriod {
		if o := offers[strings.Fields(key)[0]]; o.perPeriod > 0 && n > o.perPeriod {
			bad("%s: %d rewards earn, limit %d per period", key, n, o.perPeriod)
		}
	}
	for key, n := range perTotal {
		if o := offers[strings.Fields(key)[0]]; o.perTotal > 0 && n > o.perTotal {
			bad("%s: %d rewards earn, limit %d in total", key, n, o.perTotal)
		}
	}
	for id, v := range paid {
		if o := offers[id]; o.budget > 0 && v > o.budget {
			bad("%s: rewards pay %d, budget %d", id, v, o.budget)
		}
	}
	// Every purchase that counts has its reward on its open bill.
	for _, x := range w.stored {
		for _, o := range w.c.offers {
			if !w.qualifies(o, x) {
				continue
			}
			var bill *store.BillSummary
			for _, b := range bills {
				if b.OfferID == o.id && b.StartDate <= h5Day(x.at) && h5Day(x.at) <= b.EndDate {
					bill = b
				}
			}
			unit := w.unitOf(x.card)
			switch {
			case bill == nil:
				bad("%s %s: no bill holds its day", o.id, x.id)
			case bill.Status != vsrp.BillOpen:
			case o.goal != "each":
				if !live[unitBill{o.id, unit, bill.StartDate}] {
					bad("%s %s %s: no live reward for the purchase %s", o.id, unit, bill.StartDate, x.id)
				}
			default:
				r, ok := each[fmt.Sprintf("%s %s %s", o.id, unit, x.id)]
				counts := w.net(x.id) > 0 && w.net(x.id) >= o.minAmount
				switch {
				case !ok:
					bad("%s %s %s: no reward for the purchase", o.id, unit, x.id)
				case r.Voided && counts && !o.limited():
					bad("%s: voided, yet its purchase counts and no limit holds it back", r.label)
				}
			}
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%d problems:\n    %s", len(problems), strings.Join(problems, "\n    "))
	}
	return nil
}

// earn answers what decides the place of a reward of an open bill under limits and the budget
// (contract 8: the earliest earn, by transaction time then id): the time and id of the
// purchase that met it (its own for an each goal; for a spend or count goal the one that
// reached the threshold), and the spend its payout is computed from. ok is false when the
// rules do not meet it.
func (w *h5World) earn(o h5Offer, r h5Reward) (key string, base int64, ok bool) {
	fields := strings.Fields(r.label)
	if len(fields) != 3 {
		return "", 0, false
	}
	if o.goal == "each" {
		x, stored := w.stored[fields[2]]
		net := w.net(x.id)
		return fmt.Sprintf("%020d|%s", x.at.UnixMicro(), x.id), net, stored && w.qualifies(o, x) && net > 0 && net >= o.minAmount
	}
	var counting []h5Txn
	for _, x := range w.stored {
		d := h5Day(x.at)
		if slices.Contains(w.unitCards(fields[1]), x.card) && w.qualifies(o, x) && d >= r.Bill.StartDate && d <= r.Bill.EndDate &&
			w.net(x.id) > 0 && w.net(x.id) >= o.minAmount {
			counting = append(counting, x)
		}
	}
	slices.SortFunc(counting, func(a, b h5Txn) int {
		return cmp.Or(cmp.Compare(a.at.UnixMicro(), b.at.UnixMicro()), cmp.Compare(a.id, b.id))
	})
	var n, total int64
	for _, x := range counting {
		n, total = n+1, total+w.net(x.id)
		if (o.goal == "count" && n == o.threshold) || (o.goal == "spend" && total >= o.threshold && key == "") {
			key = fmt.Sprintf("%020d|%s", x.at.UnixMicro(), x.id)
		}
	}
	return key, total, key != ""
}

// checkEarnOrder checks that limits and the budget hold back only what they must, the latest
// earns first (contract 8): a reward held back by a limit finds the limit taken by earlier
// earns of its unit (rewards of generated bills count as generated), and one the budget
// does not pay would not fit in what is left of it. A reward the budget does not pay still
// takes its place under the limits (limits apply first).
func (w *h5World) checkEarnOrder(rs []h5Reward, billOf map[string]*store.BillSummary) []string {
	var problems []string
	offers := map[string]h5Offer{}
	for _, o := range w.c.offers {
		offers[o.id] = o
	}
	place := func(r h5Reward) bool {
		return (!r.Voided && r.Status >= vsrp.RewardMet) || strings.Contains(r.CalculateMessage, "budget is spent")
	}
	unitOf := func(r h5Reward) string { return cmp.Or(w.name[r.AccountVuid], w.names(r.CardIDs)) }
	inPeriod, inTotal := map[string][]h5Reward{}, map[string][]h5Reward{}
	paid := map[string]int64{}
	for _, r := range rs {
		if place(r) {
			inPeriod[r.OfferID+" "+unitOf(r)+" "+r.Bill.ID] = append(inPeriod[r.OfferID+" "+unitOf(r)+" "+r.Bill.ID], r)
			inTotal[r.OfferID+" "+unitOf(r)] = append(inTotal[r.OfferID+" "+unitOf(r)], r)
		}
		if !r.Voided && r.Status >= vsrp.RewardMet {
			paid[r.OfferID] += *cmp.Or(r.ConfirmedAmount, &r.CalculatedAmount)
		}
	}
	for _, r := range rs {
		o := offers[r.OfferID]
		msg := r.CalculateMessage
		if billOf[r.Bill.ID].Status != vsrp.BillOpen || !strings.Contains(msg, "limit reached") && !strings.Contains(msg, "budget is spent") {
			continue
		}
		key, base, ok := w.earn(o, r)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: %q, but the rules do not meet it", r.label, msg))
			continue
		}
		var rivals []h5Reward
		var limit int64
		switch {
		case strings.Contains(msg, "per card per"):
			rivals, limit = inPeriod[r.OfferID+" "+unitOf(r)+" "+r.Bill.ID], o.perPeriod
		case strings.Contains(msg, "in total"):
			rivals, limit = inTotal[r.OfferID+" "+unitOf(r)], o.perTotal
		default: // the budget
			if want := o.payout(base); want <= o.budget-paid[r.OfferID] {
				problems = append(problems, fmt.Sprintf("%s: the budget does not pay its %d, yet %d of %d is left", r.label, want,
					o.budget-paid[r.OfferID], o.budget))
			}
			continue
		}
		if int64(len(rivals)) < limit {
			problems = append(problems, fmt.Sprintf("%s: %q, yet %d rewards take places", r.label, msg, len(rivals)))
		}
		for _, p := range rivals {
			if billOf[p.Bill.ID].Status != vsrp.BillOpen {
				continue
			}
			if pk, _, _ := w.earn(o, p); pk > key {
				problems = append(problems, fmt.Sprintf("%s (earned %s) is held back by the limit, yet %s (earned %s) takes a place", r.label,
					key, p.label, pk))
			}
		}
	}
	return problems
}

// checkAdjustments checks the adjustments of generated bills (contract 8, docs/decisions.md
// "Adjustments"): every transaction stored after a bill's generation that changes one of its
// rewards (a purchase that counts for the offer in the bill's period, or a refund or reversal
// of one) is recorded on it once, naming the reward of the bill that its purchase counted in:
// for an each goal the purchase's reward in the unit its card was in at generation; for a
// spend or count goal the live reward listing the card at generation. Without one, none, or
// (a spend or count goal) a voided reward that listed the card: the bill had no reward the
// purchase would count in, and which of those is named the contract leaves open.
func (w *h5World) checkAdjustments(rs []h5Reward, bills []*store.BillSummary) []string {
	var problems []string
	names := map[string]string{}
	for _, r := range rs {
		names[r.ID] = r.label
	}
	offers := map[string]h5Offer{}
	for _, o := range w.c.offers {
		offers[o.id] = o
	}
	for _, b := range bills {
		g := w.gen[b.ID]
		if g == nil {
			continue
		}
		o := offers[b.OfferID]
		want := map[string][]string{} // transaction → the rewards it may name
		for _, x := range w.stored {
			p := x
			if x.kind != "purchase" {
				p = w.stored[x.orig]
			}
			if g.stored[x.id] || !w.qualifies(o, p) || h5Day(p.at) < b.StartDate || h5Day(p.at) > b.EndDate {
				continue
			}
			card := fmt.Sprintf("c%d", p.card)
			each := fmt.Sprintf("%s %s %s", o.id, g.units[p.card], p.id)
			switch {
			case o.goal == "each" && g.each[each]:
				want[x.id] = []string{each}
			case o.goal != "each" && g.live[card] != "":
				want[x.id] = []string{g.live[card]}
			case o.goal != "each":
				want[x.id] = append([]string{"none"}, g.voided[card]...)
			default:
				want[x.id] = []string{"none"}
			}
		}
		got := map[string]string{}
		for _, a := range b.Adjustments {
			if _, twice := got[a.TxnID]; twice {
				problems = append(problems, fmt.Sprintf("bill %s %s: %s recorded twice", b.OfferID, b.StartDate, a.TxnID))
			}
			got[a.TxnID] = cmp.Or(names[a.RewardID], a.RewardID, "none")
		}
		if !maps.EqualFunc(got, want, func(named string, may []string) bool { return slices.Contains(may, named) }) {
			problems = append(problems, fmt.Sprintf("bill %s %s: adjustments %v, want %v", b.OfferID, b.StartDate, got, want))
		}
	}
	return problems
}

// h5Diff lists the lines of two sorted states that differ.
func h5Diff(got, want []string) string {
	var b strings.Builder
	for _, l := range got {
		if !slices.Contains(want, l) {
			fmt.Fprintf(&b, "    + %s\n", l)
		}
	}
	for _, l := range want {
		if !slices.Contains(got, l) {
			fmt.Fprintf(&b, "    - %s\n", l)
		}
	}
	return b.String()
}

// h5Run plays the case in four worlds and answers the first discrepancy, or nil:
//  1. the runs of transactions as one batch each, checked after every step;
//  2. shuffled (refunds after their purchases) and split in random batches: the same state
//     after every step;
//  3. split in random batches with the campaign applied again now and then (re-evaluated in
//     full, at once or later): the same state after every step;
//  4. up to the first generation, the binding changes moved before or after the transactions
//     around them: the same live rewards;
//
// and world 1 again after the campaign is applied once more: the same state, checked.
func h5Run(t *testing.T, engine store.Engine, c *h5Case) error {
	t.Helper()
	one := newH5World(t, engine, c)
	var steps [][]string // world 1's state after each step
	err := one.play(h5OneBatch, nil, func(int) error {
		rs, bills, err := one.rewards()
		if err != nil {
			return err
		}
		steps = append(steps, one.stateOf(rs, bills))
		return one.check(rs, bills)
	})
	if err != nil {
		return fmt.Errorf("one batch per run: %w", err)
	}
	want := steps[len(steps)-1]
	for _, m := range []struct {
		mode h5Mode
		name string
	}{{h5Split, "shuffled and split in batches"}, {h5Reevaluate, "split, re-evaluated now and then"}} {
		w := newH5World(t, engine, c)
		err := w.play(m.mode, rand.New(rand.NewPCG(c.seed, uint64(m.mode))), func(step int) error {
			got, err := w.state()
			if err == nil && !slices.Equal(got, steps[step]) {
				err = fmt.Errorf("the state differs from one batch per run (+ %s, - one batch):\n%s", m.name, h5Diff(got, steps[step]))
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		if got, err := w.state(); err != nil || !slices.Equal(got, want) { // its last change re-evaluated
			return fmt.Errorf("%s, at the end: the state differs from one batch per run (%v):\n%s", m.name, err, h5Diff(got, want))
		}
	}
	if moved, at := c.bindingsMoved(); moved != nil {
		w := newH5World(t, engine, moved)
		if err := w.play(h5OneBatch, nil, nil); err != nil {
			return fmt.Errorf("binding changes moved: %w", err)
		}
		got, err := w.state()
		if err != nil {
			return err
		}
		if got, want := h5Live(got), h5Live(steps[at]); !slices.Equal(got, want) {
			return fmt.Errorf("binding changes moved before or after the transactions around them, the live rewards differ "+
				"(+ moved, - as they came) after step %d:\n%s%s", at, h5Diff(got, want), moved)
		}
	}
	if err := one.rename(true); err != nil {
		return err
	}
	rs, bills, err := one.rewards()
	if err != nil {
		return err
	}
	if got := one.stateOf(rs, bills); !slices.Equal(got, want) {
		return fmt.Errorf("re-evaluated in full at the end, the state differs (+ after, - before):\n%s", h5Diff(got, want))
	}
	if err := one.check(rs, bills); err != nil {
		return fmt.Errorf("re-evaluated in full at the end: %w", err)
	}
	return nil
}

// The engine's two ways give one result, and that result is what users rely on (contract 8),
// for random campaigns and histories. A failing seed runs alone with
// -run 'TestH5Differential/sqlite/seed=N'.
func TestH5Differential(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		from, to := uint64(0), uint64(h5Seeds)
		if st.Engine() == store.Postgres {
			to = h5SeedsPostgres
		}
		if r := os.Getenv("VSRP_H5_SEEDS"); r != "" { // more seeds when hunting: VSRP_H5_SEEDS=100-1000
			if _, err := fmt.Sscanf(r, "%d-%d", &from, &to); err != nil {
				t.Fatalf("VSRP_H5_SEEDS=%q: want from-to", r)
			}
		}
		for seed := from; seed < to; seed++ {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				c := h5NewCase(seed)
				if err := h5Run(t, st.Engine(), c); err != nil {
					if os.Getenv("VSRP_H5_SHRINK") != "" {
						c, err = h5Shrink(t, st.Engine(), c, err)
					}
					t.Fatalf("seed %d: %v\n%s", seed, err, c)
				}
			})
		}
	})
}

// h5Shrink makes a failing case smaller while it fails alike (its error's first line, ids
// left out, stays the same): it drops offers, steps, and rows from the last, as long as that
// holds. Set VSRP_H5_SHRINK to have a failing seed shrunk.
func h5Shrink(t *testing.T, engine store.Engine, c *h5Case, failure error) (*h5Case, error) {
	kind := func(err error) string {
		line, _, _ := strings.Cut(err.Error(), "\n")
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return -1
			}
			return r
		}, line)
	}
	want := kind(failure)
	try := func(next *h5Case) bool {
		err := h5Run(t, engine, next)
		if err != nil && kind(err) == want {
			failure = err
			return true
		}
		return false
	}
	clone := func() *h5Case {
		next := *c
		next.offers = slices.Clone(c.offers)
		next.steps = slices.Clone(c.steps)
		for i := range next.steps {
			next.steps[i].rows = slices.Clone(next.steps[i].rows)
		}
		return &next
	}
	for progress := true; progress; {
		progress = false
		for i := len(c.offers) - 1; i >= 0 && len(c.offers) > 1; i-- {
			next := clone()
			next.offers = slices.Delete(next.offers, i, i+1)
			if try(next) {
				c, progress = next, true
			}
		}
		for i := len(c.steps) - 1; i >= 0; i-- {
			next := clone()
			next.steps = slices.Delete(next.steps, i, i+1)
			if try(next) {
				c, progress = next, true
			}
		}
		for i := len(c.steps) - 1; i >= 0; i-- {
			for j := len(c.steps[i].rows) - 1; j >= 0; j-- {
				next := clone()
				next.steps[i].rows = slices.Delete(next.steps[i].rows, j, j+1)
				if try(next) {
					c, progress = next, true
				}
			}
		}
		for i := range c.bound {
			if c.bound[i] >= 0 {
				next := clone()
				next.bound = slices.Clone(c.bound)
				next.bound[i] = -1
				if try(next) {
					c, progress = next, true
				}
			}
		}
	}
	return c, failure
}

// Found by TestH5Differential (seed 104), docs/decisions.md "Adjustments": a late refund names
// the reward of the generated bill its purchase counted in, even when the card was bound or
// unbound since. A purchase refunded below minAmount no longer counts; its each reward is
// voided in every unit the card passed through (its own, then user u0's account), and in user
// u1's, whose account the card was in when the bill was generated. A refund arriving after the
// card moved on names u1's reward, not one of the units the card had left before the
// generation (which one of those three came first went by the rewards' random ids). Several
// rounds: each picks among the three by fresh ids.
func TestH5LateRefundNamesTheRewardOfTheUnitAtGeneration(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		for round := range 5 {
			if round > 0 {
				st = storetest.Open(t, st.Engine())
			}
			f := setup(t, st)
			ctx := context.Background()
			each := offer("OF-E", "each", map[string]any{"match": map[string]any{"minAmount": 50},
				"reward": map[string]any{"type": "Cash", "amount": 1}})
			if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountCampaign(each), false); err != nil {
				t.Fatal(err)
			}
			card := enrolledCards(t, f, 1)[0]
			u0, u1, u2 := bindAll(t, f, "u0"), bindAll(t, f, "u1"), bindAll(t, f, "u2")
			p := newPlatformAt(t, st, time.Date(2027, 2, 20, 0, 0, 0, 0, time.UTC))
			jan := time.Date(2027, 1, 25, 0, 37, 0, 0, time.UTC)
			ingest(t, p, []platform.TxnInput{purchase("P", card, "50", jan)})
			ingest(t, p, []platform.TxnInput{refund("R1", "P", card, "10.16", jan.Add(time.Hour))}) // 39.84 left: under minAmount
			for _, step := range []func() error{
				func() error { return p.AddCard(ctx, f.a, u0, card) },
				func() error { return p.RemoveCard(ctx, f.a, u0, card) },
				func() error { return p.AddCard(ctx, f.a, u1, card) },
			} {
				if err := step(); err != nil {
					t.Fatal(err)
				}
			}
			bill := billStarting(t, p, "2027-01-01")
			if _, err := p.GenerateBill(ctx, bill, true); err != nil {
				t.Fatal(err)
			}
			if err := p.RemoveCard(ctx, f.a, u1, card); err != nil {
				t.Fatal(err)
			}
			if err := p.AddCard(ctx, f.a, u2, card); err != nil {
				t.Fatal(err)
			}
			ingest(t, p, []platform.TxnInput{refund("R2", "P", card, "19.84", jan.Add(2*time.Hour))})
			b, err := st.BillByID(ctx, bill)
			if err != nil {
				t.Fatal(err)
			}
			rs, _, err := st.AdminRewards(ctx, store.AdminRewardQuery{CampaignID: "CMP-T", Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			owner := map[string]string{} // reward → its unit
			for _, r := range rs {
				owner[r.ID] = map[string]string{"": "the card's own", u0: "u0's account", u1: "u1's account", u2: "u2's account"}[r.AccountVuid]
			}
			if len(b.Adjustments) != 1 || owner[b.Adjustments[0].RewardID] != "u1's account" {
				var got []string
				for _, a := range b.Adjustments {
					got = append(got, a.TxnID+" → "+cmp.Or(owner[a.RewardID], "none"))
				}
				t.Fatalf("round %d: adjustments %q; want R2 against the reward of u1's account (the card's unit when the bill was generated)",
					round, got)
			}
		}
	})
}

// Found by TestH5Differential (seeds 105, 211), contract 8: the account is all cards one user
// bound in the app through which they enrolled, and results do not depend on the order in
// which things arrive. A card bound to the user that enrolls after the account's purchase
// joins the account as it does when it enrolls before: the account's reward lists it, and
// listing by it finds the account's reward (docs/decisions.md: the account's rewards list
// exactly the account's cards).
func TestH5EnrollingABoundCardJoinsTheAccountsRewards(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		var results [2][]string
		for i, enrollFirst := range []bool{true, false} {
			if i > 0 {
				st = storetest.Open(t, st.Engine())
			}
			f := setup(t, st)
			ctx := context.Background()
			if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountSpendCampaign(), false); err != nil {
				t.Fatal(err)
			}
			first := enrolledCards(t, f, 1)[0]
			second, err := f.p.CardInfo(ctx, f.a, pan("411111118000001"))
			if err != nil {
				t.Fatal(err)
			}
			vuid := bindAll(t, f, "account-user", first, second.ID)
			enroll := func() {
				if _, _, err := f.p.Enroll(ctx, f.a, second.ID, "EG-R", nil); err != nil {
					t.Fatal(err)
				}
			}
			if enrollFirst {
				enroll()
			}
			ingest(t, newPlatformAt(t, st, testNow.Add(time.Hour)), []platform.TxnInput{purchase("A1", first, "200", testNow.Add(time.Minute))})
			if !enrollFirst {
				enroll()
			}
			for _, s := range describe(t, st) {
				results[i] = append(results[i], strings.Replace(s, vuid, "account", 1))
			}
			page, err := f.p.ListRewards(ctx, f.a, platform.ListRewardsParams{CardID: second.ID})
			if err != nil || page.Total != 1 || page.Rewards[0].AccountVuid != vuid {
				t.Errorf("enrolled %s the purchase: listed by the second card, %+v %v; want the account's reward",
					map[bool]string{true: "before", false: "after"}[enrollFirst], page, err)
			}
		}
		if !slices.Equal(results[0], results[1]) {
			t.Fatalf("the second card enrolled before the purchase: %q\nafter it: %q", results[0], results[1])
		}
	})
}

// Found by TestH5Differential (seeds 33, 42), docs/decisions.md "Adjustments": a late refund
// names the reward of the generated bill its purchase counted in, even when the card was
// unbound since. The card's purchase came while the card was its own unit; binding it to the
// user moved the purchase into the account's reward (the card's own was voided), and so the
// bill was generated. Unbound again, the card's rules name its own reward of January, voided:
// the refund must still name the account's, which the purchase counted in.
func TestH5LateRefundNamesTheAccountsRewardNotTheCardsVoidedOne(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", accountSpendCampaign(), false); err != nil {
			t.Fatal(err)
		}
		card := enrolledCards(t, f, 1)[0]
		vuid := bindAll(t, f, "account-user")
		p := newPlatformAt(t, st, time.Date(2027, 2, 20, 0, 0, 0, 0, time.UTC))
		jan := testNow.Add(time.Minute)
		ingest(t, p, []platform.TxnInput{purchase("A1", card, "350", jan)})
		if err := p.AddCard(ctx, f.a, vuid, card); err != nil {
			t.Fatal(err)
		}
		bill := billStarting(t, p, "2027-01-01")
		if _, err := p.GenerateBill(ctx, bill, true); err != nil {
			t.Fatal(err)
		}
		var account string // the account's January reward, which A1 counted in
		for _, r := range liveRewards(t, st) {
			if r.AccountVuid == vuid {
				account = r.ID
			}
		}
		if err := p.RemoveCard(ctx, f.a, vuid, card); err != nil {
			t.Fatal(err)
		}
		ingest(t, p, []platform.TxnInput{refund("A1R", "A1", card, "100", time.Date(2027, 2, 3, 4, 0, 0, 0, time.UTC))})
		b, err := st.BillByID(ctx, bill)
		if err != nil {
			t.Fatal(err)
		}
		if account == "" || len(b.Adjustments) != 1 || b.Adjustments[0].RewardID != account {
			t.Fatalf("January adjustments: %+v; want A1R against the account's reward %s", b.Adjustments, account)
		}
	})
}

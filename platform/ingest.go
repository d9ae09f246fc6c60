package platform

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/engine"
	"github.com/vsrp-dev/vsrp/store"
)

// TxnInput is one transaction as a feed sends it (contract section 8).
type TxnInput struct {
	TransactionID         string       `json:"transactionId"`
	Type                  string       `json:"type"`
	OriginalTransactionID string       `json:"originalTransactionId"`
	CardID                string       `json:"cardId"`
	PAN                   string       `json:"pan"`
	Amount                vsrp.Decimal `json:"amount"`
	Currency              string       `json:"currency"`
	TransactionTime       string       `json:"transactionTime"`
	MerchantID            string       `json:"merchantId"`
	MerchantName          string       `json:"merchantName"`
	MCC                   string       `json:"mcc"`
	MerchantCountry       string       `json:"merchantCountry"`
}

// Size is the length of the row's text, for bounding the memory that batches of rows hold.
func (in *TxnInput) Size() int {
	return len(in.TransactionID) + len(in.Type) + len(in.OriginalTransactionID) + len(in.CardID) + len(in.PAN) +
		len(in.Amount) + len(in.Currency) + len(in.TransactionTime) + len(in.MerchantID) + len(in.MerchantName) +
		len(in.MCC) + len(in.MerchantCountry)
}

// RowError says why one row was rejected. Row counts data rows from 1.
type RowError struct {
	Row           int    `json:"row"`
	TransactionID string `json:"transactionId"`
	Reason        string `json:"reason"`
}

// IngestSummary counts what an ingestion did.
type IngestSummary struct {
	Accepted   int        `json:"accepted"`
	Duplicates int        `json:"duplicates"`
	Rejected   int        `json:"rejected"`
	Errors     []RowError `json:"errors"` // the first MaxListedErrors rejected rows, by row
	// ErrorsOmitted counts the rejected rows beyond those listed.
	ErrorsOmitted int `json:"errorsOmitted,omitempty"`
}

// MaxListedErrors is how many rejected rows an ingestion lists, the first by row; the others
// are counted. A file of millions of bad rows (a wrong column, another environment's cards)
// then keeps the server's memory and the answer bounded.
const MaxListedErrors = 10_000

// Add adds the counts and errors of a later batch (whose rows follow this summary's).
func (s *IngestSummary) Add(o IngestSummary) {
	s.Accepted += o.Accepted
	s.Duplicates += o.Duplicates
	s.Rejected += o.Rejected
	s.Errors = append(s.Errors, o.Errors[:min(len(o.Errors), max(0, MaxListedErrors-len(s.Errors)))]...)
	s.ErrorsOmitted = s.Rejected - len(s.Errors)
}

// AddUnreadable adds the rows rejected before they reached a batch: rows of them, the first
// of which are listed in row order. It keeps the first MaxListedErrors of all rejected rows.
func (s *IngestSummary) AddUnreadable(listed []RowError, rows int) {
	s.Rejected += rows
	s.Errors = append(s.Errors, listed...)
	slices.SortFunc(s.Errors, func(a, b RowError) int { return a.Row - b.Row })
	s.Errors = slices.Clip(s.Errors[:min(len(s.Errors), MaxListedErrors)])
	s.ErrorsOmitted = s.Rejected - len(s.Errors)
}

// statsEvery is how many accepted transactions go between refreshes of the planner's statistics.
const statsEvery = 50_000

// MaxFutureSkew is how far in the future a transaction time may be.
const MaxFutureSkew = 5 * time.Minute

type checked struct {
	row int
	txn store.TxnRow
}

// Ingest stores a batch of transactions and brings the rewards of every card they touch up
// to date, in one database transaction: a crash leaves all of the batch or none of it.
// Ingestion is idempotent by transactionId (a resent row is a duplicate; the same id with
// other content is rejected). firstRow is the row number of rows[0].
func (p *Platform) Ingest(ctx context.Context, rows []TxnInput, firstRow int) (IngestSummary, error) {
	b, err := p.Prepare(ctx, rows, firstRow)
	if err != nil {
		return IngestSummary{}, err
	}
	return p.Commit(ctx, b)
}

// Batch is a batch of transactions checked by Prepare, ready for Commit.
type Batch struct {
	sum   IngestSummary // the rows rejected by the checks
	valid []checked
	now   time.Time
}

// Prepare checks a batch of rows without storing anything (bad fields, unknown cards), so
// that a caller can check one batch while the one before is being committed.
func (p *Platform) Prepare(ctx context.Context, rows []TxnInput, firstRow int) (*Batch, error) {
	b := &Batch{sum: IngestSummary{Errors: []RowError{}}, now: p.now()}
	cards := map[string]string{} // card reference → cardId, for this batch
	for i := range rows {
		t, reason, err := p.checkTxn(ctx, &rows[i], b.now, cards)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			b.sum.Rejected++
			b.sum.Errors = append(b.sum.Errors, RowError{Row: firstRow + i, TransactionID: rows[i].TransactionID, Reason: reason})
			continue
		}
		b.valid = append(b.valid, checked{row: firstRow + i, txn: *t})
	}
	return b, nil
}

// Commit stores a prepared batch and evaluates it, in one database transaction (see Ingest).
func (p *Platform) Commit(ctx context.Context, b *Batch) (IngestSummary, error) {
	sum, valid, now := b.sum, b.valid, b.now
	if len(valid) == 0 {
		return sum, nil
	}
	var inner IngestSummary
	var accepted []vsrp.Transaction
	var seen map[string][]store.CardCampaign
	var seenVersion int64
	err := p.store.WriteTx(ctx, func(tx *store.Tx) error {
		inner, accepted = IngestSummary{}, nil
		record := func(c *checked, reason string, dup bool) {
			switch {
			case dup:
				inner.Duplicates++
			case reason != "":
				inner.Rejected++
				inner.Errors = append(inner.Errors, RowError{Row: c.row, TransactionID: c.txn.ID, Reason: reason})
			default:
				inner.Accepted++
				accepted = append(accepted, c.txn.Transaction)
			}
		}
		// Purchases are stored many rows to a statement; a refund or reversal is checked against
		// what is stored before it, so the purchases before it are flushed first.
		var pending []*checked
		inPending := map[string]bool{}
		flush := func() error {
			if len(pending) == 0 {
				return nil
			}
			rows := make([]*store.TxnRow, len(pending))
			for i, c := range pending {
				rows[i] = &c.txn
			}
			existing, err := tx.InsertTxns(rows, now)
			if err != nil {
				return err
			}
			for _, c := range pending {
				if old, ok := existing[c.txn.ID]; ok {
					reason, dup := duplicateReason(old, &c.txn)
					record(c, reason, dup)
				} else {
					record(c, "", false)
				}
			}
			pending, inPending = pending[:0], map[string]bool{}
			return nil
		}
		for i := range valid {
			c := &valid[i]
			if c.txn.Type == vsrp.Purchase && !inPending[c.txn.ID] {
				pending = append(pending, c)
				inPending[c.txn.ID] = true
				if len(pending) == 200 {
					if err := flush(); err != nil {
						return err
					}
				}
				continue
			}
			if err := flush(); err != nil {
				return err
			}
			reason, dup, err := p.storeTxn(tx, &c.txn, now)
			if err != nil {
				return err
			}
			record(c, reason, dup)
		}
		if err := flush(); err != nil {
			return err
		}
		if err := p.evaluate(ctx, tx, accepted, now); err != nil {
			return err
		}
		seen, seenVersion = tx.EnrollmentsSeen()
		return nil
	})
	if err != nil {
		return IngestSummary{}, storeErr(err)
	}
	if err := p.catchUpEnrollments(ctx, seen, seenVersion, accepted, now); err != nil {
		// The batch is stored; only purchases of cards that enrolled meanwhile wait for their
		// next full evaluation.
		p.log.ErrorContext(ctx, "evaluate the purchases of cards that enrolled during a batch", "err", err)
	}
	if after := p.ingested.Add(int64(inner.Accepted)); after/statsEvery != (after-int64(inner.Accepted))/statsEvery {
		if err := p.store.RefreshStats(ctx); err != nil {
			p.log.WarnContext(ctx, "refresh planner statistics", "err", err)
		}
	}
	sum.Add(inner)
	slices.SortFunc(sum.Errors, func(a, b RowError) int { return a.Row - b.Row })
	return sum, nil
}

// catchUpEnrollments evaluates the batch's purchases for the campaigns their cards enrolled
// in while the batch was being evaluated: after it read the cards' campaigns (seen, at
// version) and before it committed. Enroll looks for the card's transactions dated after the
// enrollment once the enrollment is committed, but cannot see a batch not yet committed; this
// looks again once the batch is committed, so that of the two the later one sees the other.
// Nothing is read beyond the version unless a card enrolled since.
func (p *Platform) catchUpEnrollments(ctx context.Context, seen map[string][]store.CardCampaign, version int64,
	accepted []vsrp.Transaction, now time.Time) error {
	if seen == nil {
		return nil
	}
	if v, err := p.store.EnrollmentVersion(ctx); err != nil || v == version {
		return err
	}
	latest := map[string]time.Time{} // card → its latest purchase in the batch
	for _, t := range accepted {
		if t.Type == vsrp.Purchase && t.Time.After(latest[t.CardID]) {
			latest[t.CardID] = t.Time
		}
	}
	if len(latest) == 0 {
		return nil
	}
	cards := slices.Sorted(maps.Keys(latest))
	return p.store.WriteTx(ctx, func(tx *store.Tx) error {
		enrolled, err := tx.CardCampaigns(cards)
		if err != nil {
			return err
		}
		for _, card := range cards {
			for _, e := range enrolled[card] {
				known := slices.ContainsFunc(seen[card], func(s store.CardCampaign) bool { return s.CampaignID == e.CampaignID })
				if known || e.EnrolledAt.After(latest[card]) {
					continue
				}
				if err := p.evaluateCards(ctx, tx, []string{card}, nil, e.CampaignID, now); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// checkTxn validates a row without touching stored transactions; it answers a rejection
// reason in plain words, or the transaction to store.
func (p *Platform) checkTxn(ctx context.Context, in *TxnInput, now time.Time, cards map[string]string) (*store.TxnRow, string, error) {
	for _, f := range []struct{ name, v string }{{"transactionId", in.TransactionID}, {"type", in.Type},
		{"originalTransactionId", in.OriginalTransactionID}, {"cardId", in.CardID}, {"pan", in.PAN},
		{"currency", in.Currency}, {"transactionTime", in.TransactionTime}, {"merchantId", in.MerchantID},
		{"merchantName", in.MerchantName}, {"mcc", in.MCC}, {"merchantCountry", in.MerchantCountry}} {
		if !plainText(f.v) {
			return nil, f.name + " is not UTF-8 text (or holds a NUL character)", nil
		}
	}
	switch {
	case in.TransactionID == "" || len(in.TransactionID) > 128:
		return nil, "transactionId missing or longer than 128 bytes", nil
	case in.Type != vsrp.Purchase && in.Type != vsrp.Refund && in.Type != vsrp.Reversal:
		return nil, "type must be purchase, refund or reversal", nil
	case in.Type != vsrp.Purchase && in.OriginalTransactionID == "":
		return nil, "a " + in.Type + " needs originalTransactionId", nil
	case in.Type == vsrp.Purchase && in.OriginalTransactionID != "":
		// Stored, the reference would count the purchase against that original's refunds.
		return nil, "a purchase takes no originalTransactionId (only a refund or reversal refers to an original)", nil
	}
	digits, ok := vsrp.MinorDigits(in.Currency)
	if !ok {
		return nil, fmt.Sprintf("bad currency %q", vsrp.MaskDigits(in.Currency, 12)), nil
	}
	amount, err := in.Amount.Scaled(digits)
	if in.Amount == "" || err != nil || amount <= 0 {
		// A value in the wrong column may be a card number: never shown back.
		return nil, fmt.Sprintf("bad amount %q: a positive amount with at most %d decimals in %s",
			vsrp.MaskDigits(string(in.Amount), 12), digits, in.Currency), nil
	}
	at, err := time.Parse(time.RFC3339Nano, in.TransactionTime)
	if err != nil {
		return nil, "transactionTime is not an RFC 3339 time", nil
	}
	if at.After(now.Add(MaxFutureSkew)) {
		return nil, "transactionTime is in the future", nil
	}
	if len(in.MCC) != 4 || strings.Trim(in.MCC, "0123456789") != "" {
		return nil, "mcc must be 4 digits", nil
	}
	ref := in.CardID
	if ref == "" {
		ref = in.PAN
	}
	cardID, known := cards[ref]
	if !known {
		var reason string
		var err error
		cardID, reason, err = p.txnCard(ctx, ref)
		if err != nil || reason != "" {
			return nil, reason, err
		}
		cards[ref] = cardID
	}
	row := &store.TxnRow{Transaction: vsrp.Transaction{ID: in.TransactionID, Type: in.Type, OriginalID: in.OriginalTransactionID,
		CardID: cardID, Amount: amount, Currency: in.Currency, Time: at.UTC(), MerchantID: in.MerchantID,
		MerchantName: in.MerchantName, MCC: in.MCC, MerchantCountry: in.MerchantCountry}}
	row.Digest = digest(&row.Transaction)
	return row, "", nil
}

// txnCard resolves a transaction's card without creating one: a feed only reports cards the
// platform knows.
func (p *Platform) txnCard(ctx context.Context, ref string) (string, string, error) {
	if ref == "" {
		return "", "cardId or pan required", nil
	}
	if !looksLikePAN(ref) && p.knownCards.has(ref) {
		return ref, "", nil
	}
	var c *vsrp.Card
	var err error
	if looksLikePAN(ref) {
		if !vsrp.ValidPAN(ref) {
			return "", "bad card number", nil
		}
		c, err = p.store.CardByPANHash(ctx, p.vault.Lookup("pan", []byte(ref)))
	} else {
		c, err = p.store.CardByID(ctx, ref)
	}
	if errors.Is(err, vsrp.ErrNotFound) {
		return "", "unknown card", nil
	}
	if err != nil {
		return "", "", storeErr(err)
	}
	p.knownCards.add(c.ID)
	return c.ID, "", nil
}

// cardSet remembers card ids known to exist. Cards are never deleted, so a remembered id
// stays true on every process; the set forgets everything when it grows past its bound.
type cardSet struct {
	mu  sync.RWMutex
	ids map[string]struct{}
}

const knownCardsBound = 2_000_000

func (s *cardSet) has(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.ids[id]
	return ok
}

func (s *cardSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil || len(s.ids) >= knownCardsBound {
		s.ids = make(map[string]struct{})
	}
	s.ids[id] = struct{}{}
}

func digest(t *vsrp.Transaction) string {
	b, _ := json.Marshal(t)
	h := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

// storeTxn stores one checked transaction: a duplicate, a rejection reason, or stored.
// duplicateReason classifies a transaction whose id is already stored: the same content is a
// duplicate; other content is rejected.
func duplicateReason(old, t *store.TxnRow) (string, bool) {
	if old.Digest == t.Digest {
		return "", true
	}
	return "conflicting duplicate: transactionId already used with other content", false
}

func (p *Platform) storeTxn(tx *store.Tx, t *store.TxnRow, now time.Time) (reason string, dup bool, err error) {
	duplicate := func(old *store.TxnRow) (string, bool, error) {
		reason, dup := duplicateReason(old, t)
		return reason, dup, nil
	}
	if t.Type != vsrp.Purchase {
		if old, err := tx.Txn(t.ID); err == nil {
			return duplicate(old)
		} else if !errors.Is(err, vsrp.ErrNotFound) {
			return "", false, err
		}
		orig, err := tx.Txn(t.OriginalID)
		if errors.Is(err, vsrp.ErrNotFound) || (err == nil && (orig.Type != vsrp.Purchase || orig.CardID != t.CardID)) {
			return "refund of an unknown transaction", false, nil
		}
		if err != nil {
			return "", false, err
		}
		// Refunds of one original take turns, so that together they never exceed it.
		if err := tx.LockTxn(t.OriginalID); err != nil {
			return "", false, err
		}
		back, err := tx.Reversed(t.OriginalID)
		if err != nil {
			return "", false, err
		}
		if t.Currency != orig.Currency { // before the amounts: minor units of two currencies do not compare
			return "refund currency differs from the original", false, nil
		}
		if t.Amount > orig.Amount-back {
			return "refund larger than what is left of the original", false, nil
		}
		if t.Time.Before(orig.Time) {
			return "refund dated before its original", false, nil
		}
	}
	old, err := tx.InsertTxn(t, now)
	if err != nil {
		return "", false, err
	}
	if old != nil {
		return duplicate(old)
	}
	return "", false, nil
}

// compiled is a campaign ready for evaluation.
type compiled struct {
	version  int
	campaign *vsrp.Campaign
	offers   []*engine.Offer
	// settled: the rewards of open bills follow this version (its change was re-evaluated), so
	// their stored state may be built upon. Read with the document, never cached.
	settled bool
}

type campaignCache struct {
	mu sync.Mutex
	m  map[string]*compiled
}

// compiledCampaign answers the campaign's current document compiled, read through load (the
// store, or a transaction: code inside a write transaction must not wait for another
// connection), and compiled once per version.
func (p *Platform) compiledCampaign(id string, load func(id string) (*store.CampaignDoc, error)) (*compiled, error) {
	doc, err := load(id)
	if err != nil {
		return nil, err
	}
	c, err := p.compileOnce(id, doc)
	if err != nil {
		return nil, err
	}
	out := *c
	out.settled = doc.EvaluatedVersion >= doc.Version
	return &out, nil
}

func (p *Platform) compileOnce(id string, doc *store.CampaignDoc) (*compiled, error) {
	p.campaigns.mu.Lock()
	defer p.campaigns.mu.Unlock()
	if c, ok := p.campaigns.m[id]; ok && c.version == doc.Version {
		return c, nil
	}
	c, err := vsrp.ParseCampaign(doc.Doc)
	if err != nil {
		return nil, err
	}
	out := &compiled{version: doc.Version, campaign: c}
	for i := range c.Offers {
		o, err := engine.Compile(c, &c.Offers[i])
		if err != nil {
			return nil, err
		}
		out.offers = append(out.offers, o)
	}
	if p.campaigns.m == nil {
		p.campaigns.m = map[string]*compiled{}
	}
	p.campaigns.m[id] = out
	return out, nil
}

// unitWork is one reward unit of one campaign to evaluate: its offers split into those whose
// rewards follow from their stored running state and the new purchases (incremental) and those
// that need the unit's stored transactions (full).
type unitWork struct {
	c           *compiled
	unit        *engine.Unit
	fresh       []vsrp.Transaction // this batch's transactions of the unit's cards
	incremental []*engine.Offer
	full        []*engine.Offer
}

// evaluate brings the rewards of every unit the accepted transactions touch up to date, then
// settles the budget of each offer with one.
func (p *Platform) evaluate(ctx context.Context, tx *store.Tx, accepted []vsrp.Transaction, now time.Time) error {
	batchByCard := map[string][]vsrp.Transaction{}
	for _, t := range accepted {
		batchByCard[t.CardID] = append(batchByCard[t.CardID], t)
	}
	return p.evaluateCards(ctx, tx, slices.Sorted(maps.Keys(batchByCard)), batchByCard, "", now)
}

// evaluateCards brings up to date the rewards of the units of the cards, in every campaign
// they are enrolled in (or only in campaign only). batch holds the new transactions by card;
// a nil batch recomputes every reward of the units (their campaign changed), and voids the
// rewards of open bills that the rules no longer give.
//
// An offer's rewards of a unit are brought up to date incrementally when the new
// transactions are purchases of a card-aggregated unit and the offer has no limit across
// periods and no budget: from the stored reward of each touched period and the new purchases,
// without reading the unit's history. Otherwise the unit's stored transactions are read and
// the offer evaluated in full.
func (p *Platform) evaluateCards(ctx context.Context, tx *store.Tx, cardIDs []string, batch map[string][]vsrp.Transaction,
	only string, now time.Time) error {
	work := map[string]*unitWork{}      // campaign|unit → work
	campaigns := map[string]*compiled{} // for this batch; nil: no such campaign
	enrollments, err := tx.CardCampaigns(cardIDs)
	if err != nil {
		return err
	}
	for _, card := range cardIDs {
		for _, e := range enrollments[card] {
			if only != "" && e.CampaignID != only {
				continue
			}
			c, seen := campaigns[e.CampaignID]
			if !seen {
				c, err = p.compiledCampaign(e.CampaignID, tx.Campaign)
				if err != nil && !errors.Is(err, vsrp.ErrNotFound) {
					return err
				}
				campaigns[e.CampaignID] = c
			}
			if c == nil {
				continue
			}
			unit, err := p.unitOf(tx, c.campaign, card, e)
			if err != nil {
				return err
			}
			work[c.campaign.CampaignID+"|"+unit.Key] = &unitWork{c: c, unit: unit}
		}
	}
	offers := map[string]*engine.Offer{}
	for _, w := range work {
		w.fresh = batchTxns(w.unit, batch)
		purchasesOnly := batch != nil && w.c.settled && w.c.campaign.Aggregation != "account" &&
			!slices.ContainsFunc(w.fresh, func(t vsrp.Transaction) bool { return t.Type != vsrp.Purchase })
		for _, o := range w.c.offers {
			offers[o.OfferID] = o
			if purchasesOnly && o.Incremental() {
				w.incremental = append(w.incremental, o)
			} else {
				w.full = append(w.full, o)
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(offers)) { // one order everywhere: no deadlocks
		if err := tx.LockOffer(id); err != nil {
			return err
		}
	}
	// A change applied (and perhaps re-evaluated) on PostgreSQL since the campaigns were read
	// must not be built upon by their former rules: holding the offers, read them again.
	for id, c := range campaigns {
		if c == nil {
			continue
		}
		cur, err := p.compiledCampaign(id, tx.Campaign)
		if err != nil {
			return err
		}
		if cur.version != c.version || cur.settled != c.settled {
			return p.evaluateCards(ctx, tx, cardIDs, batch, only, now)
		}
	}
	bills := billCache{tx: tx, now: now, status: map[string]int{}}
	keys := slices.Sorted(maps.Keys(work))
	if err := p.evaluateIncremental(tx, keys, work, &bills, now); err != nil {
		return err
	}
	// The units to evaluate in full, known only now: the incremental pass hands some back.
	var fullUnits []string
	for _, k := range keys {
		if w := work[k]; len(w.full) > 0 {
			fullUnits = append(fullUnits, w.unit.Key)
		}
	}
	if len(fullUnits) == 0 {
		return nil
	}
	stored, err := tx.TxnsOfCardsSince(historyNeeded(work, batch))
	if err != nil {
		return err
	}
	existing, err := tx.UnitRewards(fullUnits)
	if err != nil {
		return err
	}
	budgets := map[string]*engine.Offer{}
	for _, k := range keys {
		w := work[k]
		var txns []vsrp.Transaction
		for _, c := range w.unit.CardIDs() {
			txns = append(txns, stored[c]...)
		}
		for _, o := range w.full {
			if err := p.evaluateUnit(tx, o, w, txns, batch != nil, &bills, existing, now); err != nil {
				return err
			}
			if o.Budget > 0 {
				budgets[o.OfferID] = o
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(budgets)) {
		if err := p.settleBudget(tx, budgets[id], now); err != nil {
			return err
		}
	}
	return nil
}

// billCache answers the bill of an offer's period, creating it when new, with its status as
// this batch first saw it.
type billCache struct {
	tx     *store.Tx
	now    time.Time
	status map[string]int
}

func (b *billCache) get(o *engine.Offer, per engine.Period) (*vsrp.Bill, int, error) {
	bill := &vsrp.Bill{ID: "bill_" + shortHash(o.OfferID+"|"+per.Start), CampaignID: o.CampaignID, OfferID: o.OfferID,
		Name: fmt.Sprintf("%s %s to %s", o.Name, per.Start, per.End), Type: vsrp.BillTypeSystem,
		StartDate: per.Start, EndDate: per.End, SettlementDate: per.Settlement, Status: vsrp.BillOpen, CreatedAt: b.now}
	status, known := b.status[bill.ID]
	if !known {
		var err error
		if status, err = b.tx.EnsureBill(bill); err != nil {
			return nil, 0, err
		}
		b.status[bill.ID] = status
	}
	return bill, status, nil
}

func rewardID(resultKey string) string { return "rw_" + shortHash(resultKey) }

// unitOf answers the reward unit of a card in a campaign: the card, or under account
// aggregation the user it is bound to in the app through which it enrolled, with that user's
// cards that enrolled in the campaign through the same app (a card enrolled through another
// app is an account of its own there, or another user's card).
func (p *Platform) unitOf(tx *store.Tx, c *vsrp.Campaign, card string, e store.CardCampaign) (*engine.Unit, error) {
	single := &engine.Unit{Key: cardUnit(card), Cards: map[string]time.Time{card: e.EnrolledAt}}
	if c.Aggregation != "account" {
		return single, nil
	}
	vuid, err := tx.Binding(e.AppID, card)
	if err != nil || vuid == "" {
		return single, err
	}
	u := &engine.Unit{Key: accountUnit(e.AppID, vuid), Cards: map[string]time.Time{}, AccountAppID: e.AppID, AccountVuid: vuid}
	owned, err := tx.UserCards(e.AppID, vuid)
	if err != nil {
		return nil, err
	}
	enrolled, err := tx.CardCampaigns(owned)
	if err != nil {
		return nil, err
	}
	for _, other := range owned {
		for _, oe := range enrolled[other] {
			if oe.CampaignID == c.CampaignID && oe.AppID == e.AppID {
				u.Cards[other] = oe.EnrolledAt
			}
		}
	}
	return u, nil
}

// cardUnit and accountUnit are the keys of a card's own unit and of a user's account.
func cardUnit(cardID string) string         { return "card:" + cardID }
func accountUnit(appID, vuid string) string { return "acct:" + appID + ":" + vuid }

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

// evaluateUnit recomputes one unit's rewards for one offer from the unit's stored
// transactions (txns, new ones included) and stores them. With fresh set, only the rewards the
// unit's new transactions can change are stored. Periods whose bill was generated are frozen:
// the new transactions that change their rewards become adjustments.
func (p *Platform) evaluateUnit(tx *store.Tx, o *engine.Offer, w *unitWork, txns []vsrp.Transaction, fresh bool,
	bills *billCache, existing map[string]*store.StoredReward, now time.Time) error {
	touched := func(*engine.Result) bool { return true }
	if fresh {
		touched = o.Touched(w.unit, txns, w.fresh)
	}
	frozen, err := frozenOf(o, w.unit, txns, bills, existing)
	if err != nil {
		return err
	}
	results := engine.EvaluateFrozen(o, w.unit, txns, frozen)
	if o.Goal == "each" && w.unit.AccountVuid != "" {
		// An account's each reward stored under the purchase's key alone (before account keys
		// were kept apart from the card's) stays the same reward: a second would pay twice.
		for i := range results {
			r := &results[i]
			if old := existing[rewardID(o.EachKey(nil, r.EarnTxn))]; old != nil && old.UnitKey == w.unit.Key && old.OfferID == o.OfferID {
				r.Key = o.EachKey(nil, r.EarnTxn)
			}
		}
	}
	if o.Goal == "each" && w.unit.AccountVuid == "" && (w.c.campaign.Aggregation == "account" || !fresh) {
		// Such an account reward has the id of the card's own reward of the purchase: once the
		// card left the account (or the campaign its account aggregation), it is the card's own,
		// and is read (and moved) as such.
		var missing []string
		for i := range results {
			if id := rewardID(results[i].Key); existing[id] == nil {
				missing = append(missing, id)
			}
		}
		legacy, err := tx.Rewards(missing)
		if err != nil {
			return err
		}
		for id, r := range legacy {
			existing[id] = r
		}
	}
	if !fresh {
		if err := voidStale(tx, o, w.unit, results, existing, now); err != nil {
			return err
		}
	}
	for i := range results {
		r := &results[i]
		if !touched(r) {
			continue // nothing this batch brought can change it
		}
		bill, status, err := bills.get(o, r.Period)
		if err != nil {
			return err
		}
		if status != vsrp.BillOpen {
			for _, a := range adjusting(o, w.unit, r, txns, w.fresh) {
				t := &a.txn
				if err := tx.AddAdjustment(bill.ID, t.ID, t.Type, o.AmountOf(t), adjustedReward(o, r.Key, a.purchase), now); err != nil {
					return err
				}
			}
			continue
		}
		if err := p.putReward(tx, o, w.unit, r, bill, existing[rewardID(r.Key)], now); err != nil {
			return err
		}
	}
	return nil
}

// frozenOf answers, for an offer with a per-card total limit, the unit's periods whose bill
// was generated and how many of their stored rewards earned; nothing for other offers (their
// limits do not reach across periods).
func frozenOf(o *engine.Offer, u *engine.Unit, txns []vsrp.Transaction, bills *billCache,
	existing map[string]*store.StoredReward) (engine.Frozen, error) {
	var f engine.Frozen
	if o.PerTotal == 0 {
		return f, nil
	}
	f.Periods = map[engine.Period]bool{} // every period with a purchase: frozen or not
	for i := range txns {
		t := &txns[i]
		if !o.Qualifies(u, t) {
			continue
		}
		per := o.PeriodOf(t.Time)
		if _, seen := f.Periods[per]; seen {
			continue
		}
		_, status, err := bills.get(o, per)
		if err != nil {
			return f, err
		}
		f.Periods[per] = status != vsrp.BillOpen
	}
	for _, r := range existing {
		if r.UnitKey == u.Key && r.OfferID == o.OfferID && !r.BillOpen && r.Computed.Met && !r.Computed.Voided {
			f.Earned++
		}
	}
	return f, nil
}

// adjustment is a new transaction for a generated bill, with the purchase it concerns (itself,
// or the original of a refund or reversal).
type adjustment struct {
	txn      vsrp.Transaction
	purchase *vsrp.Transaction
}

// adjustedReward names the reward of a generated bill that a purchase counted in: the one the
// rules key now (key), unless the purchase's card was in another unit when it was generated.
func adjustedReward(o *engine.Offer, key string, purchase *vsrp.Transaction) store.AdjustedReward {
	r := store.AdjustedReward{ID: rewardID(key), CardID: purchase.CardID}
	if o.Goal == "each" {
		r.EarnKey = engine.EarnKeyOf(purchase.Time, purchase.ID)
	}
	return r
}

// adjusting answers the new transactions that change a reward of a generated bill: purchases
// that count for it, and refunds and reversals of such purchases.
func adjusting(o *engine.Offer, u *engine.Unit, r *engine.Result, stored, fresh []vsrp.Transaction) []adjustment {
	byID := make(map[string]*vsrp.Transaction, len(stored))
	for i := range stored {
		byID[stored[i].ID] = &stored[i]
	}
	var out []adjustment
	for _, t := range fresh {
		p := &t
		if t.Type != vsrp.Purchase {
			if p = byID[t.OriginalID]; p == nil {
				continue
			}
		}
		if !o.Qualifies(u, p) || o.PeriodOf(p.Time) != r.Period || (o.Goal == "each" && p.ID != r.EarnTxn) {
			continue
		}
		out = append(out, adjustment{txn: t, purchase: p})
	}
	return out
}

// putReward stores a result of an open bill: inserted when new, updated when it changed. earn
// keys are kept for the rewards whose order matters: each goals' (per-period limits) and those
// of offers with limits across periods or a budget.
func (p *Platform) putReward(tx *store.Tx, o *engine.Offer, unit *engine.Unit, r *engine.Result, bill *vsrp.Bill,
	old *store.StoredReward, now time.Time) error {
	computed := store.Computed{RewardID: rewardID(r.Key), UnitKey: unit.Key, Met: r.Met, Voided: r.Voided,
		Wanted: r.Amount, EventCount: r.EventCount, EventTotal: r.EventTotal, Message: r.Message}
	if r.EarnTxn != "" && (o.Goal == "each" || !o.Incremental()) {
		computed.EarnKey = r.EarnKey()
	}
	// Under a budget, settleBudget decides a met reward's outcome once every unit is done.
	want := outcome(o, r.Met, r.Voided, r.Amount, r.Message, true)
	if o.Budget > 0 && r.Met {
		want = store.Outcome{Status: vsrp.RewardNotMet, Voided: true}
		if old != nil {
			want = old.Outcome
		}
	}
	switch {
	case old == nil:
		proto := &vsrp.Reward{Bill: *bill, CampaignID: o.CampaignID, OfferID: o.OfferID, AccountAppID: unit.AccountAppID,
			AccountVuid: unit.AccountVuid, Name: o.Name, Type: o.RewardType, Provider: o.Provider, Code: o.Code,
			Currency: o.Currency, ClaimRequired: o.ClaimReq, CreatedAt: now, CardIDs: unit.CardIDs()}
		return tx.InsertReward(&computed, want, proto, now)
	case old.Computed != computed || old.Outcome != want || unit.AccountVuid != "" || old.BillID != bill.ID:
		var cards []string // an account's cards change with its bindings
		if unit.AccountVuid != "" || old.UnitKey != unit.Key {
			cards = unit.CardIDs()
		}
		if old.UnitKey != unit.Key {
			// An account's each reward stored under the purchase's key alone, now its card's own.
			if err := tx.SetRewardUnit(computed.RewardID, unit.Key, unit.AccountAppID, unit.AccountVuid); err != nil {
				return err
			}
		}
		if old.BillID != bill.ID && old.BillOpen {
			// An each reward's id does not name its period: after a change of the campaign dates
			// (or of the billing period) cut its purchase's period anew, it goes to that period's bill.
			if err := tx.SetRewardBill(computed.RewardID, bill.ID); err != nil {
				return err
			}
		}
		return tx.UpdateReward(&computed, want, old.Outcome != want, cards, now)
	}
	return nil
}

// historyNeeded answers, per card of the units with offers to evaluate in full, from when its
// stored transactions are needed to evaluate its units again: the start of the earliest billing
// period the new transactions fall in, or the zero time (the whole history) when an offer
// depends on more than the touched periods, when a refund or reversal arrived (it changes its
// original's period), or when everything is recomputed (batch nil).
func historyNeeded(work map[string]*unitWork, batch map[string][]vsrp.Transaction) map[string]time.Time {
	need := map[string]time.Time{}
	for _, w := range work {
		if len(w.full) == 0 {
			continue
		}
		var since time.Time
		whole := batch == nil
		for _, o := range w.full {
			if o.NeedsWholeHistory() {
				whole = true
			}
			for c := range w.unit.Cards {
				for _, t := range batch[c] {
					if t.Type != vsrp.Purchase {
						whole = true
					}
					if start := o.PeriodStartAt(t.Time); since.IsZero() || start.Before(since) {
						since = start
					}
				}
			}
		}
		if whole {
			since = time.Time{}
		}
		for c := range w.unit.Cards {
			if prev, seen := need[c]; !seen || (!prev.IsZero() && (since.IsZero() || since.Before(prev))) {
				need[c] = since
			}
		}
	}
	return need
}

// voidStale voids the unit's rewards of the offer on open bills that the rules no longer give
// (after a change of the offer's match or goal).
func voidStale(tx *store.Tx, o *engine.Offer, unit *engine.Unit, results []engine.Result, existing map[string]*store.StoredReward, now time.Time) error {
	return voidUnit(tx, o, unit.Key, results, existing, "no longer counts under the offer's current rules", now)
}

// voidUnit voids the rewards of the unit for the offer on open bills other than those of the
// results, with the message.
func voidUnit(tx *store.Tx, o *engine.Offer, unitKey string, results []engine.Result, existing map[string]*store.StoredReward,
	msg string, now time.Time) error {
	keep := make(map[string]bool, len(results))
	for _, r := range results {
		keep[rewardID(r.Key)] = true
	}
	for id, old := range existing {
		// A reward voided already (its purchase refunded away) still has its earn key: it goes
		// too, else a late refund could name it rather than the reward of the unit its card
		// counted in when the bill was generated.
		if old.UnitKey != unitKey || old.OfferID != o.OfferID || !old.BillOpen || keep[id] ||
			(old.Outcome.Voided && old.Computed.Voided && old.EventCount == 0 && old.EarnKey == "") {
			continue
		}
		gone := old.Computed
		// It counts nothing any more (and keeps no running state).
		gone.Met, gone.Voided, gone.Wanted, gone.EarnKey, gone.EventCount, gone.EventTotal = false, true, 0, "", 0, 0
		gone.Message = msg
		if err := tx.UpdateReward(&gone, store.Outcome{Status: vsrp.RewardNotMet, Voided: true, Message: gone.Message}, true, nil, now); err != nil {
			return err
		}
	}
	return nil
}

// Reevaluate recomputes every reward of the campaign's enrolled cards on open bills, after the
// campaign document changed. It works through the cards in chunks, each in one transaction,
// and then records the version as evaluated; until then ingestion evaluates the campaign's
// units in full (an interrupted run is taken up again by RunDueWork).
func (p *Platform) Reevaluate(ctx context.Context, campaignID string) error {
	doc, err := p.store.Campaign(ctx, campaignID, 0)
	if err != nil {
		return storeErr(err)
	}
	// What a reward is (its name, type, provider, code, currency, whether it needs a claim) is
	// written when it is given; the rewards of open bills take the offers' as they are now.
	err = p.store.WriteTx(ctx, func(tx *store.Tx) error {
		c, err := p.compiledCampaign(campaignID, tx.Campaign)
		if err != nil || c == nil {
			return err
		}
		for _, o := range c.offers {
			if err := tx.RelabelOpenRewards(o.OfferID, store.RewardLabel{Name: o.Name, Type: o.RewardType,
				Provider: o.Provider, Code: o.Code, Currency: o.Currency, ClaimRequired: o.ClaimReq}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return storeErr(err)
	}
	after := ""
	for {
		cards, err := p.store.EnrolledCards(ctx, campaignID, after, 1000)
		if err != nil {
			return storeErr(err)
		}
		if len(cards) == 0 {
			if err := p.store.WriteTx(ctx, func(tx *store.Tx) error { return p.retireRecutBills(tx, campaignID) }); err != nil {
				return storeErr(err)
			}
			return storeErr(p.store.MarkEvaluated(ctx, campaignID, doc.Version))
		}
		err = p.store.WriteTx(ctx, func(tx *store.Tx) error {
			if err := p.voidFormerUnits(tx, campaignID, cards, p.now()); err != nil {
				return err
			}
			return p.evaluateCards(ctx, tx, cards, nil, campaignID, p.now())
		})
		if err != nil {
			return storeErr(err)
		}
		after = cards[len(cards)-1]
	}
}

// voidFormerUnits voids the open-bill rewards of the cards that belong to units the cards no
// longer make up in the campaign: after a change of its aggregation, a card's own unit (now in
// its user's account) or its user's account (now a unit per card). evaluateCards voids only
// what the rules no longer give to the units that exist now.
func (p *Platform) voidFormerUnits(tx *store.Tx, campaignID string, cards []string, now time.Time) error {
	c, err := p.compiledCampaign(campaignID, tx.Campaign)
	if err != nil || c == nil {
		return err
	}
	enrolled, err := tx.CardCampaigns(cards)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, card := range cards {
		for _, e := range enrolled[card] {
			if e.CampaignID != campaignID {
				continue
			}
			u, err := p.unitOf(tx, c.campaign, card, e)
			if err != nil {
				return err
			}
			live[u.Key] = true
		}
	}
	units, err := tx.OpenRewardUnits(campaignID, cards)
	if err != nil {
		return err
	}
	gone := slices.DeleteFunc(units, func(u string) bool { return live[u] })
	if len(gone) == 0 {
		return nil
	}
	existing, err := tx.UnitRewards(gone)
	if err != nil {
		return err
	}
	for _, u := range gone {
		for _, o := range c.offers {
			if err := voidUnit(tx, o, u, nil, existing, "the campaign's aggregation changed: the transactions count in another unit now", now); err != nil {
				return err
			}
		}
	}
	return nil
}

// retireRecutBills removes the open bills of periods that the campaign's dates no longer cut
// (its start moved, so a period begins on another day), once every reward has been evaluated
// again: their rewards are voided or on the new period's bill, and an offer has one bill per
// period. The voided rewards go to the bill of the period now holding that day. An open bill
// whose period still begins on its day takes that period's last day and settlement date.
func (p *Platform) retireRecutBills(tx *store.Tx, campaignID string) error {
	c, err := p.compiledCampaign(campaignID, tx.Campaign)
	if err != nil || c == nil {
		return err
	}
	open, err := tx.OpenBills(campaignID)
	if err != nil {
		return err
	}
	bills := &billCache{tx: tx, now: p.now(), status: map[string]int{}}
	for _, b := range open {
		i := slices.IndexFunc(c.offers, func(o *engine.Offer) bool { return o.OfferID == b.OfferID })
		if i < 0 {
			continue
		}
		o := c.offers[i]
		per, err := o.PeriodOfDay(b.StartDate)
		if err != nil {
			continue
		}
		// The bill of the period holding that day, cut as the dates are now: the bill itself when
		// its period still begins that day (it takes the period's end and settlement date: a bill
		// whose rewards were all voided was not written again with them).
		into, status, err := bills.get(o, per)
		if err != nil {
			return err
		}
		if per.Start == b.StartDate || status != vsrp.BillOpen {
			continue // the bill is the period's own; or the period's is generated: its rewards stay
		}
		if err := tx.RetireBill(b.ID, into.ID); err != nil {
			return err
		}
	}
	return nil
}

// batchTxns lists this batch's transactions of the unit's cards.
func batchTxns(unit *engine.Unit, batch map[string][]vsrp.Transaction) []vsrp.Transaction {
	var out []vsrp.Transaction
	for c := range unit.Cards {
		out = append(out, batch[c]...)
	}
	return out
}

// outcome is what a reward shows given the rules' view and the budget's decision.
func outcome(o *engine.Offer, met, voided bool, amount int64, msg string, granted bool) store.Outcome {
	switch {
	case voided:
		return store.Outcome{Status: vsrp.RewardNotMet, Voided: true, Message: msg}
	case met && granted:
		return store.Outcome{Status: vsrp.RewardMet, Amount: amount, Message: msg}
	case met: // the budget is spent
		return store.Outcome{Status: vsrp.RewardNotMet, Voided: o.Goal == "each", Message: "the offer's budget is spent"}
	}
	return store.Outcome{Status: vsrp.RewardNotMet, Message: msg}
}

// settleBudget decides, in earn order, which met rewards of the offer's open bills the budget
// pays.
func (p *Platform) settleBudget(tx *store.Tx, o *engine.Offer, now time.Time) error {
	cands, spent, err := tx.BudgetState(o.OfferID)
	if err != nil {
		return err
	}
	items := make([]engine.BudgetItem, len(cands))
	for i, c := range cands {
		items[i] = engine.BudgetItem{EarnKey: c.EarnKey, Amount: c.Wanted}
	}
	for i, granted := range engine.AllocateBudget(o.Budget, spent, items) {
		c := cands[i]
		if err := tx.SetOutcome(c.RewardID, outcome(o, true, false, c.Wanted, c.Message, granted), now); err != nil {
			return err
		}
	}
	return nil
}

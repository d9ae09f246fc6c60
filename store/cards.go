package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/vsrp-dev/vsrp"
)

// User gets the app's user with the auid hash, creating it with vuid when there is none. Of any
// number of concurrent first calls for one auid, all answer the same user.
func (s *Store) User(ctx context.Context, appID string, auidHash []byte, vuid string, now time.Time) (*vsrp.User, error) {
	u := vsrp.User{AppID: appID, AuidHash: auidHash}
	var created int64
	read := func() error {
		return s.db.QueryRowContext(ctx, s.q(`SELECT vuid, created_at FROM users WHERE app_id = ? AND auid_hash = ?`),
			appID, auidHash).Scan(&u.Vuid, &created)
	}
	// Most calls find the user: read first, and write only for a new one.
	err := read()
	if err == sql.ErrNoRows {
		if _, err := s.w.ExecContext(ctx, s.q(`INSERT INTO users (app_id, auid_hash, vuid, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (app_id, auid_hash) DO NOTHING`), appID, auidHash, vuid, micros(now)); err != nil {
			return nil, s.wrap(err)
		}
		err = read()
	}
	if err != nil {
		return nil, s.wrap(err)
	}
	u.CreatedAt = fromMicros(created)
	return &u, nil
}

// UserByVuid reads the app's user; vsrp.ErrNotFound when the vuid is unknown in this app.
func (s *Store) UserByVuid(ctx context.Context, appID, vuid string) (*vsrp.User, error) {
	u := vsrp.User{AppID: appID, Vuid: vuid}
	var created int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT auid_hash, created_at FROM users WHERE app_id = ? AND vuid = ?`),
		appID, vuid).Scan(&u.AuidHash, &created)
	if err != nil {
		return nil, s.wrap(err)
	}
	u.CreatedAt = fromMicros(created)
	return &u, nil
}

const binColumns = `bin, bid, issuer_name, issuer_name_native, issuing_country_code, account_funding_source,
	product_id, product_name, product_name_native, is_dual_brand, is_chip`

func scanBIN(r rowScanner, b *vsrp.BIN) error {
	var dual, chip int64
	if err := r.Scan(&b.BIN, &b.BID, &b.IssuerName, &b.IssuerNameNative, &b.IssuingCountryCode, &b.AccountFundingSource,
		&b.ProductID, &b.ProductName, &b.ProductNameNative, &dual, &chip); err != nil {
		return err
	}
	b.IsDualBrand, b.IsChip = dual == 1, chip == 1
	return nil
}

// UpsertBINs inserts or replaces BIN rows in one transaction.
func (s *Store) UpsertBINs(ctx context.Context, bins []vsrp.BIN, now time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, b := range bins {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO bins (`+binColumns+`, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (bin) DO UPDATE SET bid = excluded.bid, issuer_name = excluded.issuer_name,
				issuer_name_native = excluded.issuer_name_native, issuing_country_code = excluded.issuing_country_code,
				account_funding_source = excluded.account_funding_source, product_id = excluded.product_id,
				product_name = excluded.product_name, product_name_native = excluded.product_name_native,
				is_dual_brand = excluded.is_dual_brand, is_chip = excluded.is_chip, updated_at = excluded.updated_at`),
				b.BIN, b.BID, b.IssuerName, b.IssuerNameNative, b.IssuingCountryCode, b.AccountFundingSource,
				b.ProductID, b.ProductName, b.ProductNameNative, b2i(b.IsDualBrand), b2i(b.IsChip), micros(now)); err != nil {
				return s.wrap(err)
			}
		}
		return nil
	})
}

// MatchBIN finds the longest configured prefix of pan (8 digits before 6).
func (s *Store) MatchBIN(ctx context.Context, pan string) (*vsrp.BIN, error) {
	if len(pan) < 8 {
		return nil, vsrp.ErrNotFound
	}
	var b vsrp.BIN
	err := scanBIN(s.db.QueryRowContext(ctx, s.q(`SELECT `+binColumns+` FROM bins WHERE bin IN (?, ?)
		ORDER BY LENGTH(bin) DESC LIMIT 1`), pan[:8], pan[:6]), &b)
	if err != nil {
		return nil, s.wrap(err)
	}
	return &b, nil
}

// BINs lists the BIN table.
func (s *Store) BINs(ctx context.Context) ([]vsrp.BIN, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+binColumns+` FROM bins ORDER BY bin`)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []vsrp.BIN
	for rows.Next() {
		var b vsrp.BIN
		if err := scanBIN(rows, &b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Card gets the card with c.PANHash, creating it from c when there is none; concurrent first
// look-ups of one PAN all answer the same card.
func (s *Store) Card(ctx context.Context, c *vsrp.Card) (*vsrp.Card, error) {
	if found, err := s.CardByPANHash(ctx, c.PANHash); err == nil {
		return found, nil
	} else if !errors.Is(err, vsrp.ErrNotFound) {
		return nil, err
	}
	if _, err := s.w.ExecContext(ctx, s.q(`INSERT INTO cards (card_id, pan_hash, pan_sealed, bin, last4, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (pan_hash) DO NOTHING`),
		c.ID, c.PANHash, c.PANSealed, c.BIN, c.Last4, micros(c.CreatedAt)); err != nil {
		return nil, s.wrap(err)
	}
	return s.scanCard(s.db.QueryRowContext(ctx, s.q(`SELECT card_id, pan_hash, pan_sealed, bin, last4, created_at
		FROM cards WHERE pan_hash = ?`), c.PANHash))
}

// CardByID reads a card; vsrp.ErrNotFound when unknown.
func (s *Store) CardByID(ctx context.Context, id string) (*vsrp.Card, error) {
	return s.scanCard(s.db.QueryRowContext(ctx, s.q(`SELECT card_id, pan_hash, pan_sealed, bin, last4, created_at
		FROM cards WHERE card_id = ?`), id))
}

func (s *Store) scanCard(r rowScanner) (*vsrp.Card, error) {
	var c vsrp.Card
	var created int64
	if err := r.Scan(&c.ID, &c.PANHash, &c.PANSealed, &c.BIN, &c.Last4, &created); err != nil {
		return nil, s.wrap(err)
	}
	c.CreatedAt = fromMicros(created)
	return &c, nil
}

const cardViewSelect = `SELECT c.card_id, c.bin, c.last4, c.created_at,
	COALESCE(b.bid, ''), COALESCE(b.issuer_name, ''), COALESCE(b.issuer_name_native, ''), COALESCE(b.issuing_country_code, ''),
	COALESCE(b.account_funding_source, ''), COALESCE(b.product_id, ''), COALESCE(b.product_name, ''),
	COALESCE(b.product_name_native, ''), COALESCE(b.is_dual_brand, 0), COALESCE(b.is_chip, 0),
	COALESCE(g.vuid, ''), COALESCE(g.created_at, 0)
	FROM cards c LEFT JOIN bins b ON b.bin = c.bin LEFT JOIN bindings g ON g.card_id = c.card_id AND g.app_id = ? `

func scanCardView(r rowScanner) (*vsrp.CardView, error) {
	var v vsrp.CardView
	var created, bound, dual, chip int64
	if err := r.Scan(&v.ID, &v.BIN, &v.Last4, &created, &v.Attrs.BID, &v.Attrs.IssuerName, &v.Attrs.IssuerNameNative,
		&v.Attrs.IssuingCountryCode, &v.Attrs.AccountFundingSource, &v.Attrs.ProductID, &v.Attrs.ProductName,
		&v.Attrs.ProductNameNative, &dual, &chip, &v.Vuid, &bound); err != nil {
		return nil, err
	}
	v.Attrs.BIN = v.BIN
	v.Attrs.IsDualBrand, v.Attrs.IsChip = dual == 1, chip == 1
	v.CreatedAt, v.BoundAt = fromMicros(created), fromMicros(bound)
	return &v, nil
}

// CardView reads a card with its BIN attributes and its user in the app.
func (s *Store) CardView(ctx context.Context, appID, cardID string) (*vsrp.CardView, error) {
	v, err := scanCardView(s.db.QueryRowContext(ctx, s.q(cardViewSelect+`WHERE c.card_id = ?`), appID, cardID))
	if err != nil {
		return nil, s.wrap(err)
	}
	return v, nil
}

// BoundCards lists the cards bound to the app's user, newest binding first, optionally only
// those of one issuer.
func (s *Store) BoundCards(ctx context.Context, appID, vuid, bid string) ([]*vsrp.CardView, error) {
	rows, err := s.db.QueryContext(ctx, s.q(cardViewSelect+`WHERE g.vuid = ? AND (? = '' OR b.bid = ?)
		ORDER BY g.created_at DESC, c.card_id`), appID, vuid, bid, bid)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []*vsrp.CardView
	for rows.Next() {
		v, err := scanCardView(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Bind binds the card to the app's user; again to the same user is a no-op; vsrp.ErrConflict
// when the card is bound to another user of the app.
func (s *Store) Bind(ctx context.Context, appID, cardID, vuid string, now time.Time) error {
	return s.WriteTx(ctx, func(t *Tx) error { return t.Bind(appID, cardID, vuid, now) })
}

// Bind is Store.Bind in the transaction.
func (t *Tx) Bind(appID, cardID, vuid string, now time.Time) error {
	if _, err := t.exec(`INSERT INTO bindings (app_id, card_id, vuid, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (app_id, card_id) DO NOTHING`, appID, cardID, vuid, micros(now)); err != nil {
		return err
	}
	var owner string
	if err := t.queryRow(`SELECT vuid FROM bindings WHERE app_id = ? AND card_id = ?`, appID, cardID).Scan(&owner); err != nil {
		return t.s.wrap(err)
	}
	if owner != vuid {
		return vsrp.ErrConflict
	}
	return nil
}

// Unbind removes the card's binding to the app's user; vsrp.ErrNotFound when it was not bound
// to that user.
func (s *Store) Unbind(ctx context.Context, appID, cardID, vuid string) error {
	return s.WriteTx(ctx, func(t *Tx) error { return t.Unbind(appID, cardID, vuid) })
}

// Unbind is Store.Unbind in the transaction.
func (t *Tx) Unbind(appID, cardID, vuid string) error {
	res, err := t.exec(`DELETE FROM bindings WHERE app_id = ? AND card_id = ? AND vuid = ?`, appID, cardID, vuid)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return vsrp.ErrNotFound
	}
	return nil
}

// CardByPANHash reads the card with the PAN's look-up hash, without creating it;
// vsrp.ErrNotFound when unknown.
func (s *Store) CardByPANHash(ctx context.Context, hash []byte) (*vsrp.Card, error) {
	return s.scanCard(s.db.QueryRowContext(ctx, s.q(`SELECT card_id, pan_hash, pan_sealed, bin, last4, created_at
		FROM cards WHERE pan_hash = ?`), hash))
}

// CardOfApp reports whether the card is bound to a user of the app or was enrolled through it.
func (s *Store) CardOfApp(ctx context.Context, appID, cardID string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT (SELECT COUNT(*) FROM bindings WHERE app_id = ? AND card_id = ?) +
		(SELECT COUNT(*) FROM enrollments WHERE app_id = ? AND card_id = ?)`), appID, cardID, appID, cardID).Scan(&n)
	return n > 0, s.wrap(err)
}

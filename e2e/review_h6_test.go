package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/server"
	"github.com/vsrp-dev/vsrp/store"
)

// h6Fixture is a server with one campaign of one offer, an app granted it, and cards bound to
// one user of the app and enrolled, each with purchases: one bill whose rewards the test
// takes through their lifecycle.
type h6Fixture struct {
	h     *harness
	app   *app
	a     *vsrp.App
	cards []string // PANs
	bill  string
}

// h6Postgres answers a fresh PostgreSQL database for the test, or skips it.
func h6Postgres(t *testing.T) string {
	t.Helper()
	base := os.Getenv("VSRP_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("VSRP_TEST_POSTGRES_URL is not set")
	}
	return freshPostgres(t, base)
}

// newH6Fixture starts a server on db ("" for a SQLite file) with an offer rewarding each
// purchase of the cards with reward, an app notified at notifyURL, and one purchase on each
// of n cards; it answers with the offer's bill open.
func newH6Fixture(t *testing.T, db, notifyURL string, n int, reward map[string]any) *h6Fixture {
	t.Helper()
	h := start(t, func(c *server.Config) {
		if db != "" {
			c.DB, c.MasterKey = db, newMasterKey()
		}
	})
	h.loadBINs()
	now := h.clock.Now()
	h.adminDo(http.MethodPut, "/admin/v1/campaigns/CMP-H6", openCampaign("CMP-H6", now,
		monthlyOffer("OF-H6", map[string]any{}, each, reward)), http.StatusOK, nil)
	spec := map[string]any{"campaignIds": []string{"CMP-H6"}}
	if notifyURL != "" {
		spec["notifyUrl"] = notifyURL
	}
	f := &h6Fixture{h: h, app: h.createApp(spec)}
	ctx := context.Background()
	p := h.srv.Platform()
	var err error
	if f.a, err = p.App(ctx, f.app.AppID); err != nil {
		t.Fatal(err)
	}
	u, err := p.GetVuid(ctx, f.a, "008618600006006")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		card := pan("411111", 6000+i)
		if err := p.AddCard(ctx, f.a, u.Vuid, card); err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.Enroll(ctx, f.a, card, "EG-H6", nil); err != nil {
			t.Fatal(err)
		}
		f.cards = append(f.cards, card)
	}
	h.clock.Advance(time.Minute) // the purchases come after the enrollments
	var txns []map[string]any
	for i, card := range f.cards {
		txns = append(txns, map[string]any{"transactionId": fmt.Sprintf("T-H6-%d", i), "type": "purchase", "pan": card,
			"amount": 100, "currency": "CNY", "transactionTime": h.clock.Now().Add(-time.Second).Format(time.RFC3339Nano),
			"merchantId": "M", "merchantName": "Shop", "mcc": "5812", "merchantCountry": "CN"})
	}
	var sum struct{ Accepted, Rejected int }
	h.adminDo(http.MethodPost, "/admin/v1/transactions", txns, http.StatusOK, &sum)
	if sum.Accepted != n || sum.Rejected != 0 {
		t.Fatalf("ingest: %+v", sum)
	}
	var bills struct{ Bills []struct{ BillID string } }
	h.adminDo(http.MethodGet, "/admin/v1/bills?campaignId=CMP-H6", nil, http.StatusOK, &bills)
	if len(bills.Bills) != 1 {
		t.Fatalf("bills: %+v, want one", bills)
	}
	f.bill = bills.Bills[0].BillID
	return f
}

// step runs a bill step (generate, approve, settle) through the admin API.
func (f *h6Fixture) step(name string, body any) {
	f.h.t.Helper()
	f.h.adminDo(http.MethodPost, "/admin/v1/bills/"+f.bill+"/"+name, body, http.StatusOK, nil)
}

// billStatus reads the bill's status through the admin API.
func (f *h6Fixture) billStatus() int {
	f.h.t.Helper()
	var bills struct {
		Bills []struct {
			BillID string
			Status int
		}
	}
	f.h.adminDo(http.MethodGet, "/admin/v1/bills?campaignId=CMP-H6", nil, http.StatusOK, &bills)
	for _, b := range bills.Bills {
		if b.BillID == f.bill {
			return b.Status
		}
	}
	f.h.t.Fatalf("bill %s is gone", f.bill)
	return -1
}

// rewardIDs lists the ids of the offer's rewards, by reward id.
func (f *h6Fixture) rewardIDs() []string {
	f.h.t.Helper()
	rs, _, err := f.h.srv.Platform().AdminRewards(context.Background(), store.AdminRewardQuery{CampaignID: "CMP-H6", Limit: 500})
	if err != nil {
		f.h.t.Fatal(err)
	}
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

// The last two rewards of an approved bill settled at once on PostgreSQL (two operators, an
// operator and an app, or two nodes) settle the bill. Each transaction moves its reward and
// then counts the bill's rewards still open; under READ COMMITTED neither sees the other's
// move before it commits, so without a turn on the bill both find one reward open and the
// bill stays "approved, settling" (2) for ever with every reward final.
func TestH6LastTwoSettlementsAtOnceSettleTheBill(t *testing.T) {
	f := newH6Fixture(t, h6Postgres(t), "", 2, map[string]any{"type": "Cash", "amount": 5})
	f.step("generate", map[string]any{"force": true})
	f.step("approve", nil)
	ids := f.rewardIDs()
	if len(ids) != 2 {
		t.Fatalf("rewards %v, want two", ids)
	}
	st, err := store.Open(f.h.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	// One settlement moves the first reward and looks at the bill, as SettleBill does, and
	// commits only once the other settlement has answered (or has waited a second for it).
	counted, other := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- st.WriteTx(ctx, func(tx *store.Tx) error {
			now := f.h.clock.Now()
			moved, err := tx.MoveReward(ids[0], vsrp.RewardSettling, vsrp.RewardSettled, store.StepSettle, "paid", time.Time{}, now)
			if err != nil || !moved {
				return fmt.Errorf("move %s: %v %v", ids[0], moved, err)
			}
			if err := tx.SettleBillStatus(f.bill, now); err != nil {
				return err
			}
			close(counted)
			select {
			case <-other:
			case <-time.After(time.Second):
			}
			return nil
		})
	}()
	<-counted
	f.step("settle", map[string]any{"results": []map[string]any{{"rewardId": ids[1], "status": 4, "message": "paid"}}})
	close(other)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := f.billStatus(); got != vsrp.BillSettled {
		t.Errorf("bill status %d with both rewards settled, want %d (settled)", got, vsrp.BillSettled)
	}
}

// The master key file that a server makes beside a new SQLite database never shows without
// its key. Made empty and then written, it could: a second server starting on the same
// database at that moment (which reads the first one's file) or a restart after a kill at
// that moment read an empty file and refuse to start ("master key must be base64 of 32
// bytes, got 0 bytes"), for good, since nothing replaces it; and with the key never forced to
// disk, a power loss soon after could empty the key of data already sealed and stored.
// Here a watcher looks at the file from the moment the server starts until it exists.
func TestH6MasterKeyFileNeverShowsEmpty(t *testing.T) {
	for range 10 {
		db := filepath.Join(t.TempDir(), "vsrp.db")
		stop, seen := make(chan struct{}), make(chan int64, 1)
		go func() {
			for {
				if fi, err := os.Stat(db + ".key"); err == nil {
					seen <- fi.Size()
					return
				}
				select {
				case <-stop:
					seen <- -1
					return
				default:
				}
			}
		}()
		srv, err := server.New(context.Background(), server.Config{Addr: "127.0.0.1:0", DB: db, AdminToken: "t", Log: io.Discard, Out: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		close(stop)
		size := <-seen
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if size == 0 {
			t.Fatal("the master key file was seen empty while the server made it")
		}
	}
}

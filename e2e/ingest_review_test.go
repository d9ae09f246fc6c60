package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// ingestAnswer is the answer of POST /admin/v1/transactions.
type ingestAnswer struct {
	Accepted, Duplicates, Rejected int
	Errors                         []struct {
		Row           int
		TransactionID string
		Reason        string
	}
}

// ingestFixture is a running server with a campaign (an each offer: 10% back) and two enrolled
// cards: the first known by its cardId and its PAN, the other by its cardId.
type ingestFixture struct {
	h           *harness
	cardID, pan string
	other       string // a second enrolled card's id
	at          string // a transaction time just after the enrollment
}

func newIngestFixture(t *testing.T) *ingestFixture {
	t.Helper()
	h := start(t)
	h.loadBINs()
	now := h.clock.Now()
	h.adminDo(http.MethodPut, "/admin/v1/campaigns/CMP-IR", openCampaign("CMP-IR", now,
		monthlyOffer("OF-IR", map[string]any{}, each, map[string]any{"type": "Cash", "percent": 10})), http.StatusOK, nil)
	a := h.createApp(map[string]any{"campaignIds": []string{"CMP-IR"}})
	c := h.client(a)
	ctx := context.Background()
	f := &ingestFixture{h: h, pan: pan("411111", 501)}
	for i, p := range []string{f.pan, pan("411111", 502)} {
		ci, err := c.GetCardInfo(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Call(ctx, "enroll", map[string]any{"cardId": ci.CardID, "enrollmentGroupId": "EG-IR"}, nil); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			f.cardID = ci.CardID
		} else {
			f.other = ci.CardID
		}
	}
	h.clock.Advance(time.Minute)
	f.at = h.clock.Now().Add(-time.Second).Format(time.RFC3339)
	return f
}

// post sends a body and answers the status, the decoded answer and the raw body.
func (f *ingestFixture) post(t *testing.T, ctype, body string) (int, ingestAnswer, string) {
	t.Helper()
	status, raw := f.h.adminRaw(http.MethodPost, "/admin/v1/transactions", ctype, body)
	var ans ingestAnswer
	_ = json.Unmarshal([]byte(raw), &ans)
	return status, ans, raw
}

// rewards answers the campaign's rewards as the admin API lists them (the raw JSON).
func (f *ingestFixture) rewards(t *testing.T) string {
	t.Helper()
	_, raw := f.h.adminRaw(http.MethodGet, "/admin/v1/rewards?campaignId=CMP-IR&limit=500", "application/json", "")
	return raw
}

// adminRawHeader posts body with extra headers.
func (h *harness) adminRawHeader(path, ctype string, header map[string]string, body string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.admin)
	req.Header.Set("Content-Type", ctype)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got)
}

// txnRow is one transaction as a JSON object (NDJSON line or array element); amount is JSON.
func (f *ingestFixture) txnRow(id, typ, orig, card, amount string) string {
	return fmt.Sprintf(`{"transactionId":%q,"type":%q,"originalTransactionId":%q,"cardId":%q,"amount":%s,"currency":"CNY",`+
		`"transactionTime":%q,"merchantId":"M","merchantName":"Shop","mcc":"5812","merchantCountry":"CN"}`, id, typ, orig, card, amount, f.at)
}

// A purchase that carries an originalTransactionId (a feed that fills the column on every row)
// must not use up what can be refunded of that original: before, it was stored with the
// reference and counted as a refund of it, so the original's own full refund was rejected as
// "larger than what is left".
func TestIngestPurchaseWithOriginalIDLeavesRefundsAlone(t *testing.T) {
	t.Parallel()
	f := newIngestFixture(t)
	body := f.txnRow("P1", "purchase", "", f.cardID, "100") + "\n" +
		f.txnRow("P2", "purchase", "P1", f.cardID, "100") + "\n" +
		f.txnRow("R1", "refund", "P1", f.cardID, "100") + "\n"
	status, ans, raw := f.post(t, "application/x-ndjson", body)
	if status != http.StatusOK {
		t.Fatalf("HTTP %d %s", status, raw)
	}
	for _, e := range ans.Errors {
		if e.TransactionID == "R1" {
			t.Errorf("the full refund of P1 was rejected: %s", raw)
		}
		if e.TransactionID == "P2" && !strings.Contains(e.Reason, "originalTransactionId") {
			t.Errorf("P2 rejected without naming originalTransactionId: %s", raw)
		}
	}
}

// A card number in the amount field of a JSON row (columns mapped wrong) is never shown back,
// in the answer or the log: the CSV path masked it, but a JSON amount that is not a number
// came back as "unreadable row: not a decimal number: 4111 1100 0000 5012".
func TestIngestUnreadableAmountDoesNotShowCardNumber(t *testing.T) {
	t.Parallel()
	f := newIngestFixture(t)
	p := f.pan
	for _, shown := range []string{p[:4] + " " + p[4:8] + " " + p[8:12] + " " + p[12:], p[:4] + "-" + p[4:8] + "-" + p[8:12] + "-" + p[12:]} {
		for _, c := range []struct{ ctype, body string }{
			{"application/x-ndjson", f.txnRow("PA1", "purchase", "", f.cardID, `"`+shown+`"`) + "\n"},
			{"application/json", "[" + f.txnRow("PA2", "purchase", "", f.cardID, `"`+shown+`"`) + "]"},
		} {
			status, ans, raw := f.post(t, c.ctype, c.body)
			if status != http.StatusOK || ans.Rejected != 1 {
				t.Fatalf("%s: HTTP %d %s, want the row rejected", c.ctype, status, raw)
			}
			if strings.Contains(raw, p[8:12]) || strings.Contains(raw, p[12:]) {
				t.Errorf("%s: the answer shows the card number: %s", c.ctype, raw)
			}
		}
	}
	if log := f.h.log.String(); strings.Contains(log, p[8:12]+" ") || strings.Contains(log, p[8:12]+"-") {
		t.Errorf("the log shows the card number:\n%s", log)
	}
}

// A CSV header that names a column twice says which value counts nowhere: the file is refused
// with the column named, and nothing is stored. Before, the last column silently won (here the
// row was stored with amount 2, the first amount column's 1 ignored).
func TestIngestCSVRepeatedColumn(t *testing.T) {
	t.Parallel()
	f := newIngestFixture(t)
	body := "transactionId,type,cardId,amount,currency,transactionTime,merchantId,merchantName,mcc,merchantCountry,amount\n" +
		"CD1,purchase," + f.cardID + ",1.00,CNY," + f.at + ",M,Shop,5812,CN,2.00\n"
	status, _, raw := f.post(t, "text/csv", body)
	if status != http.StatusBadRequest || !strings.Contains(raw, `amount`) {
		t.Errorf("HTTP %d %s, want 400 naming the repeated column", status, raw)
	}
	if rewards := f.rewards(t); !strings.Contains(rewards, `"rewards":[]`) {
		t.Errorf("a row of the refused file was stored: %s", rewards)
	}
}

// A compressed body (Content-Encoding: gzip, which the server does not decode) is refused as a
// whole, naming the header. Before, NDJSON read the compressed bytes as lines: HTTP 200 with
// every "line" of binary rejected as an unreadable row, as if the file itself were broken.
func TestIngestCompressedBodyRefused(t *testing.T) {
	t.Parallel()
	f := newIngestFixture(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write([]byte(f.txnRow("G1", "purchase", "", f.cardID, "1") + "\n")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ctype := range []string{"application/x-ndjson", "application/json", "text/csv"} {
		status, raw := f.h.adminRawHeader("/admin/v1/transactions", ctype, map[string]string{"Content-Encoding": "gzip"}, gz.String())
		if status/100 != 4 || !strings.Contains(raw, "Content-Encoding") {
			t.Errorf("%s, gzip: HTTP %d %s, want a 4xx naming Content-Encoding", ctype, status, raw)
		}
	}
	// identity is no encoding at all.
	status, raw := f.h.adminRawHeader("/admin/v1/transactions", "application/x-ndjson", map[string]string{"Content-Encoding": "identity"},
		f.txnRow("G2", "purchase", "", f.cardID, "1")+"\n")
	if status != http.StatusOK || !strings.Contains(raw, `"accepted":1`) {
		t.Errorf("Content-Encoding identity: HTTP %d %s", status, raw)
	}
}

// Edges of one file and of files in turn that the suite did not cover from the outside (they
// pass): the same transactionId twice in one file (same content: one accepted and one
// duplicate; other content: rejected as conflicting), a refund of a refund, a refund on another
// card than its original's, and refunds that together pass the original across files.
func TestIngestFileEdges(t *testing.T) {
	t.Parallel()
	f := newIngestFixture(t)
	file := strings.Join([]string{
		f.txnRow("P1", "purchase", "", f.cardID, "100"),
		f.txnRow("P1", "purchase", "", f.cardID, "100.00"), // the same content written otherwise
		f.txnRow("P2", "purchase", "", f.cardID, "50"),
		f.txnRow("P2", "purchase", "", f.cardID, "51"),
		f.txnRow("R1", "refund", "P1", f.cardID, "30"),
		f.txnRow("R1b", "refund", "R1", f.cardID, "1"),   // a refund of a refund
		f.txnRow("R2", "refund", "P1", f.other, "1"),     // another card than P1's
		f.txnRow("V1", "reversal", "P1", f.cardID, "60"), // after a partial refund: 10 left
	}, "\n") + "\n"
	status, ans, raw := f.post(t, "application/x-ndjson", file)
	want := map[int]string{4: "conflicting duplicate", 6: "refund of an unknown transaction", 7: "refund of an unknown transaction"}
	if status != http.StatusOK || ans.Accepted != 4 || ans.Duplicates != 1 || ans.Rejected != len(want) {
		t.Fatalf("HTTP %d %s, want 4 accepted, 1 duplicate, %d rejected", status, raw, len(want))
	}
	for _, e := range ans.Errors {
		if !strings.HasPrefix(e.Reason, want[e.Row]) || want[e.Row] == "" {
			t.Errorf("row %d (%s): %q, want %q", e.Row, e.TransactionID, e.Reason, want[e.Row])
		}
	}
	state := f.rewards(t)
	// The same file again changes nothing; a later file's refund may take what is left, not more.
	if status, again, raw := f.post(t, "application/x-ndjson", file); status != http.StatusOK || again.Accepted != 0 ||
		again.Duplicates != 5 || again.Rejected != 3 {
		t.Errorf("the file again: HTTP %d %s, want 5 duplicates and the same 3 rejected", status, raw)
	}
	if after := f.rewards(t); after != state {
		t.Errorf("the file again changed the rewards:\n%s\n%s", state, after)
	}
	if _, ans, raw := f.post(t, "application/x-ndjson", f.txnRow("R3", "refund", "P1", f.cardID, "10.01")+"\n"); ans.Rejected != 1 ||
		!strings.Contains(raw, "larger than what is left") {
		t.Errorf("a refund past what is left of P1: %s", raw)
	}
	if _, ans, raw := f.post(t, "application/x-ndjson", f.txnRow("R4", "refund", "P1", f.cardID, "10")+"\n"); ans.Accepted != 1 {
		t.Errorf("a refund of exactly what is left of P1: %s", raw)
	}
}

package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// A JSON array that ends before its closing bracket (a file cut short by a full disk or a
// copy that stopped, at a row's end) is not a whole file: reading stops with 400 naming it,
// and the rows before it are counted. Before, the missing bracket was taken for the end of the
// array: HTTP 200, and the CLI exited 0 as if the whole file had been imported.
func TestIngestJSONArrayCutShort(t *testing.T) {
	t.Parallel()
	f := newIngestFixture(t)
	for _, c := range []struct {
		name, body string
		rows       int // the rows read before the end
	}{
		{"after an element", "[" + f.txnRow("CS1", "purchase", "", f.cardID, "1") + ",\n" + f.txnRow("CS2", "purchase", "", f.cardID, "1") + "\n", 2},
		{"after a comma", "[" + f.txnRow("CS3", "purchase", "", f.cardID, "1") + ",", 1},
		{"the bracket alone", "[\n", 0},
	} {
		status, ans, raw := f.post(t, "application/json", c.body)
		if status != http.StatusBadRequest || ans.Accepted != c.rows || !strings.Contains(raw, "closing ]") {
			t.Errorf("%s: HTTP %d %s; want 400 saying the array is not closed, with %d rows accepted", c.name, status, raw, c.rows)
		}
	}
}

// Rows that are not UTF-8 (a GBK or Latin-1 export sent as NDJSON or a JSON array) are
// rejected, as CSV rows are, and nothing of them is stored. Before, the JSON decoder put
// U+FFFD in place of each bad byte and the row was accepted: merchant names were stored as
// "Caf\ufffd", and two transactionIds that differ only in such bytes became one (the second
// a duplicate or a conflict of the first).
func TestIngestJSONRowsNotUTF8(t *testing.T) {
	t.Parallel()
	f := newIngestFixture(t)
	latin1 := func(id string) string {
		return strings.Replace(f.txnRow(id, "purchase", "", f.cardID, "1"), `"Shop"`, "\"Caf\xe9\"", 1)
	}
	for _, c := range []struct{ ctype, body string }{
		{"application/x-ndjson", latin1("NU1") + "\n"},
		{"application/json", "[" + latin1("NU2") + "]"},
		{"text/csv", "transactionId,type,cardId,amount,currency,transactionTime,merchantId,merchantName,mcc,merchantCountry\n" +
			"NU3,purchase," + f.cardID + ",1,CNY," + f.at + ",M,Caf\xe9,5812,CN\n"},
	} {
		status, ans, raw := f.post(t, c.ctype, c.body)
		if status != http.StatusOK || ans.Accepted != 0 || ans.Rejected != 1 || len(ans.Errors) != 1 || !strings.Contains(ans.Errors[0].Reason, "UTF-8") {
			t.Errorf("%s: HTTP %d %s; want the row rejected as not UTF-8", c.ctype, status, raw)
		}
	}
	if rewards := f.rewards(t); !strings.Contains(rewards, `"rewards":[]`) {
		t.Errorf("a row that is not UTF-8 was stored: %.300s", rewards)
	}
}

// A CSV file without its header row, whose first column holds card numbers, is refused
// without the card number in the answer or the log. Before, the answer (and the CLI's
// message) read `unknown CSV column "4111…"` with the whole PAN.
func TestIngestCSVWithoutHeaderDoesNotShowCardNumber(t *testing.T) {
	t.Parallel()
	f := newIngestFixture(t)
	p := f.pan
	for _, first := range []string{p, p[:4] + " " + p[4:8] + " " + p[8:12] + " " + p[12:]} {
		body := first + ",T1,purchase,1.00,CNY," + f.at + ",M,Shop,5812,CN\n"
		status, _, raw := f.post(t, "text/csv", body)
		if status != http.StatusBadRequest || !strings.Contains(raw, "unknown CSV column") {
			t.Fatalf("HTTP %d %s; want 400 for an unknown column", status, raw)
		}
		if strings.Contains(raw, p[8:12]) || strings.Contains(raw, p[12:]) {
			t.Errorf("the answer shows the card number: %s", raw)
		}
	}
	if log := f.h.log.String(); strings.Contains(log, p[8:12]) {
		t.Errorf("the log shows the card number:\n%s", log)
	}
}

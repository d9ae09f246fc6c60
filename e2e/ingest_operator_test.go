package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// csvHeader names every transaction field, in the order csvRow writes them.
const csvHeader = "transactionId,type,cardId,amount,currency,transactionTime,merchantId,merchantName,mcc,merchantCountry\n"

func (f *ingestFixture) csvRow(id, amount string) string {
	return fmt.Sprintf("%s,purchase,%s,%s,CNY,%s,M,Shop,5812,CN\n", id, f.cardID, amount, f.at)
}

// A CSV header without a column every row needs (a file of another system's layout, or one
// whose header lost a column) is refused at once, naming what is missing, instead of every
// row being rejected for it one by one.
func TestIngestCSVHeaderMissingAColumn(t *testing.T) {
	t.Parallel()
	f := newIngestFixture(t)
	for _, c := range []struct{ header, missing string }{
		{"transactionId,type,cardId,amount,transactionTime,mcc\n", "no column currency"},
		{"transactionId,type,amount,currency,transactionTime,mcc\n", "no column cardId or pan"},
		{"transactionId,type,cardId,amount,currency\n", "no column transactionTime, mcc"},
		{"id,type,cardId,amount,currency,transactionTime,mcc\n", "unknown CSV column"},
	} {
		status, ans, raw := f.post(t, "text/csv", c.header+"R1,purchase,X,1,CNY,"+f.at+",5812\n")
		if status != http.StatusBadRequest || ans.Accepted+ans.Rejected != 0 || !strings.Contains(raw, c.missing) {
			t.Errorf("header %q: HTTP %d %s; want 400 naming %s", strings.TrimSpace(c.header), status, raw, c.missing)
		}
	}
	// pan instead of cardId is a whole header.
	status, ans, raw := f.post(t, "text/csv", "transactionId,type,pan,amount,currency,transactionTime,mcc\nP1,purchase,"+f.pan+",1,CNY,"+f.at+",5812\n")
	if status != http.StatusOK || ans.Accepted != 1 {
		t.Errorf("a header with pan: HTTP %d %s", status, raw)
	}
}

// A spreadsheet's empty rows (",,,,,,,,,") are no rows, as blank lines are not: they are
// neither counted nor rejected, and the rows after them keep their numbers.
func TestIngestCSVEmptyRowsAreSkipped(t *testing.T) {
	t.Parallel()
	f := newIngestFixture(t)
	body := csvHeader + f.csvRow("E1", "1") + ",,,,,,,,,\n" + " , ,,,,,,,,\r\n" + f.csvRow("E2", "x")
	status, ans, raw := f.post(t, "text/csv", body)
	if status != http.StatusOK || ans.Accepted != 1 || ans.Rejected != 1 || len(ans.Errors) != 1 || ans.Errors[0].Row != 2 {
		t.Fatalf("HTTP %d %s; want E1 accepted and E2 rejected as row 2", status, raw)
	}
}

// An upload cut off by its client (Ctrl-C in the CLI, a dropped connection) is not a fault of
// the server: the batches committed before stay stored, and the log says so at info level,
// with no error line (an alert on errors would fire for every operator who stops an import).
func TestIngestClientGoneIsNotAnError(t *testing.T) {
	t.Parallel()
	f := newIngestFixture(t)
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.h.url+"/admin/v1/transactions", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.h.admin)
	req.Header.Set("Content-Type", "text/csv")
	answered := make(chan error, 1)
	go func() {
		resp, err := f.h.hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	var b strings.Builder
	b.WriteString(csvHeader)
	for i := range 10001 { // one whole batch, and a row of the next
		b.WriteString(f.csvRow(fmt.Sprintf("G%05d", i), "1"))
	}
	if _, err := io.WriteString(pw, b.String()); err != nil {
		t.Fatal(err)
	}
	// The first batch is committed while the client still holds the connection open.
	deadline := time.Now().Add(30 * time.Second)
	for strings.Contains(f.rewards(t), `"rewards":[]`) {
		if time.Now().After(deadline) {
			t.Fatal("the first batch was not stored")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	pw.CloseWithError(context.Canceled)
	<-answered
	for !strings.Contains(f.h.log.String(), "closed the connection during an import") {
		if time.Now().After(deadline) {
			t.Fatalf("no log line says the client went away:\n%s", f.h.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, l := range strings.Split(f.h.log.String(), "\n") {
		if strings.Contains(l, `"level":"ERROR"`) {
			t.Errorf("an error was logged for an upload its client stopped: %s", l)
		}
	}
}

// A rejected row repeats its transactionId in the answer, cut to 128 bytes: an id column that
// holds a whole row's worth of text (a shifted column, a broken export) is not sent back whole
// for each of thousands of rows.
func TestIngestLongRejectedIDIsClipped(t *testing.T) {
	t.Parallel()
	f := newIngestFixture(t)
	long := strings.Repeat("é", 5000) // 10,000 bytes
	status, ans, raw := f.post(t, "application/x-ndjson", f.txnRow(long, "purchase", "", f.cardID, "1")+"\n")
	if status != http.StatusOK || ans.Rejected != 1 || len(ans.Errors) != 1 {
		t.Fatalf("HTTP %d %.300s", status, raw)
	}
	if id := ans.Errors[0].TransactionID; id != strings.Repeat("é", 64)+"…" {
		t.Errorf("echoed id of %d bytes: %.80q…, want its first 128 bytes and …", len(id), id)
	}
}

// A JSON row with a field of the wrong type is rejected in words an operator reads, naming the
// field: not Go's "cannot unmarshal number into Go struct field TxnInput.transactionId".
func TestIngestWrongTypeReasonNamesTheField(t *testing.T) {
	t.Parallel()
	f := newIngestFixture(t)
	row := strings.Replace(f.txnRow("W1", "purchase", "", f.cardID, "1"), `"mcc":"5812"`, `"mcc":5812`, 1)
	status, ans, raw := f.post(t, "application/x-ndjson", row+"\n")
	if status != http.StatusOK || len(ans.Errors) != 1 || ans.Errors[0].Reason != "unreadable row: mcc must be a JSON string, not a number" {
		t.Fatalf("HTTP %d %s", status, raw)
	}
}

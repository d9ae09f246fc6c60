package httpapi

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

type readRow struct {
	id, merchant, reason string
}

// readAll reads every row of a CSV body as ingestion does.
func readAll(t *testing.T, body string) []readRow {
	t.Helper()
	src, err := newCSVSource(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var rows []readRow
	for {
		in, reason, err := src.next()
		if err == io.EOF {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, readRow{in.TransactionID, in.MerchantName, reason})
	}
}

const csvHeader = "transactionId,type,cardId,amount,currency,transactionTime,merchantId,merchantName,mcc,merchantCountry\n"

func csvRow(id, merchant string) string {
	return id + ",purchase,card_1,10.00,CNY,2026-01-02T03:04:05Z,M," + merchant + ",5812,CN\n"
}

// A quote that never closes costs its own row only: the rows after it are read as before.
func TestCSVStrayQuoteRejectsOneRow(t *testing.T) {
	body := csvHeader + csvRow("T1", "Shop") + csvRow("T2", `"Unclosed Shop`)
	for i := 3; i <= 102; i++ {
		body += csvRow(fmt.Sprintf("T%d", i), "Shop")
	}
	rows := readAll(t, body)
	if len(rows) != 102 {
		t.Fatalf("%d rows read, want 102", len(rows))
	}
	if rows[1].reason != "unreadable CSV row: a quoted field is not closed" {
		t.Fatalf("row 2: %+v", rows[1])
	}
	for i, r := range rows {
		if i != 1 && (r.reason != "" || r.id != fmt.Sprintf("T%d", i+1)) {
			t.Fatalf("row %d: %+v", i+1, r)
		}
	}
}

// A quoted field may hold a newline (one row over two lines), CRLF line ends are rows' ends,
// a bare quote inside an unquoted field is that row's problem alone, blank lines are skipped,
// a row with too few fields names its transactionId, and an overlong line is one rejected row.
func TestCSVRecords(t *testing.T) {
	body := csvHeader +
		csvRow("T1", "\"Two\nLines\"") +
		strings.ReplaceAll(csvRow("T2", "Shop"), "\n", "\r\n") +
		csvRow("T3", `Joe's "Best" Diner`) +
		"\n" +
		"T4,purchase,card_1\n" +
		"T5," + strings.Repeat("x", maxCSVRecord+10) + "\n" +
		csvRow("T6", `"Quoted, with comma"`)
	got := readAll(t, body)
	want := []readRow{
		{"T1", "Two\nLines", ""},
		{"T2", "Shop", ""},
		{"", "", `unreadable CSV row: bare " in non-quoted-field`},
		{"T4", "", "3 fields, want 10"},
		{"", "", "unreadable CSV row: line longer than 64 KiB"},
		{"T6", "Quoted, with comma", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("rows %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i+1, got[i], want[i])
		}
	}
}

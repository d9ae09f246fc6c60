package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/cli"
	"github.com/vsrp-dev/vsrp/platform"
)

// Bad query parameters and bodies of the admin API answer 400 with the parameter named,
// never an empty success or a silently ignored value.
func TestAdminBadInput(t *testing.T) {
	t.Parallel()
	h := start(t)
	for _, c := range []struct{ path, field string }{
		{"/admin/v1/rewards?status=99", "status"},
		{"/admin/v1/rewards?limit=abc", "limit"},
		{"/admin/v1/rewards?offset=-1", "offset"},
		{"/admin/v1/notifications?limit=abc", "limit"},
		{"/admin/v1/campaigns/CMP-X?version=0", "version"},
	} {
		if status, body := h.adminRaw(http.MethodGet, c.path, "application/json", ""); status != http.StatusBadRequest || !strings.Contains(body, `"field":"`+c.field+`"`) {
			t.Errorf("GET %s: HTTP %d %s, want 400 naming %s", c.path, status, body, c.field)
		}
	}
	if status, body := h.adminRaw(http.MethodPost, "/admin/v1/transactions", "application/json", `[] trailing`); status != http.StatusBadRequest ||
		!strings.Contains(body, "after the array") {
		t.Errorf("a JSON array with data after it: HTTP %d %s, want 400", status, body)
	}
}

// A file of more bad rows than the server lists answers every count, the first
// MaxListedErrors rejected rows in row order (unreadable rows and rejected ones merged), and
// how many more were rejected; the CLI says how many it did not show.
func TestIngestListsTheFirstRejectedRows(t *testing.T) {
	h := start(t)
	at := h.clock.Now().UTC().Format(time.RFC3339)
	const extra = 7
	n := platform.MaxListedErrors + extra
	var b strings.Builder
	b.WriteString("transactionId,type,cardId,amount,currency,transactionTime,merchantId,merchantName,mcc,merchantCountry\n")
	for i := 1; i <= n; i++ {
		if i == 3 || i == n {
			fmt.Fprintf(&b, "T%d,purchase,card_nope,10.00,CNY,%s,M,\"unclosed,5812,CN\n", i, at)
			continue
		}
		fmt.Fprintf(&b, "T%d,purchase,card_nope,10.00,CNY,%s,M,Shop,5812,CN\n", i, at)
	}
	status, body := h.adminRaw(http.MethodPost, "/admin/v1/transactions", "text/csv", b.String())
	var got struct {
		Accepted, Rejected, ErrorsOmitted int
		Errors                            []platform.RowError
	}
	if err := json.Unmarshal([]byte(body), &got); status != http.StatusOK || err != nil {
		t.Fatalf("HTTP %d %.300s (%v)", status, body, err)
	}
	if got.Accepted != 0 || got.Rejected != n || len(got.Errors) != platform.MaxListedErrors || got.ErrorsOmitted != extra {
		t.Fatalf("accepted %d, rejected %d, %d listed, %d omitted; want 0, %d, %d, %d", got.Accepted, got.Rejected,
			len(got.Errors), got.ErrorsOmitted, n, platform.MaxListedErrors, extra)
	}
	for i, e := range got.Errors {
		if e.Row != i+1 || (e.Row != 3 && e.TransactionID != fmt.Sprintf("T%d", i+1)) {
			t.Fatalf("errors[%d] is row %d (%s), want row %d: the first rows in order", i, e.Row, e.TransactionID, i+1)
		}
	}
	if r := got.Errors[2].Reason; !strings.Contains(r, "unreadable") {
		t.Fatalf("row 3's reason %q, want the unreadable row's", r)
	}
	file := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	code := cli.Main([]string{"txn", "import", "--server", h.url, "--admin-token", h.admin, file}, &out, &errOut)
	if want := fmt.Sprintf("… and %d more", n-20); code != 3 || !strings.Contains(out.String(), want) {
		t.Fatalf("CLI: exit %d, %q; want exit 3 and %q", code, out.String(), want)
	}
}

// One element of a JSON array longer than a row may be (64 KiB) stops reading there with 400,
// the rows before it counted, instead of being held whole in memory; rows of any number before
// it are read as usual.
func TestIngestJSONArrayRowTooLong(t *testing.T) {
	h := start(t)
	at := h.clock.Now().UTC().Format(time.RFC3339)
	row := func(id, name string) string {
		return fmt.Sprintf(`{"transactionId":%q,"type":"purchase","cardId":"card_nope","amount":"10.00","currency":"CNY",`+
			`"transactionTime":%q,"merchantId":"M","merchantName":%q,"mcc":"5812","merchantCountry":"CN"}`, id, at, name)
	}
	rows := make([]string, 0, 2002)
	for i := range 2000 { // 2,000 ordinary rows: far more than 64 KiB together
		rows = append(rows, row(fmt.Sprintf("T%d", i), "Shop"))
	}
	rows = append(rows, row("HUGE", strings.Repeat("x", 1<<20)), row("AFTER", "Shop"))
	status, body := h.adminRaw(http.MethodPost, "/admin/v1/transactions", "application/json", "["+strings.Join(rows, ",")+"]")
	var got struct {
		Rejected int
		Error    struct{ Message string }
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || status != http.StatusBadRequest ||
		got.Rejected != 2000 || !strings.Contains(got.Error.Message, "after row 2000") || !strings.Contains(got.Error.Message, "longer than 64 KiB") {
		t.Fatalf("HTTP %d %.400s (%v); want 400 after row 2000 for a row longer than 64 KiB, the 2,000 rows before it counted", status, body, err)
	}
}

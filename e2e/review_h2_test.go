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

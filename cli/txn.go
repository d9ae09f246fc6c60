package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// TxnCmd groups the transaction commands.
type TxnCmd struct {
	Import TxnImportCmd `cmd:"" help:"Import a transaction file (CSV, NDJSON or a JSON array) into a running server. Exits 0 when every row was stored or was a duplicate, 3 when the server read the whole file but rejected some rows (listed), 130 when interrupted (Ctrl-C), 1 when the import failed or stopped."`
}

// TxnImportCmd streams a transaction file to the admin API.
type TxnImportCmd struct {
	AdminFlags
	File   string `arg:"" help:"CSV with a header row (.csv), NDJSON (.ndjson, .jsonl) or a JSON array (.json)."`
	Format string `placeholder:"csv|ndjson|json" help:"The file's format (json: a JSON array); by default, from the file's extension."`
	Errors int    `default:"20" help:"How many rejected rows to list."`
}

// countingReader counts the bytes and lines that went through it.
type countingReader struct {
	r            io.Reader
	bytes, lines atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.bytes.Add(int64(n))
	c.lines.Add(int64(bytes.Count(p[:n], []byte{'\n'})))
	return n, err
}

// Run streams the file, shows progress on a terminal (rows, rate, ETA) and prints the summary.
func (c *TxnImportCmd) Run(rc *runCtx) error {
	ctype, err := c.contentType()
	if err != nil {
		return err
	}
	f, err := os.Open(c.File)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	// A byte order mark is no part of the first row; the server's JSON readers would choke on it.
	r := bufio.NewReaderSize(f, 64<<10)
	if head, _ := r.Peek(len(utf8BOM)); bytes.Equal(head, utf8BOM) {
		_, _ = r.Discard(len(utf8BOM))
	}
	body := &countingReader{r: r}
	if ctype == importTypes["csv"] {
		body.lines.Store(-1) // the header is no row
	}
	done, cleared := make(chan struct{}), make(chan struct{})
	start := time.Now()
	if isTerminal(rc.errOut) {
		go func() { progress(rc.errOut, body, st.Size(), start, done); close(cleared) }()
	} else {
		close(cleared)
	}
	var res struct {
		Accepted   int `json:"accepted"`
		Duplicates int `json:"duplicates"`
		Rejected   int `json:"rejected"`
		Omitted    int `json:"errorsOmitted"` // rejected rows the server counted but did not list
		Errors     []struct {
			Row           int    `json:"row"`
			TransactionID string `json:"transactionId"`
			Reason        string `json:"reason"`
		} `json:"errors"`
	}
	// Ctrl-C stops the upload: the server drops the batch in progress and keeps the ones before.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// No time limit: a large file takes as long as it takes (the server answers at the end).
	err = c.sendCtx(ctx, 0, http.MethodPost, "/admin/v1/transactions", ctype, body, &res)
	close(done)
	<-cleared // the bar's line is cleared before the summary or an error takes it
	if ctx.Err() != nil {
		fmt.Fprintf(rc.errOut, "interrupted after sending %d of %d bytes (%d rows): the server keeps the batches it had "+
			"stored and drops the one in progress; sending the file again is safe (stored rows come back as duplicates)\n",
			body.bytes.Load(), st.Size(), max(body.lines.Load(), 0))
		return &exitStatus{code: exitInterrupted, msg: "import interrupted"}
	}
	var ae *answerError
	if errors.As(err, &ae) {
		// Reading stopped, or a batch failed: what was stored before it still counts.
		if json.Unmarshal(ae.body, &res) != nil || res.Accepted+res.Duplicates+res.Rejected == 0 {
			return err
		}
	} else if err != nil {
		return err
	}
	elapsed := time.Since(start)
	rows := res.Accepted + res.Duplicates + res.Rejected
	fmt.Fprintf(rc.out, "%d rows in %s (%.0f rows/s): %d accepted, %d duplicates, %d rejected\n",
		rows, elapsed.Round(time.Millisecond), float64(rows)/elapsed.Seconds(), res.Accepted, res.Duplicates, res.Rejected)
	more := res.Omitted
	for i, e := range res.Errors {
		if i == c.Errors {
			more += len(res.Errors) - i
			break
		}
		fmt.Fprintf(rc.out, "  row %d (%s): %s\n", e.Row, e.TransactionID, e.Reason)
	}
	if more > 0 {
		fmt.Fprintf(rc.out, "  … and %d more\n", more)
	}
	if err == nil && res.Rejected > 0 {
		// Scripts must be able to tell a file with bad rows from a clean one.
		return &exitStatus{code: exitRowsRejected, msg: fmt.Sprintf("%d rows rejected", res.Rejected)}
	}
	return err
}

// importTypes are the Content-Types of the formats --format names.
var importTypes = map[string]string{"csv": "text/csv", "ndjson": "application/x-ndjson", "json": "application/json"}

// contentType answers the Content-Type of the file: its --format, or else its extension's.
func (c *TxnImportCmd) contentType() (string, error) {
	if c.Format != "" {
		ctype, ok := importTypes[strings.ToLower(c.Format)]
		if !ok {
			return "", fmt.Errorf("--format %q: want csv, ndjson or json (a JSON array)", c.Format)
		}
		return ctype, nil
	}
	switch strings.ToLower(filepath.Ext(c.File)) {
	case ".csv":
		return importTypes["csv"], nil
	case ".ndjson", ".jsonl":
		return importTypes["ndjson"], nil
	case ".json":
		return importTypes["json"], nil
	}
	return "", fmt.Errorf("%s: the extension does not say the format (.csv, .ndjson, .jsonl or .json): use --format csv, ndjson or json", c.File)
}

// exitRowsRejected is the exit status of an import that read the whole file but rejected rows;
// exitInterrupted that of one stopped by Ctrl-C (or SIGTERM), as shells report a SIGINT.
const (
	exitRowsRejected = 3
	exitInterrupted  = 130
)

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress redraws one line: a bar, rows sent, the rate and the time left, from the bytes
// sent against the file's size.
func progress(w io.Writer, c *countingReader, size int64, start time.Time, done <-chan struct{}) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			fmt.Fprint(w, "\r\033[K")
			return
		case <-t.C:
			sent, rows := c.bytes.Load(), max(c.lines.Load(), 0)
			elapsed := time.Since(start).Seconds()
			frac := 0.0
			if size > 0 {
				frac = min(float64(sent)/float64(size), 1) // a file that grows while it is sent
			}
			eta := "—"
			if frac > 0 && frac < 1 {
				eta = (time.Duration(elapsed/frac*(1-frac)) * time.Second).Round(time.Second).String()
			} else if frac >= 1 {
				eta = "server finishing"
			}
			bar := strings.Repeat("█", int(frac*30)) + strings.Repeat("░", 30-int(frac*30))
			fmt.Fprintf(w, "\r\033[K%s %5.1f%%  %d rows  %.0f rows/s  ETA %s", bar, frac*100, rows, float64(rows)/elapsed, eta)
		}
	}
}

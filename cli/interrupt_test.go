//go:build linux

package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Ctrl-C during an import stops the upload and says what became of the file: the server keeps
// the batches it had stored, and a resend is safe. Exit 130, as a shell reports an interrupt.
// Before, the CLI died on the signal, its bar left on the screen and nothing said.
func TestTxnImportInterruptedSaysWhatWasKept(t *testing.T) {
	reading := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1024)
		_, _ = r.Body.Read(buf)
		reading <- struct{}{}
		_, _ = io.Copy(io.Discard, r.Body) // a server still reading the stream when the client stops
		<-r.Context().Done()
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "t.csv")
	rows := "transactionId\n" + strings.Repeat("T1\n", 1<<20)
	if err := os.WriteFile(file, []byte(rows), 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		<-reading // the import is under way: its signal handler is in place
		_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
	}()
	var out, errOut strings.Builder
	code := Main([]string{"txn", "import", "--server", srv.URL, "--admin-token", "x", file}, &out, &errOut)
	if code != 130 || !strings.Contains(errOut.String(), "interrupted") || !strings.Contains(errOut.String(), "sending the file again is safe") {
		t.Errorf("exit %d, %q %q; want 130 and a note of what the server keeps", code, out.String(), errOut.String())
	}
}

// The progress bar counts a CSV file's rows without its header row.
func TestTxnImportProgressCountsNoHeader(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(500 * time.Millisecond)
		_, _ = io.WriteString(w, `{"accepted":3,"duplicates":0,"rejected":0,"errors":[]}`)
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "t.csv")
	if err := os.WriteFile(file, []byte("transactionId\nT1\nT2\nT3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := importOnTerminal(t, srv.URL, file); code != 0 || !strings.Contains(out, "  3 rows  ") || strings.Contains(out, "  4 rows  ") {
		t.Errorf("exit %d, terminal %q; want the bar to count 3 rows", code, out)
	}
}

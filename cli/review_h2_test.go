//go:build linux

package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY answers a pseudo-terminal: what is written to term (a terminal, as isTerminal sees
// it) is read from screen.
func openPTY(t *testing.T) (screen, term *os.File) {
	t.Helper()
	screen, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	var unlock int32
	var n uint32
	for _, c := range []struct {
		req uintptr
		arg unsafe.Pointer
	}{{syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)}, {syscall.TIOCGPTN, unsafe.Pointer(&n)}} {
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, screen.Fd(), c.req, uintptr(c.arg)); errno != 0 {
			t.Skipf("no pseudo-terminal: %v", errno)
		}
	}
	term, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { screen.Close(); term.Close() })
	return screen, term
}

// importOnTerminal runs `vsrp txn import FILE` against server with a pseudo-terminal for its
// output, and answers its exit status and what the terminal showed.
func importOnTerminal(t *testing.T, server, file string) (int, string) {
	t.Helper()
	screen, term := openPTY(t)
	shown := make(chan string)
	go func() {
		b, _ := io.ReadAll(screen) // until the terminal's side is closed
		shown <- string(b)
	}()
	code := Main([]string{"txn", "import", "--server", server, "--admin-token", "x", file}, term, term)
	time.Sleep(100 * time.Millisecond) // whatever a goroutine left running would still write
	term.Close()
	return code, <-shown
}

// On a terminal the progress bar's line is cleared before the summary is printed. Before, the
// summary was printed while the bar was still on its line (the goroutine that clears it had
// not run yet, and the process ended before it did): imports on a terminal ended with
// "… ETA server finishing1 rows in 1.2s …" on one line. Which goroutine wrote first was left to
// the scheduler, so the import runs a few times.
func TestTxnImportProgressClearedBeforeSummary(t *testing.T) {
	// A server that takes its time, so that the bar is drawn at least once.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, `{"accepted":1,"duplicates":0,"rejected":0,"errors":[]}`)
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "t.csv")
	if err := os.WriteFile(file, []byte("transactionId\nT1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		code, out := importOnTerminal(t, srv.URL, file)
		at := strings.Index(out, "1 rows in")
		if code != 0 || at < 0 || !strings.Contains(out, "ETA") {
			t.Fatalf("exit %d, terminal %q; want the bar drawn, then the summary", code, out)
		}
		if !strings.HasSuffix(out[:at], "\r\033[K") || strings.Contains(out[at:], "\033[K") {
			t.Fatalf("the summary is not on a line of its own after the bar was cleared:\n%q", out)
		}
	}
}

// A file that grows while it is imported (a feed still being written) has sent more bytes
// than its size at the start: the bar stays full instead of the CLI crashing. Before, the bar
// repeated "░" a negative number of times: panic, and the import was cut off.
func TestTxnImportProgressPastTheFileSize(t *testing.T) {
	c := &countingReader{}
	c.bytes.Store(1500)
	c.lines.Store(15)
	done := make(chan struct{})
	time.AfterFunc(500*time.Millisecond, func() { close(done) })
	var b strings.Builder
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("progress with 1500 bytes sent of a 1000-byte file: panic %v", r)
			}
		}()
		progress(&b, c, 1000, time.Now().Add(-time.Second), done)
	}()
	if !strings.Contains(b.String(), "100.0%") || !strings.Contains(b.String(), "server finishing") {
		t.Errorf("progress past the size drew %q, want a full bar", b.String())
	}
}

// A --server that is not the VSRP server but answers 200 (a load balancer's maintenance page,
// another service on that port) is named in the error: before, the CLI said only "invalid
// character '<' looking for beginning of value", which tells an operator nothing.
func TestTxnImportWrongServerSaysSo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "<html><body>Welcome to nginx!</body></html>\n")
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "t.csv")
	if err := os.WriteFile(file, []byte("transactionId\nT1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	code := Main([]string{"txn", "import", "--server", srv.URL, "--admin-token", "x", file}, &out, &errOut)
	if code != 1 || out.String() != "" || !strings.Contains(errOut.String(), srv.URL) || !strings.Contains(errOut.String(), "not") {
		t.Errorf("exit %d, %q %q; want exit 1 and an error that names the server and says its answer is not the admin API's", code, out.String(), errOut.String())
	}
}

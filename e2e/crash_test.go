package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/cli"
	"github.com/vsrp-dev/vsrp/client"
)

// TestMain lets a test start the real command in a child process (the test binary run again
// with VSRP_E2E_SERVE=1), so that it can kill it with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("VSRP_E2E_SERVE") == "1" {
		os.Exit(cli.Main(strings.Fields(os.Getenv("VSRP_E2E_ARGS")), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// child is a `vsrp serve` process.
type child struct {
	cmd *exec.Cmd
	url string
}

// startChild starts `vsrp serve` on db in a child process, logging to a file in logDir.
func startChild(t *testing.T, db, masterKey, logDir string) *child {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "VSRP_E2E_SERVE=1", "VSRP_ADMIN_TOKEN=crash-admin", "VSRP_MASTER_KEY="+masterKey,
		"VSRP_NOTIFY_LEASE=11s", "VSRP_E2E_ARGS=serve --addr "+addr+" --db "+db+" --webhook-allow-private")
	return startProcess(t, cmd, addr, logDir)
}

// freeAddr answers a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess starts cmd, a server that listens on addr, logging to a file in logDir, and
// waits until it is ready; the test's end kills it.
func startProcess(t *testing.T, cmd *exec.Cmd, addr, logDir string) *child {
	t.Helper()
	logf, err := os.Create(filepath.Join(logDir, fmt.Sprintf("server-%d.log", time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, url: "http://" + addr}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() })
	for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(c.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
	}
	t.Fatal("child server never became ready")
	return nil
}

func (c *child) admin(t *testing.T, method, path string, body any, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	req.Header.Set("Authorization", "Bearer crash-admin")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: HTTP %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatal(err)
		}
	}
}

// A server killed with SIGKILL after settling a reward and before the notification was
// delivered delivers it after a restart, with the same webhook-id.
func TestKilledServerDeliversAfterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes; skipped with -short")
	}
	type delivery struct{ id, body string }
	first := make(chan delivery, 1)
	release := make(chan struct{})
	delivered := make(chan delivery, 10)
	accept := make(chan bool, 1)
	accept <- false
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		d := delivery{r.Header.Get("webhook-id"), string(b)}
		ok := <-accept
		accept <- true // every later attempt is accepted
		if !ok {
			first <- d
			<-release // hold the attempt: the server dies while it is in flight
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		delivered <- d
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"code":0,"message":"success"}`))
	}))
	defer rcv.Close()
	defer close(release)

	dir := t.TempDir()
	db := filepath.Join(dir, "crash.db")
	key := "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
	srv := startChild(t, db, key, dir)

	now := time.Now()
	srv.admin(t, "PUT", "/admin/v1/bins", []map[string]any{{"bin": "41111111", "bid": "B1", "issuerName": "Bank",
		"issuingCountryCode": "CN", "accountFundingSource": "C"}}, nil)
	srv.admin(t, "PUT", "/admin/v1/campaigns/CMP-CRASH", openCampaign("CMP-CRASH", now,
		monthlyOffer("OF-CRASH", map[string]any{}, each, map[string]any{"type": "Cash", "amount": 5})), nil)
	var creds struct{ AppID, AppSecret, KeyID, PublicKeyPem string }
	srv.admin(t, "POST", "/admin/v1/apps", map[string]any{"name": "crash", "scopes": []string{"user", "enroll", "reward"},
		"ipWhitelist": []string{"127.0.0.1/32"}, "notifyUrl": rcv.URL + "/api/v1/reward/notification", "campaignIds": []string{"CMP-CRASH"}}, &creds)
	ctx := context.Background()
	c, err := client.New(srv.url, creds.AppID, creds.AppSecret, []byte(creds.PublicKeyPem), client.WithKeyID(creds.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.GetVuid(ctx, "008613912345678")
	if err != nil {
		t.Fatal(err)
	}
	const pan = "4111111111111111"
	if err := c.AddCard(ctx, u.Vuid, pan); err != nil {
		t.Fatal(err)
	}
	var enrolled map[string]any
	if err := c.Call(ctx, "enroll", map[string]any{"cardId": pan, "enrollmentGroupId": "EG-CRASH"}, &enrolled); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	srv.admin(t, "POST", "/admin/v1/transactions", []map[string]any{{"transactionId": "T-CRASH", "type": "purchase", "pan": pan,
		"amount": 100, "currency": "CNY", "transactionTime": time.Now().Format(time.RFC3339Nano), "merchantId": "M",
		"merchantName": "Shop", "mcc": "5812", "merchantCountry": "CN"}}, nil)
	var bills struct{ Bills []struct{ BillID string } }
	srv.admin(t, "GET", "/admin/v1/bills?campaignId=CMP-CRASH", nil, &bills)
	if len(bills.Bills) != 1 {
		t.Fatalf("bills: %+v", bills)
	}
	id := bills.Bills[0].BillID
	srv.admin(t, "POST", "/admin/v1/bills/"+id+"/generate", map[string]any{"force": true}, nil)
	srv.admin(t, "POST", "/admin/v1/bills/"+id+"/approve", nil, nil)
	srv.admin(t, "POST", "/admin/v1/bills/"+id+"/settle", map[string]any{"all": 4}, nil)

	var got delivery
	select {
	case got = <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("no first attempt within 10 s")
	}
	if err := srv.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown, the attempt is lost
		t.Fatal(err)
	}
	_ = srv.cmd.Wait()

	again := startChild(t, db, key, dir)
	select {
	case d := <-delivered:
		if d.id != got.id || d.body != got.body {
			t.Fatalf("after restart: id %q body %s, want id %q body %s", d.id, d.body, got.id, got.body)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("not delivered within 40 s of the restart")
	}
	var list struct {
		Notifications []struct{ ID, Status string }
	}
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(100 * time.Millisecond) {
		again.admin(t, "GET", "/admin/v1/notifications?status=delivered", nil, &list)
		if len(list.Notifications) == 1 {
			break
		}
	}
	if len(list.Notifications) != 1 || list.Notifications[0].ID != got.id {
		t.Fatalf("delivered notifications: %+v", list.Notifications)
	}
}

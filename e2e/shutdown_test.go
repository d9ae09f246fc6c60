package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestGracefulShutdown: a request in flight when Shutdown is called completes with its
// answer; meanwhile no new connection is accepted; then the server stops.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.createApp(nil)
	c := h.client(a)
	access, err := c.AccessToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	body := mustJSON(map[string]any{"appId": a.AppID, "encryptedData": seal(t, a.PublicKeyPEM, map[string]string{"auid": "008618600000010"})})

	// Send the headers by hand, asking to be told when the body is wanted: the server's "100
	// Continue" says a handler has the request and is reading its body. Then send the start of
	// the body, so that the request cannot finish until the rest arrives.
	addr := h.srv.Addr()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Deadlines here only bound a test that would hang; under load the steps may take seconds.
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	head := fmt.Sprintf("POST /api/v1/user/getVuid HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, access, len(body))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	answers := bufio.NewReader(conn)
	if resp, err := http.ReadResponse(answers, nil); err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("before the body: %v, %v; want 100 Continue", resp, err)
	}
	if _, err := conn.Write(body[:20]); err != nil {
		t.Fatal(err)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- h.stop() }()
	// Shutdown closes the listener first: wait until a new connection is refused. (Those
	// accepted before are closed at once, unused, as a client that gave up would.)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		c2, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) { // reset: caught closing
			break
		}
		if err != nil {
			t.Fatalf("a new connection during shutdown: %v, want it refused", err)
		}
		c2.Close()
		if time.Now().After(deadline) {
			t.Fatal("new connections were still accepted a minute after Shutdown began")
		}
	}
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	default:
	}
	if c2, err := net.DialTimeout("tcp", addr, 10*time.Second); err == nil {
		c2.Close()
		t.Error("a new connection was accepted during shutdown, after one was refused")
	}

	if _, err := conn.Write(body[20:]); err != nil {
		t.Fatalf("finishing the body: %v", err)
	}
	resp, err := http.ReadResponse(answers, nil)
	if err != nil {
		t.Fatalf("the in-flight request got no answer: %v", err)
	}
	defer resp.Body.Close()
	var ans struct {
		Code int `json:"code"`
		Data struct {
			Vuid string `json:"vuid"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != http.StatusOK || ans.Code != 0 || ans.Data.Vuid == "" {
		t.Errorf("in-flight request: HTTP %d, %+v, %v", resp.StatusCode, ans, err)
	}

	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Shutdown did not return within a minute of the last request finishing")
	}
	if _, err := http.Get(h.url + "/healthz"); err == nil {
		t.Error("the server still answers after Shutdown")
	}
}

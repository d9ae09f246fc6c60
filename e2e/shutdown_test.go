package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
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

	// Send the headers and the start of the body by hand, so that the request is in the
	// server's hands but cannot finish until the rest of the body arrives.
	addr := h.srv.Addr()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("POST /api/v1/user/getVuid HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, access, len(body))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(body[:20]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server reads the headers and waits for the body

	stopped := make(chan error, 1)
	go func() { stopped <- h.stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	if c2, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c2.Close()
		t.Error("a new connection was accepted during shutdown")
	}

	if _, err := conn.Write(body[20:]); err != nil {
		t.Fatalf("finishing the body: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
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
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after the last request finished")
	}
	if _, err := http.Get(h.url + "/healthz"); err == nil {
		t.Error("the server still answers after Shutdown")
	}
}

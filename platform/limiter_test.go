package platform

import (
	"fmt"
	"testing"
	"time"
)

// The limiter counts per key within the window, forgets what left it, and keeps at most its
// number of keys however many distinct keys arrive within one window.
func TestWindowLimiter(t *testing.T) {
	l := newWindowLimiter(2, time.Minute)
	l.keys = 10
	t0 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	l.Add("a", t0)
	if l.Exceeded("a", t0) {
		t.Fatal("one event of two exceeded the limit")
	}
	l.Add("a", t0.Add(time.Second))
	if !l.Exceeded("a", t0.Add(2*time.Second)) {
		t.Fatal("two events of two did not reach the limit")
	}
	if l.Exceeded("a", t0.Add(time.Minute+time.Second)) {
		t.Fatal("events older than the window still counted")
	}
	for i := range 1000 {
		l.Add(fmt.Sprint("k", i), t0.Add(2*time.Minute))
	}
	if n := len(l.events); n > 10 {
		t.Fatalf("%d keys kept, want at most 10", n)
	}
	l.Add("later", t0.Add(4*time.Minute)) // the flood left the window: room again
	if _, ok := l.events["later"]; !ok {
		t.Fatal("a key after the flood's window was not counted")
	}
}

package notify_test

import (
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp/notify"
)

func TestPolicyNext(t *testing.T) {
	p := notify.DefaultPolicy()
	steps := []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour,
		3 * time.Hour, 3 * time.Hour}
	for i, step := range steps {
		attempt := i + 1
		if got := p.Next(attempt, 0); got != step {
			t.Errorf("Next(%d, 0) = %v, want %v", attempt, got, step)
		}
		if got, want := p.Next(attempt, 0.5), step*9/10; got != want {
			t.Errorf("Next(%d, 0.5) = %v, want %v", attempt, got, want)
		}
		// Jitter only shortens, by a fifth at most: each step bounds its wait.
		if got := p.Next(attempt, 0.999999); got > step || got < step*8/10 {
			t.Errorf("Next(%d, ~1) = %v, outside [%v, %v]", attempt, got, step*8/10, step)
		}
		if p.Next(attempt, 0.3) != p.Next(attempt, 0.3) {
			t.Errorf("Next(%d) is not a function of its arguments", attempt)
		}
	}
	// Whatever the random draw, the waits grow until the 3-hour step.
	for i := 1; i < 6; i++ {
		if shortest, longest := p.Next(i+1, 1), p.Next(i, 0); shortest <= longest {
			t.Errorf("wait %d can be %v, not above wait %d's %v", i+1, shortest, i, longest)
		}
	}
	if got := p.Next(0, 0); got != 30*time.Second {
		t.Errorf("Next(0) = %v, want the first step", got)
	}
	if got := (notify.Policy{Steps: []time.Duration{time.Millisecond}}).Next(1, 0); got != time.Second {
		t.Errorf("a wait below a second = %v, want 1s", got)
	}
}

func TestPolicyGivesUpAfterADay(t *testing.T) {
	p := notify.DefaultPolicy()
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if p.GiveUp(first, first.Add(24*time.Hour-time.Microsecond)) {
		t.Error("gave up before 24 h")
	}
	if !p.GiveUp(first, first.Add(24*time.Hour)) {
		t.Error("did not give up at 24 h")
	}
	// The schedule, with the longest waits and with the shortest: retries go on for a day
	// and stop in the hours after.
	for _, rnd := range []float64{0, 0.999999} {
		now, attempts := first, 1
		for !p.GiveUp(first, now) {
			now = now.Add(p.Next(attempts, rnd))
			attempts++
		}
		if span := now.Sub(first); span < 24*time.Hour || span > 27*time.Hour {
			t.Errorf("rnd %v: last attempt %v after the first", rnd, span)
		}
		if attempts < 10 || attempts > 16 {
			t.Errorf("rnd %v: %d attempts", rnd, attempts)
		}
	}
}

package notify

import "time"

// Policy is when a failed notification is tried again: exponential-looking steps with
// jitter, for at least a day. The zero Policy is not usable; start from DefaultPolicy.
type Policy struct {
	// Steps are the waits after the 1st, 2nd, … failed attempt of a schedule; the last one
	// repeats for as long as retries go on.
	Steps []time.Duration
	// Jitter (0…1) is the share by which a wait may be shortened at random, so that messages
	// that failed together do not all come back together. Waits are only ever shortened,
	// never lengthened, so every step is also an upper bound (the first retry comes within
	// Steps[0]).
	Jitter float64
	// GiveUpAfter is how long a schedule goes on: an attempt that fails this long or longer
	// after the schedule's first attempt is the last one.
	GiveUpAfter time.Duration
}

// DefaultPolicy is the contract's schedule: the first retry within 30 s, then within 2 min,
// 10 min, 30 min and 1 h, then every 3 h (each shortened by up to a fifth at random), and
// failed once an attempt fails 24 hours or more after the first.
func DefaultPolicy() Policy {
	return Policy{
		Steps:       []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour},
		Jitter:      0.2,
		GiveUpAfter: 24 * time.Hour,
	}
}

// minWait keeps a retry out of the round that failed it, whatever the policy says.
const minWait = time.Second

// Next answers how long to wait after the schedule's attempt-th failed attempt (counted from
// 1) before the next one: Steps[attempt-1] (the last step beyond the list) shortened by
// Jitter×rnd. rnd is a random number in [0, 1); Next is a pure function of its arguments, so
// a test that fixes rnd knows the gaps. The wait is never below one second.
func (p Policy) Next(attempt int, rnd float64) time.Duration {
	if len(p.Steps) == 0 {
		return minWait
	}
	step := p.Steps[min(max(attempt, 1), len(p.Steps))-1]
	rnd = min(max(rnd, 0), 1)
	jitter := min(max(p.Jitter, 0), 1)
	return max(time.Duration(float64(step)*(1-jitter*rnd)), minWait)
}

// GiveUp reports whether an attempt that failed at now, in a schedule whose first attempt was
// at first, is the last one.
func (p Policy) GiveUp(first, now time.Time) bool {
	return now.Sub(first) >= p.GiveUpAfter
}

package platform

import (
	"sync"
	"time"
)

// windowLimiter counts events per key in a sliding window, in memory. It bounds failed
// getToken attempts per source address and appId; a process restart forgets the counts,
// which only ever lets a guesser go slower than the limit, never locks an app out.
type windowLimiter struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	keys   int // at most this many keys are kept
	events map[string][]time.Time
}

func newWindowLimiter(limit int, window time.Duration) *windowLimiter {
	return &windowLimiter{limit: limit, window: window, keys: 100_000, events: make(map[string][]time.Time)}
}

// Exceeded reports whether key has reached the limit within the window ending at now.
func (l *windowLimiter) Exceeded(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.trim(key, now)) >= l.limit
}

// Add records an event for key at now.
func (l *windowLimiter) Add(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, known := l.events[key]; !known && len(l.events) >= l.keys {
		for k := range l.events {
			l.trim(k, now)
		}
		if len(l.events) >= l.keys {
			// A flood of distinct keys within one window: memory stays bounded and the new key
			// goes uncounted (password hashing, bounded in the vault, still paces it).
			return
		}
	}
	l.events[key] = append(l.trim(key, now), now)
}

func (l *windowLimiter) trim(key string, now time.Time) []time.Time {
	ev := l.events[key]
	i := 0
	for i < len(ev) && now.Sub(ev[i]) >= l.window {
		i++
	}
	ev = ev[i:]
	if len(ev) == 0 {
		delete(l.events, key)
		return nil
	}
	l.events[key] = ev
	return ev
}

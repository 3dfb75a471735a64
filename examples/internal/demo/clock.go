package demo

import (
	"sync"
	"time"
)

// Clock is the demo's time: it runs at the speed of the wall clock from a
// chosen start, and Set or Advance move it, so a demo can reach a token's
// expiry or the end of a business day at once. Safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration // added to the wall clock
}

// NewClock returns a clock reading start now; a zero start reads the wall clock.
func NewClock(start time.Time) *Clock {
	c := &Clock{}
	if !start.IsZero() {
		c.offset = start.Sub(time.Now())
	}
	return c
}

// Now returns the demo's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = t.Sub(time.Now())
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

package store

// Health: what a readiness probe asks of the store.

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// freshness is how current a RevocationSet is known to be, on the wall
// clock (not Options.Now: it is operational, read by probes). Safe for
// concurrent use.
type freshness struct {
	listening atomic.Bool  // PostgreSQL: the LISTEN connection is up
	polled    atomic.Bool  // SQLite: the last poll succeeded
	currentAt atomic.Int64 // unix nanoseconds it was last known current; 0 = never
}

func (f *freshness) setListening(v bool, now time.Time) {
	f.listening.Store(v)
	f.currentAt.Store(now.UnixNano())
}

func (f *freshness) setPolled(ok bool, now time.Time) {
	f.polled.Store(ok)
	if ok {
		f.currentAt.Store(now.UnixNano())
	}
}

// Freshness says whether the set is being kept current (PostgreSQL: its
// LISTEN connection is up; SQLite: the last poll succeeded) and how long ago
// it was last known current (zero while listening).
func (r *RevocationSet) Freshness(now time.Time) (live bool, staleness time.Duration) {
	f := &r.fresh
	if f.listening.Load() {
		return true, 0
	}
	at := f.currentAt.Load()
	if at == 0 {
		return f.polled.Load(), 0
	}
	return f.polled.Load(), now.Sub(time.Unix(0, at))
}

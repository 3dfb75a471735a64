package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// sessionWriteTimeout bounds one group's transaction when its leader's
// context has no deadline.
const sessionWriteTimeout = 30 * time.Second

// sessionWriter group-commits CreateSession (leader and followers): the
// first caller to find nobody writing becomes the leader and commits every
// session queued meanwhile in one transaction, again and again until the
// queue is empty; callers arriving while it writes queue theirs and wait for
// their own outcome. A client opening many sessions at once (32 at a time in
// `legant bench`) then pays one commit — one fsync on SQLite — per group.
// A leader whose own session is written hands what is left to a goroutine,
// so no caller waits for others' sessions.
type sessionWriter struct {
	s     *Store
	mu    sync.Mutex // guards queue and busy
	queue []*pendingSession
	busy  bool // a leader is writing

	groups atomic.Int64 // transactions written (tests)
}

type pendingSession struct {
	se     Session
	agents string     // JSON
	done   chan error // buffered(1): this session's outcome
}

func (w *sessionWriter) create(ctx context.Context, p *pendingSession) error {
	w.mu.Lock()
	w.queue = append(w.queue, p)
	if !w.busy {
		w.busy = true
		w.lead(ctx, p)
	} else {
		w.mu.Unlock()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err() // queued: it may still be written
	}
}

// lead writes the queue until it is empty, or, once own is written, hands
// what is left to a goroutine (own nil: the goroutine itself). Called with mu
// held and busy set; returns with mu released.
func (w *sessionWriter) lead(ctx context.Context, own *pendingSession) {
	ownWritten := false
	for len(w.queue) > 0 {
		if own != nil && ownWritten {
			w.mu.Unlock() // busy stays set: nobody else leads meanwhile
			go func() {
				w.mu.Lock()
				w.lead(context.Background(), nil)
			}()
			return
		}
		batch := w.queue // own, if any, is in the first batch
		w.queue = nil
		w.mu.Unlock()
		w.write(ctx, batch)
		w.mu.Lock()
		ownWritten = true
	}
	w.busy = false
	w.mu.Unlock()
}

// write commits batch in one transaction and hands each session its
// outcome. When the transaction fails as a whole, each session is written
// again on its own, so that one bad session fails nobody else.
func (w *sessionWriter) write(ctx context.Context, batch []*pendingSession) {
	ctx, cancel := w.context(ctx)
	defer cancel()
	w.groups.Add(1)
	outcome := make([]error, len(batch))
	err := w.s.inTx(ctx, func(tx *sql.Tx) error {
		for i, p := range batch {
			outcome[i] = w.s.insertSession(ctx, tx, p)
			if outcome[i] != nil && !errors.Is(outcome[i], ErrExists) {
				return outcome[i]
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for i, p := range batch {
			outcome[i] = w.s.inTx(ctx, func(tx *sql.Tx) error { return w.s.insertSession(ctx, tx, p) })
		}
	} else if err != nil {
		outcome[0] = err
	}
	for i, p := range batch {
		p.done <- outcome[i]
	}
}

// context bounds a group's write: the leader's deadline, never its
// cancellation (the group is not the leader's alone).
func (w *sessionWriter) context(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(context.WithoutCancel(ctx), d)
	}
	return context.WithTimeout(context.WithoutCancel(ctx), sessionWriteTimeout)
}

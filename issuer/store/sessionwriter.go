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

// sessionWriter group-commits the writes that start and end sessions
// (CreateSession, MarkKilled, CloseSession), leader and followers: the first
// caller to find nobody writing becomes the leader and commits every
// operation queued meanwhile in one transaction, again and again until the
// queue is empty; callers arriving while it writes queue theirs and wait for
// their own outcome. A client opening many sessions at once (32 at a time in
// `legant bench`), or a gateway ending many (a drain, an idle sweep, a kill of
// an agent's sessions), then pays one commit — one fsync on SQLite — per
// group. A leader whose own operation is written hands what is left to a
// goroutine, so no caller waits for others'.
type sessionWriter struct {
	s     *Store
	mu    sync.Mutex // guards queue and busy
	queue []*sessionOp
	busy  bool // a leader is writing

	groups atomic.Int64 // transactions written (tests)
}

// sessionOp is one queued write. apply runs it in the group's transaction;
// an error wrapping ErrExists or ErrNotFound is its own outcome, any other
// aborts the transaction (and every operation is then applied on its own).
type sessionOp struct {
	apply func(ctx context.Context, tx *sql.Tx) error
	done  chan error // buffered(1): this operation's outcome
}

// do queues apply and returns its outcome once its group is committed (or
// ctx's error once ctx ends: the operation may still be written).
func (w *sessionWriter) do(ctx context.Context, apply func(ctx context.Context, tx *sql.Tx) error) error {
	op := &sessionOp{apply: apply, done: make(chan error, 1)}
	w.mu.Lock()
	w.queue = append(w.queue, op)
	if !w.busy {
		w.busy = true
		w.lead(ctx, op)
	} else {
		w.mu.Unlock()
	}
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lead writes the queue until it is empty, or, once own is written, hands
// what is left to a goroutine (own nil: the goroutine itself). Called with mu
// held and busy set; returns with mu released.
func (w *sessionWriter) lead(ctx context.Context, own *sessionOp) {
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

// write commits batch in one transaction and hands each operation its
// outcome. When the transaction fails as a whole, each operation is written
// again on its own, so that one bad operation fails nobody else.
func (w *sessionWriter) write(ctx context.Context, batch []*sessionOp) {
	ctx, cancel := w.context(ctx)
	defer cancel()
	w.groups.Add(1)
	outcome := make([]error, len(batch))
	err := w.s.inTx(ctx, func(tx *sql.Tx) error {
		for i, op := range batch {
			outcome[i] = op.apply(ctx, tx)
			if outcome[i] != nil && !errors.Is(outcome[i], ErrExists) && !errors.Is(outcome[i], ErrNotFound) {
				return outcome[i]
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for i, op := range batch {
			outcome[i] = w.s.inTx(ctx, func(tx *sql.Tx) error { return op.apply(ctx, tx) })
		}
	} else if err != nil {
		outcome[0] = err
	}
	for i, op := range batch {
		op.done <- outcome[i]
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

package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openlegant/legant/policy"
)

// groupWriteTimeout bounds one group's transaction when its leader's
// context has no deadline.
const groupWriteTimeout = 30 * time.Second

// groupWriter group-commits small writes, leader and followers: the first
// caller to find nobody writing becomes the leader and commits every
// operation queued meanwhile in one transaction, again and again until the
// queue is empty; callers arriving while it writes queue theirs and wait for
// their own outcome. It carries the writes that start and end sessions
// (CreateSession, MarkKilled, CloseSession) and the ledger's (Reserve, and a
// hold's Settle and Release: two per budgeted call), on both backends. A
// client opening many sessions at once (32 at a time in `legant bench`), a
// gateway ending many (a drain, an idle sweep, a kill of an agent's
// sessions), or concurrent budgeted calls then pay one commit — one WAL
// flush — per group, and on SQLite they queue here instead of in
// SQLite's busy handler, which polls the write lock with sleeps of 1, 2,
// 5, 10… ms. A leader whose own operation is written hands what is left to
// a goroutine, so no caller waits for others'.
//
// An operation nobody waits for (a settlement queued by Hold.CloseQueued)
// is queued without a leader: it goes with the next group — at low load the
// next budgeted call's reservation, one commit for both — or, when nothing
// follows within lazyDelay, in a group of its own. A write or read that must
// see it (Spent, Close) waits for the queue first (barrier).
type groupWriter struct {
	s     *Store
	mu    sync.Mutex // guards queue, busy and lazy
	queue []*groupOp
	busy  bool        // a leader is writing
	lazy  *time.Timer // armed while queued operations wait for a group to join

	// lazyDelay is how long a queued operation nobody waits for may wait
	// for a group to join (defaultLazyDelay; tests set it).
	lazyDelay time.Duration

	groups  atomic.Int64 // transactions written (tests)
	retried atomic.Int64 // of them, groups whose transaction failed, written again op by op (tests)
}

// groupTx is a group's transaction and what the ledger's writes in it have
// read (ledgerCache): the accounts they change are written back once, by
// flush, when every operation of the group has been applied.
type groupTx struct {
	*sql.Tx
	ledger ledgerCache
}

// flush writes back what the transaction's operations changed and did not
// write yet. It runs once they are all applied, before the commit.
func (tx *groupTx) flush(ctx context.Context, s *Store) error {
	return tx.ledger.flush(ctx, s, tx.Tx)
}

// groupOp is one queued write. apply runs it in the group's transaction;
// an error ownOutcome accepts is its own outcome — apply must then leave
// the database consistent, as the group commits what it wrote — any other
// aborts the transaction (and every operation is then applied on its own).
type groupOp struct {
	apply func(ctx context.Context, tx *groupTx) error
	done  chan error // buffered(1): this operation's outcome
	// then, for an operation nobody waits for (done nil), takes its
	// outcome: in the writer's goroutine, so it must not block.
	then func(error)
}

// defaultLazyDelay bounds how long a queued operation nobody waits for
// stays unwritten when no other write comes (the audit queue gathers its
// events for as long).
const defaultLazyDelay = 5 * time.Millisecond

// do queues apply and returns its outcome once its group is committed (or
// ctx's error once ctx ends: the operation may still be written).
func (w *groupWriter) do(ctx context.Context, apply func(ctx context.Context, tx *groupTx) error) error {
	op := &groupOp{apply: apply, done: make(chan error, 1)}
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

// submit queues apply for the next group and returns at once; then, if not
// nil, gets its outcome once the group is committed. Nobody waits for it, so
// it starts no group of its own unless none comes within lazyDelay.
func (w *groupWriter) submit(apply func(ctx context.Context, tx *groupTx) error, then func(error)) {
	op := &groupOp{apply: apply, then: then}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queue = append(w.queue, op)
	if w.busy || w.lazy != nil {
		return // the leader writes it, or the timer already runs
	}
	d := w.lazyDelay
	if d <= 0 {
		d = defaultLazyDelay
	}
	w.lazy = time.AfterFunc(d, w.writeLazy)
}

// writeLazy leads a group for what is queued when nobody else has.
func (w *groupWriter) writeLazy() {
	w.mu.Lock()
	w.lazy = nil
	if w.busy || len(w.queue) == 0 {
		w.mu.Unlock()
		return
	}
	w.busy = true
	w.lead(context.Background(), nil)
}

// barrier returns once every operation queued before it is written (or
// ctx ends): at once when nothing is queued or being written.
func (w *groupWriter) barrier(ctx context.Context) error {
	w.mu.Lock()
	idle := !w.busy && len(w.queue) == 0
	w.mu.Unlock()
	if idle {
		return nil
	}
	return w.do(ctx, func(context.Context, *groupTx) error { return nil })
}

// lead writes the queue until it is empty, or, once own is written, hands
// what is left to a goroutine (own nil: the goroutine itself). Called with mu
// held and busy set; returns with mu released.
func (w *groupWriter) lead(ctx context.Context, own *groupOp) {
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
		if w.lazy != nil { // what it waited for is in this batch
			w.lazy.Stop()
			w.lazy = nil
		}
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
func (w *groupWriter) write(ctx context.Context, batch []*groupOp) {
	ctx, cancel := w.context(ctx)
	defer cancel()
	w.groups.Add(1)
	outcome := make([]error, len(batch))
	err := w.s.inWriteTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		g := &groupTx{Tx: tx}
		for i, op := range batch {
			outcome[i] = op.apply(ctx, g)
			if outcome[i] != nil && !ownOutcome(outcome[i]) {
				return outcome[i]
			}
		}
		return g.flush(ctx, w.s)
	})
	if err != nil && len(batch) > 1 {
		w.retried.Add(1)
		for i, op := range batch {
			outcome[i] = w.s.inGroupTx(ctx, op.apply)
		}
	} else if err != nil {
		outcome[0] = err
	}
	for i, op := range batch {
		if op.done == nil {
			if op.then != nil {
				op.then(outcome[i])
			}
			continue
		}
		op.done <- outcome[i]
	}
}

// ownOutcome reports whether err is an operation's answer rather than a
// failure of the group's transaction: the session exists or is unknown, the
// ledger refuses the reservation, the hold is closed.
func ownOutcome(err error) bool {
	if _, denied := errors.AsType[*policy.LedgerDenied](err); denied {
		return true
	}
	return errors.Is(err, ErrExists) || errors.Is(err, ErrNotFound) || errors.Is(err, policy.ErrHoldClosed)
}

// context bounds a group's write: the leader's deadline, never its
// cancellation (the group is not the leader's alone).
func (w *groupWriter) context(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(context.WithoutCancel(ctx), d)
	}
	return context.WithTimeout(context.WithoutCancel(ctx), groupWriteTimeout)
}

// inGroupTx runs apply in a transaction of its own and commits what it
// wrote, flushed, unless it fails (an outcome of its own included).
func (s *Store) inGroupTx(ctx context.Context, apply func(ctx context.Context, tx *groupTx) error) error {
	return s.inWriteTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		g := &groupTx{Tx: tx}
		if err := apply(ctx, g); err != nil {
			return err
		}
		return g.flush(ctx, s)
	})
}

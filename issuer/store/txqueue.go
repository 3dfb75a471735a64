package store

import (
	"context"
	"sync"
)

// txQueue admits one of this process's SQLite transactions at a time, in the
// order they asked (Store.inTx). Each waiter queues a channel of its own; a
// release hands the turn to the oldest by closing it, so nobody barges in
// and nobody polls. SQLite's own busy handler polls the write lock with
// sleeps of 1, 2, 5, 10… ms, so a writer that lost the race to a busy
// one waited tens of milliseconds however short the transactions ahead.
type txQueue struct {
	mu      sync.Mutex
	busy    bool
	waiters []chan struct{}
}

// acquire waits for the turn, or for ctx to end (then it does not hold it).
func (q *txQueue) acquire(ctx context.Context) error {
	q.mu.Lock()
	if !q.busy {
		q.busy = true
		q.mu.Unlock()
		return nil
	}
	turn := make(chan struct{})
	q.waiters = append(q.waiters, turn)
	q.mu.Unlock()
	select {
	case <-turn:
		return nil
	case <-ctx.Done():
	}
	q.mu.Lock()
	for i, w := range q.waiters {
		if w == turn {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			q.mu.Unlock()
			return ctx.Err()
		}
	}
	q.mu.Unlock()
	q.release() // the turn came as ctx ended: pass it on
	return ctx.Err()
}

// release hands the turn to the oldest waiter, or frees it.
func (q *txQueue) release() {
	q.mu.Lock()
	if len(q.waiters) == 0 {
		q.busy = false
		q.mu.Unlock()
		return
	}
	next := q.waiters[0]
	q.waiters = q.waiters[1:]
	q.mu.Unlock()
	close(next)
}

// queued is how many transactions wait for their turn (tests).
func (q *txQueue) queued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiters)
}

package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// ownerWait bounds how long a read in a process that does not own the
// SQLite journal waits for its owner to apply what the journal holds. The
// owner's applier gathers for auditApplyLinger (250 ms) before it writes.
var ownerWait = 2 * time.Second

// ownerPoll is how often such a read checks what the owner has applied.
const ownerPoll = 20 * time.Millisecond

// awaitOwner is for a read of the log (Query, Tail, Verify, Anchor) in a
// process that does not own the SQLite journal: another process — a running
// gateway — owns it and applies its events within about 250 ms. It waits,
// up to ownerWait, until the owner has applied every event its journal held
// when the read began, so that `legant audit verify` or `query` beside a
// running gateway sees every call the gateway had recorded, not the prefix
// applied so far. It reads the journal file (its frames whose keyed sums
// verify, past the database's applied jseq) and polls the database's
// applied jseq. It returns how many of those events were still not applied
// when the wait ran out (the owner is stuck, or died and left them to the
// next process that opens the database): the read goes on without them.
func (l *AuditLog) awaitOwner(ctx context.Context) (int, error) {
	if l.j != nil || l.ownedElsewhere == "" {
		return 0, nil
	}
	var id []byte
	var applied int64
	if err := l.s.db.QueryRowContext(ctx, `SELECT journal_id, applied FROM audit_journal WHERE id = 1`).Scan(&id, &applied); err != nil {
		return 0, fmt.Errorf("store: audit journal: %w", err)
	}
	f, err := os.Open(l.ownedElsewhere)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: read audit journal: %w", err)
	}
	defer f.Close()
	j := &auditJournal{f: f, path: l.ownedElsewhere}
	if len(id) != len(j.id) {
		return 0, nil // not a journal this database's owner writes
	}
	copy(j.id[:], id)
	size, ok, err := j.readHeader()
	if err != nil || !ok {
		return 0, nil // new, or foreign: nothing of this database's in it
	}
	events, _, err := j.scan(size, uint64(applied))
	if err != nil || len(events) == 0 {
		return 0, err
	}
	target := events[len(events)-1].jseq
	timer := time.NewTimer(ownerWait)
	defer timer.Stop()
	tick := time.NewTicker(ownerPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-timer.C:
			left := 0
			for _, e := range events {
				if e.jseq > uint64(applied) {
					left++
				}
			}
			return left, nil
		case <-tick.C:
		}
		if err := l.s.db.QueryRowContext(ctx, `SELECT applied FROM audit_journal WHERE id = 1`).Scan(&applied); err != nil {
			return 0, fmt.Errorf("store: audit journal: %w", err)
		}
		if uint64(applied) >= target {
			return 0, nil
		}
	}
}

// settleRead is settle for a one-off read of the log: it also waits for the
// journal's owner when that is another process, and logs what it could not
// wait for.
func (l *AuditLog) settleRead(ctx context.Context) (unapplied int, err error) {
	if err := l.settle(ctx); err != nil {
		return 0, err
	}
	n, err := l.awaitOwner(ctx)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		l.s.log.Warn("audit journal: events the process owning it acknowledged are not yet in the database; this read does not include them",
			"events", n, "waited", ownerWait, "path", l.ownedElsewhere)
	}
	return n, nil
}

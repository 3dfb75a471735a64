package store

import (
	"context"
	"fmt"

	"github.com/openlegant/legant/authority/audit"
)

// MaxAfterLimit bounds the events one After call returns.
const MaxAfterLimit = 10000

// After returns up to limit events with a sequence number greater than seq,
// in sequence order (limit ≤ 0 or above MaxAfterLimit means MaxAfterLimit).
// It is the read side of a change stream: a follower keeps the last seq it
// saw and asks again; with PostgreSQL the log is shared by every replica, so
// a follower on one replica sees what all of them recorded. Events are
// returned as committed, Args included; callers that show them to people
// decide whether to drop Args.
func (l *AuditLog) After(ctx context.Context, seq int64, limit int) ([]audit.Event, error) {
	if err := l.settle(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > MaxAfterLimit {
		limit = MaxAfterLimit
	}
	out := make([]audit.Event, 0, min(limit, 256))
	err := l.stream(ctx, seq, limit, func(e *audit.Event) error {
		out = append(out, *e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Head returns the last committed point of the chain (seq 0 and no hash for
// an empty log). Every event up to it is readable when Head returns.
func (l *AuditLog) Head(ctx context.Context) (audit.Checkpoint, error) {
	if err := l.settle(ctx); err != nil {
		return audit.Checkpoint{}, err
	}
	var cp audit.Checkpoint
	if err := l.s.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&cp.Seq, &cp.Hash); err != nil {
		return cp, fmt.Errorf("store: read audit head: %w", err)
	}
	return cp, nil
}

// Event returns the event of sequence number seq, or ErrNotFound (never
// written, or pruned).
func (l *AuditLog) Event(ctx context.Context, seq int64) (*audit.Event, error) {
	evs, err := l.After(ctx, seq-1, 1)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 || evs[0].Seq != seq {
		return nil, fmt.Errorf("%w: audit event %d", ErrNotFound, seq)
	}
	return &evs[0], nil
}

// PruneStart returns the checkpoint the stored chain starts from: the latest
// signed prune record (retention), or the genesis (seq 0) when nothing was
// pruned.
func (l *AuditLog) PruneStart(ctx context.Context) (audit.Checkpoint, error) {
	if err := l.settle(ctx); err != nil {
		return audit.Checkpoint{}, err
	}
	return l.pruneStart(ctx)
}

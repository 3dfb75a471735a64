package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openlegant/legant/authority/audit"
)

// VerifyReport says what Verify checked and what it found.
type VerifyReport struct {
	// PrunedThrough is the last sequence number removed by retention (0: none);
	// verification starts after it, from its signed prune record.
	PrunedThrough int64
	// Head is the last event that verified.
	Head audit.Checkpoint
	// Events is the number of events that verified.
	Events int64
	// AnchorSeq is the anchor's sequence number (0: no anchor given).
	AnchorSeq int64
	// FirstBad is the first bad sequence number (0: the chain is intact) and
	// Problem says what is wrong there.
	FirstBad int64
	Problem  string
	// Unapplied counts events the process owning the SQLite journal (a
	// running gateway) had acknowledged and not yet applied when the wait
	// for them ran out: not verified (0: every acknowledged event was).
	Unapplied int
}

// OK reports whether the chain verified.
func (r *VerifyReport) OK() bool { return r.FirstBad == 0 }

// Verify streams the chain in sequence order from the latest signed prune
// record (or the genesis) and checks every link (see audit.Verifier). It also
// pins the head record the writers maintain and, when given, anchor (from
// Anchor, kept elsewhere), so a truncated tail is caught. A broken chain
// returns the report and a *audit.ChainError naming the first bad sequence
// number; other errors mean verification could not run.
func (l *AuditLog) Verify(ctx context.Context, anchor *audit.Anchor) (*VerifyReport, error) {
	unapplied, err := l.settleRead(ctx)
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{Unapplied: unapplied}
	start, err := l.pruneStart(ctx)
	var ce *audit.ChainError
	if errors.As(err, &ce) {
		return rep.broken(ce)
	}
	if err != nil {
		return nil, err
	}
	rep.PrunedThrough = start.Seq
	v := audit.NewVerifier(start)
	if err := l.pinHead(ctx, v); err != nil {
		if errors.As(err, &ce) {
			return rep.broken(ce)
		}
		return nil, err
	}
	if anchor != nil {
		rep.AnchorSeq = anchor.Seq
		if err := v.Pin(anchor.Checkpoint()); err != nil {
			return nil, err
		}
	}
	if err := l.stream(ctx, start.Seq, 0, v.Next); err != nil && !errors.As(err, &ce) {
		return nil, err
	}
	err = v.Finish()
	rep.Head, rep.Events = v.Head(), v.Count()
	if errors.As(err, &ce) {
		return rep.broken(ce)
	}
	return rep, nil
}

func (r *VerifyReport) broken(ce *audit.ChainError) (*VerifyReport, error) {
	r.FirstBad, r.Problem = ce.Seq, ce.Reason
	return r, ce
}

// pinHead pins the head record: every event up to it was committed before the
// stream starts, so the stream must reach it with the same hash.
func (l *AuditLog) pinHead(ctx context.Context, v *audit.Verifier) error {
	var head audit.Checkpoint
	if err := l.s.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&head.Seq, &head.Hash); err != nil {
		return fmt.Errorf("store: read audit head: %w", err)
	}
	if err := v.Pin(head); err != nil {
		start := v.Head()
		return &audit.ChainError{Seq: start.Seq + 1, Reason: fmt.Sprintf("the head record (seq %d) is behind the prune record (seq %d)", head.Seq, start.Seq)}
	}
	return nil
}

// pruneStart returns the checkpoint the chain continues from: the latest
// prune record, whose signature is checked, or the genesis.
func (l *AuditLog) pruneStart(ctx context.Context) (audit.Checkpoint, error) {
	var cp audit.Checkpoint
	var signed string
	err := l.s.db.QueryRowContext(ctx, `SELECT seq, hash, signed FROM audit_checkpoints WHERE kind = 'prune' ORDER BY seq DESC LIMIT 1`).Scan(&cp.Seq, &cp.Hash, &signed)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Checkpoint{}, nil
	}
	if err != nil {
		return cp, fmt.Errorf("store: read prune record: %w", err)
	}
	ks, err := l.s.historicKeySet(ctx)
	if err != nil {
		return cp, fmt.Errorf("store: keys to check the prune record: %w", err)
	}
	a, err := audit.VerifyAnchor(signed, ks, audit.PruneType, l.s.now())
	if err != nil || a.Checkpoint() != cp {
		return cp, &audit.ChainError{Seq: cp.Seq + 1, Reason: fmt.Sprintf("the prune record through seq %d is not validly signed or does not match its columns", cp.Seq)}
	}
	return cp, nil
}

// stream calls f with every event after seq from, in order (up to limit
// events when limit > 0), until f returns an error.
func (l *AuditLog) stream(ctx context.Context, from int64, limit int, f func(*audit.Event) error) error {
	q := `SELECT ` + auditColumns + ` FROM audit_events WHERE seq > $1 ORDER BY seq`
	args := []any{from}
	if limit > 0 {
		q += ` LIMIT $2`
		args = append(args, limit)
	}
	rows, err := l.s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: read audit events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return err
		}
		if err := f(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

func scanEvent(r rowScanner) (*audit.Event, error) {
	var e audit.Event
	var at int64
	var agents string
	var args []byte
	err := r.Scan(&e.Seq, &at, &e.Kind, &e.User, &agents, &e.Client, &e.Upstream, &e.Method, &e.Tool, &e.Decision, &e.Reason,
		&e.Constraint, &e.Limit, &e.Value, &e.TokenID, &e.SessionID, &e.ArgsHash, &args, &e.PrevHash, &e.Hash)
	if err != nil {
		return nil, fmt.Errorf("store: scan audit event: %w", err)
	}
	if err := json.Unmarshal([]byte(agents), &e.Agents); err != nil {
		// Not a scan failure: a tampered row. Leave Agents unreadable so the
		// hash check names this seq.
		e.Agents = []string{"\x00unreadable:" + agents}
	}
	if len(e.Agents) == 0 {
		e.Agents = nil
	}
	e.Time = time.Unix(0, at).UTC()
	if args != nil {
		e.Args = json.RawMessage(args)
	}
	return &e, nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/openlegant/legant/authority/audit"
)

// Anchor signs the current head of the chain with the issuer's signing key:
// a compact JWS (audit.AnchorType) to keep outside the database. Verify
// against it later catches a truncated tail.
func (l *AuditLog) Anchor(ctx context.Context) (string, *audit.Anchor, error) {
	if _, err := l.settleRead(ctx); err != nil {
		return "", nil, err
	}
	key, err := l.s.signer(ctx)
	if err != nil {
		return "", nil, err
	}
	a := audit.Anchor{Issuer: l.s.opts.Issuer, Time: l.s.now()}
	if err := l.s.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&a.Seq, &a.Hash); err != nil {
		return "", nil, fmt.Errorf("store: read audit head: %w", err)
	}
	tok, err := audit.SignAnchor(key, audit.AnchorType, a)
	if err != nil {
		return "", nil, err
	}
	return tok, &a, nil
}

// ParseAnchor verifies a signed anchor against every signing key the store
// has ever held (an old anchor may be signed by a key retired since).
func (l *AuditLog) ParseAnchor(ctx context.Context, token string) (*audit.Anchor, error) {
	ks, err := l.s.historicKeySet(ctx)
	if err != nil {
		return nil, err
	}
	return audit.VerifyAnchor(token, ks, audit.AnchorType, l.s.now())
}

// Prune deletes the events with a sequence number up to through (retention),
// after verifying the whole chain, and records a signed prune record (seq and
// hash of event through) from which Verify starts afterwards. It returns the
// new starting point.
func (l *AuditLog) Prune(ctx context.Context, through int64) (audit.Checkpoint, error) {
	if _, err := l.Verify(ctx, nil); err != nil {
		return audit.Checkpoint{}, fmt.Errorf("store: refusing to prune an audit chain that does not verify: %w", err)
	}
	key, err := l.s.signer(ctx)
	if err != nil {
		return audit.Checkpoint{}, err
	}
	now := l.s.now()
	cp := audit.Checkpoint{Seq: through}
	err = l.s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT hash FROM audit_events WHERE seq = $1`, through).Scan(&cp.Hash)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: audit event %d (already pruned, or not yet written)", ErrNotFound, through)
		}
		if err != nil {
			return err
		}
		signed, err := audit.SignAnchor(key, audit.PruneType, audit.Anchor{Issuer: l.s.opts.Issuer, Seq: cp.Seq, Hash: cp.Hash, Time: now})
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (kind, seq, hash, at_ns, signed) VALUES ('prune', $1, $2, $3, $4)`,
			cp.Seq, cp.Hash, now.UnixNano(), signed); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM audit_events WHERE seq <= $1`, through)
		return err
	})
	if err != nil {
		return audit.Checkpoint{}, fmt.Errorf("store: prune audit: %w", err)
	}
	return cp, nil
}

// PruneBefore prunes every event older than t (see Prune) and returns the new
// starting point; with nothing to prune it returns the current one.
func (l *AuditLog) PruneBefore(ctx context.Context, t time.Time) (audit.Checkpoint, error) {
	if err := l.settle(ctx); err != nil {
		return audit.Checkpoint{}, err
	}
	var through sql.NullInt64
	if err := l.s.db.QueryRowContext(ctx, `SELECT max(seq) FROM audit_events WHERE at_ns < $1`, t.UnixNano()).Scan(&through); err != nil {
		return audit.Checkpoint{}, fmt.Errorf("store: prune audit: %w", err)
	}
	if !through.Valid {
		return l.pruneStart(ctx)
	}
	return l.Prune(ctx, through.Int64)
}

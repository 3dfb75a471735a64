package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Delegation is a grant the issuer made: the user, the agents acting for them
// (the act chain, oldest first) and the delegation it was attenuated from.
// The store keeps the tree so that revoking a delegation revokes its sub-tree.
type Delegation struct {
	ID        string
	ParentID  string // "" for a root grant
	User      string
	Agents    []string
	ClientID  string
	CreatedAt time.Time // zero: now
	ExpiresAt time.Time // zero: none recorded
	// RevokedVersion is the revocation version that revoked it; 0 = not revoked.
	// Read-only.
	RevokedVersion int64
}

// CreateDelegation stores d. It fails with ErrExists if the id is taken and
// with ErrRevoked if its parent or any stored ancestor is revoked, so a
// revoked sub-tree cannot grow.
func (s *Store) CreateDelegation(ctx context.Context, d Delegation) error {
	if d.ID == "" {
		return errors.New("store: delegation without id")
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = s.now()
	}
	agents, err := json.Marshal(nonNil(d.Agents))
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if d.ParentID != "" {
			if err := checkAncestors(ctx, tx, d.ParentID); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO delegations (id, parent_id, user_sub, agents, client_id, created_ns, expires_ns)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
			d.ID, d.ParentID, d.User, string(agents), d.ClientID, d.CreatedAt.UnixNano(), toNanos(d.ExpiresAt))
		if err != nil {
			return fmt.Errorf("store: create delegation: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: delegation %q", ErrExists, d.ID)
		}
		return nil
	})
}

// checkAncestors fails with ErrRevoked when parent or a stored ancestor of it
// is revoked.
func checkAncestors(ctx context.Context, tx *sql.Tx, parent string) error {
	var revoked string
	err := tx.QueryRowContext(ctx, `WITH RECURSIVE up(id, parent_id) AS (
			SELECT id, parent_id FROM delegations WHERE id = $1
			UNION
			SELECT d.id, d.parent_id FROM delegations d JOIN up ON d.id = up.parent_id
		) SELECT value FROM revocations
		WHERE kind = 'delegation' AND (value = $1 OR value IN (SELECT id FROM up))
		LIMIT 1`, parent).Scan(&revoked)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("store: check ancestors: %w", err)
	}
	return fmt.Errorf("%w: delegation %s (an ancestor of the new delegation)", ErrRevoked, revoked)
}

// GetDelegation returns delegation id, or ErrNotFound.
func (s *Store) GetDelegation(ctx context.Context, id string) (*Delegation, error) {
	var d Delegation
	var agents string
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT id, parent_id, user_sub, agents, client_id, created_ns, expires_ns, revoked_version
		FROM delegations WHERE id = $1`, id).Scan(&d.ID, &d.ParentID, &d.User, &agents, &d.ClientID, &created, &expires, &d.RevokedVersion)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: delegation %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get delegation: %w", err)
	}
	if err := json.Unmarshal([]byte(agents), &d.Agents); err != nil {
		return nil, fmt.Errorf("store: delegation %s agents: %w", id, err)
	}
	d.CreatedAt, d.ExpiresAt = fromNanos(created), fromNanos(expires)
	return &d, nil
}

// nonNil makes a nil list encode as [].
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openlegant/legant/authority"
)

// Grant is what a user consented to (or what an agent narrowed by token
// exchange): one delegation, the client it was made to, the resource and
// scopes, and the constraints every token minted from it carries. A Grant
// is a Delegation plus these fields; revoking the delegation revokes it.
type Grant struct {
	DelegationID string
	ParentID     string   // "" for a grant a user approved
	User         string   // the sub of its tokens
	Agents       []string // the act chain, oldest first
	ClientID     string
	Resource     string // the audience of its tokens
	Scopes       []string
	Constraints  authority.Constraints
	CreatedAt    time.Time // zero: now
	ExpiresAt    time.Time // required: no token outlives it
	// RevokedVersion is the revocation version that revoked the delegation;
	// 0 = not revoked. Read-only.
	RevokedVersion int64
}

// CreateGrant stores the delegation of g (CreateDelegation: ErrExists,
// ErrRevoked under a revoked ancestor) and then the grant. Should the second
// step fail, the delegation exists without a grant, from which nothing can be
// minted.
func (s *Store) CreateGrant(ctx context.Context, g Grant) error {
	if g.DelegationID == "" || g.Resource == "" || g.ExpiresAt.IsZero() {
		return errors.New("store: grant without delegation id, resource or expiry")
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = s.now()
	}
	scopes, err := json.Marshal(nonNil(g.Scopes))
	if err != nil {
		return err
	}
	cons, err := json.Marshal(g.Constraints)
	if err != nil {
		return fmt.Errorf("store: grant constraints: %w", err)
	}
	if err := s.CreateDelegation(ctx, Delegation{ID: g.DelegationID, ParentID: g.ParentID, User: g.User,
		Agents: g.Agents, ClientID: g.ClientID, CreatedAt: g.CreatedAt, ExpiresAt: g.ExpiresAt}); err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO oauth_grants (delegation_id, client_id, username, resource, scopes,
		constraints, created_ns, expires_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		g.DelegationID, g.ClientID, g.User, g.Resource, string(scopes), string(cons),
		g.CreatedAt.UnixNano(), g.ExpiresAt.UnixNano())
	if err != nil {
		return fmt.Errorf("store: create grant: %w", err)
	}
	return nil
}

const grantColumns = `g.delegation_id, d.parent_id, g.username, d.agents, g.client_id, g.resource, g.scopes,
	g.constraints, g.created_ns, g.expires_ns, d.revoked_version`

// GetGrant returns the grant of delegation id, or ErrNotFound.
func (s *Store) GetGrant(ctx context.Context, id string) (*Grant, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM oauth_grants g
		JOIN delegations d ON d.id = g.delegation_id WHERE g.delegation_id = $1`, id)
	g, err := scanGrant(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: grant %q", ErrNotFound, id)
	}
	return g, err
}

// ListGrants returns the grants of user, oldest first: the ones the user
// approved and those agents derived from them.
func (s *Store) ListGrants(ctx context.Context, user string) ([]Grant, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+grantColumns+` FROM oauth_grants g
		JOIN delegations d ON d.id = g.delegation_id WHERE g.username = $1 ORDER BY g.created_ns, g.delegation_id`, user)
	if err != nil {
		return nil, fmt.Errorf("store: list grants: %w", err)
	}
	defer rows.Close()
	var out []Grant
	for rows.Next() {
		g, err := scanGrant(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, *g)
	}
	return out, rows.Err()
}

// ListAllGrants returns the newest limit grants of every user, newest
// first (the admin's view).
func (s *Store) ListAllGrants(ctx context.Context, limit int) ([]Grant, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+grantColumns+` FROM oauth_grants g
		JOIN delegations d ON d.id = g.delegation_id ORDER BY g.created_ns DESC, g.delegation_id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list all grants: %w", err)
	}
	defer rows.Close()
	var out []Grant
	for rows.Next() {
		g, err := scanGrant(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, *g)
	}
	return out, rows.Err()
}

func scanGrant(scan func(...any) error) (*Grant, error) {
	var g Grant
	var agents, scopes, cons string
	var created, expires int64
	if err := scan(&g.DelegationID, &g.ParentID, &g.User, &agents, &g.ClientID, &g.Resource, &scopes, &cons,
		&created, &expires, &g.RevokedVersion); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("store: read grant: %w", err)
	}
	if err := json.Unmarshal([]byte(agents), &g.Agents); err != nil {
		return nil, fmt.Errorf("store: grant %s agents: %w", g.DelegationID, err)
	}
	if err := json.Unmarshal([]byte(scopes), &g.Scopes); err != nil {
		return nil, fmt.Errorf("store: grant %s scopes: %w", g.DelegationID, err)
	}
	if err := json.Unmarshal([]byte(cons), &g.Constraints); err != nil {
		return nil, fmt.Errorf("store: grant %s constraints: %w", g.DelegationID, err)
	}
	g.CreatedAt, g.ExpiresAt = fromNanos(created), fromNanos(expires)
	return &g, nil
}

// ErrMintLimit reports a grant that reached its hourly mint cap.
var ErrMintLimit = errors.New("store: mint limit reached")

// RecordMint counts one token minted from grant delegationID at now. With
// limit > 0 it fails with ErrMintLimit, recording nothing, when limit tokens
// were already minted in the hour before now. The check and the count are one
// transaction holding the grant's row lock (FOR UPDATE on PostgreSQL, the
// write lock on SQLite), so concurrent mints never exceed the cap. ErrNotFound
// if there is no such grant.
func (s *Store) RecordMint(ctx context.Context, delegationID string, now time.Time, limit int) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT delegation_id FROM oauth_grants WHERE delegation_id = $1`+s.d.forUpdate(),
			delegationID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: grant %q", ErrNotFound, delegationID)
		}
		if err != nil {
			return fmt.Errorf("store: record mint: %w", err)
		}
		hourAgo := now.Add(-time.Hour).UnixNano()
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_mints WHERE delegation_id = $1 AND at_ns <= $2`, delegationID, hourAgo); err != nil {
			return fmt.Errorf("store: record mint: %w", err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM oauth_mints WHERE delegation_id = $1`, delegationID).Scan(&n); err != nil {
			return fmt.Errorf("store: record mint: %w", err)
		}
		if limit > 0 && n >= limit {
			return fmt.Errorf("%w: %d tokens in the last hour from delegation %s", ErrMintLimit, n, delegationID)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO oauth_mints (delegation_id, at_ns) VALUES ($1, $2)`, delegationID, now.UnixNano())
		return err
	})
}

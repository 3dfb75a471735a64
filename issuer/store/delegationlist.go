package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/openlegant/legant/authority"
)

// DelegationNode is one delegation as an operator sees it in the authority
// graph: the delegation, the constraints of its grant (nil when the store
// holds no grant for it: a delegation recorded without one), and what the
// ledger says it spent.
type DelegationNode struct {
	Delegation
	Constraints *authority.Constraints
	Resource    string
	Spent       authority.Decimal
	Calls       int64
}

// ListDelegations returns up to limit delegations (oldest first; limit ≤ 0
// means 1000) with their grant's constraints and their ledger, so that a
// caller can draw the tree user → agent → sub-agent: ParentID links a node
// to the delegation it was attenuated from.
func (s *Store) ListDelegations(ctx context.Context, limit int) ([]DelegationNode, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.db.QueryContext(ctx, `SELECT d.id, d.parent_id, d.user_sub, d.agents, d.client_id, d.created_ns,
			d.expires_ns, d.revoked_version, g.constraints, g.resource, `+s.d.decimalOut("l.spent")+`, l.calls
		FROM delegations d
		LEFT JOIN oauth_grants g ON g.delegation_id = d.id
		LEFT JOIN ledger l ON l.delegation_id = d.id
		ORDER BY d.created_ns, d.id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list delegations: %w", err)
	}
	defer rows.Close()
	var out []DelegationNode
	for rows.Next() {
		var n DelegationNode
		var agents string
		var created, expires int64
		var cons, resource, spent sql.NullString
		var calls sql.NullInt64
		if err := rows.Scan(&n.ID, &n.ParentID, &n.User, &agents, &n.ClientID, &created, &expires, &n.RevokedVersion,
			&cons, &resource, &spent, &calls); err != nil {
			return nil, fmt.Errorf("store: list delegations: %w", err)
		}
		if err := json.Unmarshal([]byte(agents), &n.Agents); err != nil {
			return nil, fmt.Errorf("store: delegation %s agents: %w", n.ID, err)
		}
		if cons.Valid {
			var c authority.Constraints
			if err := json.Unmarshal([]byte(cons.String), &c); err != nil {
				return nil, fmt.Errorf("store: delegation %s constraints: %w", n.ID, err)
			}
			n.Constraints = &c
		}
		if spent.Valid {
			if n.Spent, err = authority.ParseDecimal(spent.String); err != nil {
				return nil, fmt.Errorf("store: delegation %s spent: %w", n.ID, err)
			}
		}
		n.Resource, n.Calls = resource.String, calls.Int64
		n.CreatedAt, n.ExpiresAt = fromNanos(created), fromNanos(expires)
		out = append(out, n)
	}
	return out, rows.Err()
}

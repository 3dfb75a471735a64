package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Approval states.
const (
	ApprovalPending  = "pending"
	ApprovalGranted  = "granted"
	ApprovalDeclined = "declined"
)

// ErrTooManyApprovals: the token already has as many open approval
// requests as TakeApproval allows.
var ErrTooManyApprovals = errors.New("store: too many open approval requests")

// Approval is a four-eyes approval request (the gateway's approval.go),
// shared by every replica: one exact call (CallKey) waiting for, or holding,
// a second person's decision. Its fields mirror gateway.ApprovalRecord.
type Approval struct {
	ID, CallKey  string
	State        string // ApprovalPending, ApprovalGranted or ApprovalDeclined
	Approver     string // who decided; "" while pending
	Expires      time.Time
	TokenID      string
	DelegationID string
	User         string
	Agents       []string
	Client       string
	SessionID    string
	Upstream     string
	Tool         string
	ArgsHash     string
	Args         []byte
	From         []string // who may approve
}

const approvalCols = `id, call_key, state, approver, expires_ns, token_id, delegation_id, user_id, agents, client_id,
	session_id, upstream, tool, args_hash, args, approvers`

// TakeApproval returns the open request of a.CallKey and, in the same
// transaction, uses it up when it was decided: a granted or declined request
// is deleted as it is returned (an approval admits one call). When the key
// has no request that has not expired, a is stored as a new pending request
// and returned with created = true — unless the token already has perToken
// requests that have not expired (ErrTooManyApprovals). now is the caller's
// clock.
func (s *Store) TakeApproval(ctx context.Context, a Approval, perToken int, now time.Time) (Approval, bool, error) {
	agents, _ := json.Marshal(a.Agents)
	from, _ := json.Marshal(a.From)
	for range 3 { // a concurrent insert of the same key wins: read it
		var got Approval
		var created bool
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `DELETE FROM approvals WHERE expires_ns <= $1`, now.UnixNano()); err != nil {
				return err
			}
			row := tx.QueryRowContext(ctx, `SELECT `+approvalCols+` FROM approvals WHERE call_key = $1`+s.d.forUpdate(), a.CallKey)
			err := scanApproval(row, &got)
			switch {
			case err == nil:
				if got.State != ApprovalPending {
					_, err = tx.ExecContext(ctx, `DELETE FROM approvals WHERE id = $1`, got.ID)
				}
				return err
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM approvals WHERE token_id = $1`, a.TokenID).Scan(&n); err != nil {
				return err
			}
			if n >= perToken {
				return ErrTooManyApprovals
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO approvals (`+approvalCols+`)
				VALUES ($1, $2, $3, '', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
				ON CONFLICT (call_key) DO NOTHING`,
				a.ID, a.CallKey, ApprovalPending, a.Expires.UnixNano(), a.TokenID, a.DelegationID, a.User, string(agents),
				a.Client, a.SessionID, a.Upstream, a.Tool, a.ArgsHash, string(a.Args), string(from))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return errRetry
			}
			got, created = a, true
			got.State = ApprovalPending
			return nil
		})
		if errors.Is(err, errRetry) {
			continue
		}
		if err != nil {
			if errors.Is(err, ErrTooManyApprovals) {
				return Approval{}, false, err
			}
			return Approval{}, false, fmt.Errorf("store: take approval: %w", err)
		}
		return got, created, nil
	}
	return Approval{}, false, fmt.Errorf("store: take approval: the request of this call keeps changing")
}

var errRetry = errors.New("retry")

// DecideApproval records approver's decision on pending request id. It
// reports false when the request is no longer pending (decided by someone
// else, used, cancelled or expired).
func (s *Store) DecideApproval(ctx context.Context, id, approver string, grant bool, now time.Time) (bool, error) {
	state := ApprovalDeclined
	if grant {
		state = ApprovalGranted
	}
	res, err := s.db.ExecContext(ctx, `UPDATE approvals SET state = $1, approver = $2
		WHERE id = $3 AND state = $4 AND expires_ns > $5`, state, approver, id, ApprovalPending, now.UnixNano())
	if err != nil {
		return false, fmt.Errorf("store: decide approval: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Approvals returns the requests that have not expired, in any state,
// soonest to expire first.
func (s *Store) Approvals(ctx context.Context, now time.Time) ([]Approval, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+approvalCols+` FROM approvals WHERE expires_ns > $1 ORDER BY expires_ns, id`, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("store: approvals: %w", err)
	}
	defer rows.Close()
	var out []Approval
	for rows.Next() {
		var a Approval
		if err := scanApproval(rows, &a); err != nil {
			return nil, fmt.Errorf("store: approvals: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteApprovals deletes the requests ids (cancelled by a kill).
func (s *Store) DeleteApprovals(ctx context.Context, ids ...string) error {
	for _, id := range ids {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM approvals WHERE id = $1`, id); err != nil {
			return fmt.Errorf("store: delete approval: %w", err)
		}
	}
	return nil
}

func scanApproval(row interface{ Scan(...any) error }, a *Approval) error {
	var expires int64
	var agents, args, from string
	if err := row.Scan(&a.ID, &a.CallKey, &a.State, &a.Approver, &expires, &a.TokenID, &a.DelegationID, &a.User, &agents,
		&a.Client, &a.SessionID, &a.Upstream, &a.Tool, &a.ArgsHash, &args, &from); err != nil {
		return err
	}
	a.Expires = time.Unix(0, expires)
	a.Args = []byte(args)
	if err := json.Unmarshal([]byte(agents), &a.Agents); err != nil {
		return err
	}
	return json.Unmarshal([]byte(from), &a.From)
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
)

// hold is a ledger reservation in the database. Safe for concurrent use: its
// state lives in its row, which Settle and Release lock (after the account
// row, the order Reserve uses).
type hold struct {
	s          *Store
	id         string
	delegation string
	amount     authority.Decimal
}

var _ policy.Hold = (*hold)(nil)

// Settle implements policy.Hold: the amount becomes spent and the call
// counts. A hold that expired (see Options.HoldTTL) is still settled, since
// the call did happen: its amount is added to spending even if that now
// exceeds the budget. Settling a settled or released hold is ErrHoldClosed.
func (h *hold) Settle(ctx context.Context) error {
	return h.close(ctx, true)
}

// Release implements policy.Hold: amount and call are freed. Releasing a
// closed hold does nothing.
func (h *hold) Release(ctx context.Context) error {
	return h.close(ctx, false)
}

func (h *hold) close(ctx context.Context, settle bool) error {
	s := h.s
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := s.lockAccountTx(ctx, tx, h.delegation)
		if err != nil {
			return err
		}
		var state string
		if err := tx.QueryRowContext(ctx, `SELECT state FROM ledger_holds WHERE id = $1`+s.d.forUpdate(), h.id).Scan(&state); err != nil {
			return err
		}
		next, ok := nextHoldState(state, settle, &a, h.amount)
		if !ok {
			if settle {
				return policy.ErrHoldClosed
			}
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE ledger_holds SET state = $1, closed_ns = $2 WHERE id = $3`, next, s.now().UnixNano(), h.id); err != nil {
			return err
		}
		return s.saveAccountTx(ctx, tx, h.delegation, a)
	})
	if errors.Is(err, policy.ErrHoldClosed) {
		return err
	}
	if err != nil {
		return fmt.Errorf("store: close hold: %w", err)
	}
	return nil
}

// nextHoldState applies a settle or release to the account and returns the
// hold's new state; ok is false when the hold cannot take it.
func nextHoldState(state string, settle bool, a *account, amount authority.Decimal) (next string, ok bool) {
	switch {
	case settle && state == "held":
		a.held, a.callsHeld = a.held.Sub(amount), a.callsHeld-1
		a.spent, a.calls = a.spent.Add(amount), a.calls+1
		return "settled", true
	case settle && state == "expired":
		a.spent, a.calls = a.spent.Add(amount), a.calls+1
		return "settled", true
	case !settle && state == "held":
		a.held, a.callsHeld = a.held.Sub(amount), a.callsHeld-1
		return "released", true
	}
	return "", false
}

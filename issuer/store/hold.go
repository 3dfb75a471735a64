package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
)

// hold is a ledger reservation in the database, one row per level: the
// delegation's (id) and each ancestor's (id@ancestor). Safe for concurrent
// use: its state lives in its rows, which Settle and Release lock after the
// account rows, root first (the order Reserve uses). The delegation's row
// decides: when it cannot take a Settle or Release, the hold is closed; the
// ancestors' rows follow it.
type hold struct {
	s      *Store
	id     string
	levels []string // the delegation, then its ancestors
	amount authority.Decimal
}

var _ policy.QueuedHold = (*hold)(nil)

// rowID is the ledger_holds id of level i.
func (h *hold) rowID(i int) string {
	if i == 0 {
		return h.id
	}
	return h.id + "@" + h.levels[i]
}

// Settle implements policy.Hold: the amount becomes spent and the call
// counts, on every level. A hold that expired (see Options.HoldTTL) is still
// settled, since the call did happen: its amount is added to spending even if
// that now exceeds the budget. Settling a settled or released hold is
// ErrHoldClosed.
func (h *hold) Settle(ctx context.Context) error {
	return h.close(ctx, true)
}

// Release implements policy.Hold: amount and call are freed on every level.
// Releasing a closed hold does nothing.
func (h *hold) Release(ctx context.Context) error {
	return h.close(ctx, false)
}

func (h *hold) close(ctx context.Context, settle bool) error {
	err := h.s.ledgerTx(ctx, h.closeTx(settle))
	if errors.Is(err, policy.ErrHoldClosed) {
		return err
	}
	if err != nil {
		return fmt.Errorf("store: close hold: %w", err)
	}
	return nil
}

// CloseQueued implements policy.QueuedHold: the settlement (or release) is
// queued for the ledger's next group transaction — at low load the next
// budgeted call's reservation, one commit for both — and nobody waits for
// its commit. The ledger applies it before any reservation made after it
// in this process, and Spent waits for it; another replica sees the amount
// held until it commits (within a few milliseconds), which its budget
// check counts as it counts spending. A failure is logged: the hold then
// stays held until it expires (Options.HoldTTL).
func (h *hold) CloseQueued(settle bool) {
	h.s.groupWriter.submit(h.closeTx(settle), func(err error) {
		if err != nil && !errors.Is(err, policy.ErrHoldClosed) {
			h.s.log.Error("ledger: a queued settlement failed; the hold stays held until it expires",
				"hold", h.id, "settle", settle, "err", err)
		}
	})
}

// closeTx is a settlement (or release) of the hold, as a ledger write.
func (h *hold) closeTx(settle bool) func(ctx context.Context, tx *groupTx) error {
	s := h.s
	return func(ctx context.Context, tx *groupTx) error {
		accts, err := s.lockAccountsTx(ctx, tx, h.levels, time.Time{})
		if err != nil {
			return err
		}
		now := s.now().UnixNano()
		taken := "released"
		if settle {
			taken = "settled"
		}
		for i := range h.levels {
			// The common case, a hold still held, in one statement: the
			// update locks the row and checks its state. Otherwise the state
			// is read and decides.
			res, err := s.execTx(ctx, tx.Tx, `UPDATE ledger_holds SET state = $1, closed_ns = $2 WHERE id = $3 AND state = 'held'`, taken, now, h.rowID(i))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				nextHoldState("held", settle, &accts[i].account, h.amount)
				accts[i].dirty = true
				continue
			}
			var state string
			if err := s.queryRowTx(ctx, tx.Tx, `SELECT state FROM ledger_holds WHERE id = $1`+s.d.forUpdate(), h.rowID(i)).Scan(&state); err != nil {
				return fmt.Errorf("hold %s: %w", h.rowID(i), err)
			}
			next, ok := nextHoldState(state, settle, &accts[i].account, h.amount)
			switch {
			case !ok && i == 0 && settle:
				return policy.ErrHoldClosed
			case !ok && i == 0:
				return nil
			case !ok: // this level expired and is being released: nothing held
				continue
			}
			accts[i].dirty = true
			if _, err := s.execTx(ctx, tx.Tx, `UPDATE ledger_holds SET state = $1, closed_ns = $2 WHERE id = $3`, next, now, h.rowID(i)); err != nil {
				return err
			}
		}
		return nil
	}
}

// nextHoldState applies a settle or release to the account and returns the
// hold's new state; ok is false when the hold cannot take it.
func nextHoldState(state string, settle bool, a *account, amount authority.Decimal) (next string, ok bool) {
	switch {
	case settle && state == "held":
		a.Held, a.CallsHeld = a.Held.Sub(amount), a.CallsHeld-1
		a.Spent, a.Calls = a.Spent.Add(amount), a.Calls+1
		return "settled", true
	case settle && state == "expired":
		a.Spent, a.Calls = a.Spent.Add(amount), a.Calls+1
		return "settled", true
	case !settle && state == "held":
		a.Held, a.CallsHeld = a.Held.Sub(amount), a.CallsHeld-1
		return "released", true
	}
	return "", false
}

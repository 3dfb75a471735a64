package policy

import (
	"context"
	"errors"
	"fmt"

	"github.com/openlegant/legant/authority"
)

// Ledger holds cumulative spending and call counts per delegation, across
// calls, sessions and replicas. The store implements it (SQLite, PostgreSQL);
// MemoryLedger implements it for one process. Implementations are safe for
// concurrent use; policy/ledgertest holds the suite every one must pass.
type Ledger interface {
	// Reserve atomically checks and holds one call on the delegation's account
	// and on the account of every ancestor the ledger knows (ParentID, and the
	// parents it has recorded or stored): if on any of them settled+held+Amount
	// would exceed the budget, or settled+held calls+1 would exceed max_calls,
	// it returns a *LedgerDenied (Reason ReasonBudget or ReasonMaxCalls) and
	// holds nothing; otherwise it holds the amount and the call on all of them
	// until the Hold is settled or released (on all of them, at once). The
	// delegation's own limits are Budget and MaxCalls; an ancestor's are
	// Reservation.AncestorLimits. Any other error means the ledger could not
	// decide.
	Reserve(ctx context.Context, r Reservation) (Hold, error)
}

// Reservation asks a Ledger to hold one call of a delegation.
type Reservation struct {
	// DelegationID keys the account (authority.Claims.DelegationID).
	DelegationID string
	// ParentID is the delegation this one was attenuated from ("" for a root):
	// charged too, and recorded as the parent so that a later reservation of a
	// descendant charges it and its own ancestors.
	ParentID string
	// Amount is the call's amount; zero when the tool moves no money.
	Amount authority.Decimal
	// Budget is the delegation's cumulative limit; nil = no limit on spending.
	Budget *authority.Decimal
	// MaxCalls is the delegation's limit on calls; nil = no limit on calls.
	MaxCalls *int64
}

// Hold is a reservation in flight. Exactly one of Settle or Release takes
// effect: the first one called. Settle when the upstream returned a result
// (the amount becomes spent and the call counts); Release when the call failed
// or was cancelled (amount and call are freed). A Release after the hold was
// settled or released does nothing and returns nil, so `defer h.Release(ctx)`
// is safe; a Settle after a Release returns ErrHoldClosed.
type Hold interface {
	Settle(ctx context.Context) error
	Release(ctx context.Context) error
}

// QueuedHold is a Hold whose settlement can be queued rather than waited
// for: CloseQueued(true) settles, CloseQueued(false) releases, and returns
// before the ledger has written it. The ledger applies it before any
// reservation made after it through the same ledger and before a read of
// what was spent; until then the amount is still held, which a budget
// counts as it counts spending, so no limit can be passed meanwhile. A
// gateway uses it to answer a call without waiting for the settlement's
// commit.
type QueuedHold interface {
	Hold
	CloseQueued(settle bool)
}

// ErrHoldClosed is returned by Settle on a hold already released (or settled).
var ErrHoldClosed = errors.New("policy: hold already closed")

// LedgerDenied is the error a Ledger returns when a reservation would exceed
// the budget or the call count of the delegation or of one of its ancestors.
type LedgerDenied struct {
	Reason Reason // ReasonBudget or ReasonMaxCalls
	Limit  string // "1000" (budget) or "10" (max_calls)
	Value  string // what the total would have become: "1020", "11"
	// Delegation is the account whose limit was reached; Ancestor says it is
	// an ancestor of the token's delegation. The message the client sees does
	// not name it (a deeper ancestor's id is not in the token).
	Delegation string
	Ancestor   bool
}

func (e *LedgerDenied) Error() string {
	of := ""
	if e.Ancestor {
		of = " of an ancestor delegation"
	}
	switch e.Reason {
	case ReasonMaxCalls:
		return fmt.Sprintf("call %s would exceed max_calls %s%s", e.Value, e.Limit, of)
	default:
		return fmt.Sprintf("spending would reach %s, over budget %s%s", e.Value, e.Limit, of)
	}
}

// Authorize is what the gateway calls for each tools/call: Decide, then, when
// the token carries a budget or a call limit, Reserve on the ledger. It
// returns a nil Hold with every denial; with an allow it returns a Hold the
// caller must settle or release (a no-op hold when nothing was reserved).
// Reserve before forwarding, settle on success, release on error or
// cancellation: two concurrent calls cannot both spend the last $100.
//
// A token with a budget or max_calls and no delegation id, a nil ledger, or a
// ledger error deny (fail closed).
func Authorize(ctx context.Context, c *authority.Claims, b *Binding, call Call, l Ledger) (Decision, Hold) {
	d := Decide(c, b, call)
	if !d.Allow {
		return d, nil
	}
	cons := &c.Constraints
	if cons.Budget == nil && cons.MaxCalls == nil {
		return d, NoHold
	}
	if c.DelegationID == "" {
		return denyState(d, ReasonBudget, "the token carries a budget or max_calls but no delegation_id"), nil
	}
	if l == nil {
		return denyState(d, ReasonUnavailable, "no ledger to enforce the budget"), nil
	}
	r := Reservation{DelegationID: c.DelegationID, ParentID: c.ParentID, MaxCalls: cons.MaxCalls}
	if cons.Budget != nil {
		r.Budget = &cons.Budget.Value
	}
	if d.Amount != nil {
		r.Amount = d.Amount.Value
	}
	h, err := l.Reserve(ctx, r)
	if ld, ok := errors.AsType[*LedgerDenied](err); ok {
		d = denyState(d, ld.Reason, ld.Error())
		d.Limit, d.Value = ld.Limit, ld.Value
		return d, nil
	}
	if err != nil {
		d = denyState(d, ReasonUnavailable, "authorization state unavailable")
		d.Cause = err // for the log; the client sees only the message
		return d, nil
	}
	return d, h
}

// denyState turns an allow into a denial decided by state, keeping the values read.
func denyState(d Decision, r Reason, msg string) Decision {
	d.Allow, d.Reason, d.Constraint = false, r, string(r)
	if r == ReasonUnavailable {
		d.Constraint = ""
	}
	d.Message = "denied: " + msg
	return d
}

// NoHold is the Hold Authorize returns for an allowed call that reserved
// nothing (no budget, no call count): Settle and Release do nothing, and a
// caller may compare with it to skip that work.
var NoHold Hold = noHold{}

type noHold struct{}

func (noHold) Settle(context.Context) error  { return nil }
func (noHold) Release(context.Context) error { return nil }

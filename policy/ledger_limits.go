package policy

import (
	"fmt"
	"strconv"

	"github.com/openlegant/legant/authority"
)

// MaxLedgerDepth is the longest ancestry a Ledger charges: a reservation whose
// delegation has more ancestors than this is an error (fail closed), as is a
// cycle in the parent links.
const MaxLedgerDepth = 32

// Limits are the limits on one delegation's account; nil means no limit.
type Limits struct {
	Budget   *authority.Decimal
	MaxCalls *int64
}

// Limits returns the reservation's own limits: its token's budget and max_calls.
func (r Reservation) Limits() Limits { return Limits{Budget: r.Budget, MaxCalls: r.MaxCalls} }

// AncestorLimits is the rule every Ledger applies to an ancestor's account.
// recorded are the limits the ledger recorded the first time it saw a token of
// that delegation itself; known says whether it ever did. Unknown, the
// reservation's own limits apply: authority.Attenuate clamps a child's budget
// and max_calls to its parent's, so they are never above the ancestor's own
// (they may be below it, which is the safe side).
func (r Reservation) AncestorLimits(recorded Limits, known bool) Limits {
	if known {
		return recorded
	}
	return r.Limits()
}

// Account is one delegation's totals as a Ledger keeps them.
type Account struct {
	Spent, Held      authority.Decimal // settled; held by open reservations
	Calls, CallsHeld int64             // settled calls; calls held
}

// Admit reports whether one more call of amount fits lim: nil, or a
// *LedgerDenied for the delegation (max_calls is checked before budget).
// ancestor says the account is not the token's own delegation but one it was
// attenuated from.
func (a Account) Admit(delegation string, ancestor bool, lim Limits, amount authority.Decimal) error {
	if lim.MaxCalls != nil {
		if n := a.Calls + a.CallsHeld + 1; n > *lim.MaxCalls {
			return &LedgerDenied{Reason: ReasonMaxCalls, Limit: strconv.FormatInt(*lim.MaxCalls, 10),
				Value: strconv.FormatInt(n, 10), Delegation: delegation, Ancestor: ancestor}
		}
	}
	if lim.Budget != nil {
		if total := a.Spent.Add(a.Held).Add(amount); total.Cmp(*lim.Budget) > 0 {
			return &LedgerDenied{Reason: ReasonBudget, Limit: lim.Budget.String(), Value: total.String(),
				Delegation: delegation, Ancestor: ancestor}
		}
	}
	return nil
}

// CheckAncestor is the rule a Ledger applies while walking parent links: ids
// is the ancestry so far (the delegation first), and next may join it unless
// it would close a cycle or make the ancestry deeper than MaxLedgerDepth.
func CheckAncestor(ids []string, next string) error {
	if len(ids) > MaxLedgerDepth {
		return fmt.Errorf("policy: delegation %s has more than %d ancestors", ids[0], MaxLedgerDepth)
	}
	for _, id := range ids {
		if id == next {
			return fmt.Errorf("policy: delegation %s: cycle in the parent links at %s", ids[0], next)
		}
	}
	return nil
}

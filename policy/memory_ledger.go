package policy

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/openlegant/legant/authority"
)

// MemoryLedger is a Ledger held in one process's memory: the embedded default
// when there is a single gateway, and the reference for tests. Its accounts
// are lost on restart and not shared between replicas. It charges only the
// delegation named by a reservation (not its ancestors).
//
// The zero value is ready to use. Safe for concurrent use.
type MemoryLedger struct {
	mu       sync.Mutex
	accounts map[string]*account
}

// account is one delegation's totals; guarded by MemoryLedger.mu.
type account struct {
	spent, held         authority.Decimal
	calls, pendingCalls int64
}

// holdState is where a memoryHold is in its life.
type holdState int

const (
	holdOpen holdState = iota
	holdSettled
	holdReleased
)

// memoryHold is one reservation; its fields are guarded by the ledger's mu.
type memoryHold struct {
	l      *MemoryLedger
	id     string
	amount authority.Decimal
	state  holdState
}

var errInvalidReservation = errors.New("policy: reservation needs a delegation id and a non-negative amount")

var (
	_ Ledger = (*MemoryLedger)(nil)
	_ Hold   = (*memoryHold)(nil)
)

// NewMemoryLedger returns an empty ledger.
func NewMemoryLedger() *MemoryLedger { return &MemoryLedger{} }

// Reserve implements Ledger.
func (l *MemoryLedger) Reserve(ctx context.Context, r Reservation) (Hold, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.DelegationID == "" || r.Amount.Sign() < 0 {
		return nil, errInvalidReservation
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.accountLocked(r.DelegationID)
	if r.MaxCalls != nil {
		if n := a.calls + a.pendingCalls + 1; n > *r.MaxCalls {
			return nil, &LedgerDenied{Reason: ReasonMaxCalls, Limit: strconv.FormatInt(*r.MaxCalls, 10), Value: strconv.FormatInt(n, 10)}
		}
	}
	if r.Budget != nil {
		if total := a.spent.Add(a.held).Add(r.Amount); total.Cmp(*r.Budget) > 0 {
			return nil, &LedgerDenied{Reason: ReasonBudget, Limit: r.Budget.String(), Value: total.String()}
		}
	}
	a.held = a.held.Add(r.Amount)
	a.pendingCalls++
	return &memoryHold{l: l, id: r.DelegationID, amount: r.Amount}, nil
}

func (l *MemoryLedger) accountLocked(id string) *account {
	if l.accounts == nil {
		l.accounts = make(map[string]*account)
	}
	a, ok := l.accounts[id]
	if !ok {
		a = &account{}
		l.accounts[id] = a
	}
	return a
}

// Spent returns a delegation's settled spending and call count.
func (l *MemoryLedger) Spent(delegationID string) (authority.Decimal, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.accountLocked(delegationID)
	return a.spent, a.calls
}

// Settle implements Hold.
func (h *memoryHold) Settle(context.Context) error {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	if h.state != holdOpen {
		return ErrHoldClosed
	}
	h.state = holdSettled
	a := h.l.accountLocked(h.id)
	a.held = a.held.Sub(h.amount)
	a.spent = a.spent.Add(h.amount)
	a.pendingCalls--
	a.calls++
	return nil
}

// Release implements Hold.
func (h *memoryHold) Release(context.Context) error {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	if h.state != holdOpen {
		return nil
	}
	h.state = holdReleased
	a := h.l.accountLocked(h.id)
	a.held = a.held.Sub(h.amount)
	a.pendingCalls--
	return nil
}

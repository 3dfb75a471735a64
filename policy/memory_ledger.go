package policy

import (
	"context"
	"errors"
	"sync"

	"github.com/openlegant/legant/authority"
)

// MemoryLedger is a Ledger held in one process's memory: the embedded default
// when there is a single gateway, and the reference for tests. Its accounts
// are lost on restart and not shared between replicas.
//
// It charges a reservation's delegation and its ancestors: the reservation's
// ParentID, then the parents recorded from earlier reservations (a token of
// delegation B naming parent A teaches it B→A, so a later token of C naming
// parent B charges C, B and A). The first reservation of a delegation records
// its limits, which then apply to it as an ancestor (see
// Reservation.AncestorLimits).
//
// The zero value is ready to use. Safe for concurrent use: one mutex makes a
// reservation on every level of the ancestry atomic.
type MemoryLedger struct {
	mu       sync.Mutex
	accounts map[string]*account
}

// account is one delegation's totals, parent and recorded limits; guarded by
// MemoryLedger.mu.
type account struct {
	Account
	parent string // "" until a reservation names it
	known  bool   // limits were recorded from a token of this delegation
	limits Limits
}

// holdState is where a memoryHold is in its life.
type holdState int

const (
	holdOpen holdState = iota
	holdSettled
	holdReleased
)

// memoryHold is one reservation on every level of an ancestry; its fields
// are guarded by the ledger's mu.
type memoryHold struct {
	l      *MemoryLedger
	ids    []string // the delegation, then its ancestors
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
	ids, err := l.ancestryLocked(r)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		a, lim := l.accountLocked(id), r.Limits()
		if i > 0 {
			lim = r.AncestorLimits(a.limits, a.known)
		}
		if err := a.Admit(id, i > 0, lim, r.Amount); err != nil {
			return nil, err
		}
	}
	own := l.accountLocked(r.DelegationID)
	if !own.known {
		own.known, own.limits = true, copyLimits(r.Limits())
	}
	if own.parent == "" {
		own.parent = r.ParentID
	}
	for _, id := range ids {
		a := l.accountLocked(id)
		a.Held = a.Held.Add(r.Amount)
		a.CallsHeld++
	}
	return &memoryHold{l: l, ids: ids, amount: r.Amount}, nil
}

// ancestryLocked returns the reservation's delegation followed by its
// ancestors, nearest first.
func (l *MemoryLedger) ancestryLocked(r Reservation) ([]string, error) {
	ids := []string{r.DelegationID}
	next := r.ParentID
	if a, ok := l.accounts[r.DelegationID]; ok && next == "" {
		next = a.parent
	}
	for next != "" {
		if err := CheckAncestor(ids, next); err != nil {
			return nil, err
		}
		ids = append(ids, next)
		a, ok := l.accounts[next]
		if !ok {
			break
		}
		next = a.parent
	}
	return ids, nil
}

func copyLimits(lim Limits) Limits {
	if lim.Budget != nil {
		b := *lim.Budget
		lim.Budget = &b
	}
	if lim.MaxCalls != nil {
		n := *lim.MaxCalls
		lim.MaxCalls = &n
	}
	return lim
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

// Spent returns a delegation's settled spending and call count: its own
// calls and those of its descendants.
func (l *MemoryLedger) Spent(delegationID string) (authority.Decimal, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.accountLocked(delegationID)
	return a.Spent, a.Calls
}

// Settle implements Hold.
func (h *memoryHold) Settle(context.Context) error {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	if h.state != holdOpen {
		return ErrHoldClosed
	}
	h.state = holdSettled
	for _, id := range h.ids {
		a := h.l.accountLocked(id)
		a.Held = a.Held.Sub(h.amount)
		a.Spent = a.Spent.Add(h.amount)
		a.CallsHeld--
		a.Calls++
	}
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
	for _, id := range h.ids {
		a := h.l.accountLocked(id)
		a.Held = a.Held.Sub(h.amount)
		a.CallsHeld--
	}
	return nil
}

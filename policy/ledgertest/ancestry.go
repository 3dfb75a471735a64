package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
)

// reserveAll runs every reservation at once (all start together) and returns
// the holds granted and the number denied for reason r; any other outcome
// fails the test.
func reserveAll(t *testing.T, l policy.Ledger, rs []policy.Reservation, r policy.Reason) ([]policy.Hold, []policy.Reservation, int) {
	t.Helper()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		holds   []policy.Hold
		granted []policy.Reservation
		denied  int
		errs    []error
	)
	start := make(chan struct{})
	for _, res := range rs {
		wg.Go(func() {
			<-start
			h, err := l.Reserve(context.Background(), res)
			mu.Lock()
			defer mu.Unlock()
			ld, isDenied := errors.AsType[*policy.LedgerDenied](err)
			switch {
			case err == nil:
				holds, granted = append(holds, h), append(granted, res)
			case isDenied && ld.Reason == r:
				denied++
			default:
				errs = append(errs, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("unexpected Reserve errors: %v", errs)
	}
	return holds, granted, denied
}

// reserve reserves r and fails the test unless it is granted.
func reserve(t *testing.T, l policy.Ledger, r policy.Reservation) policy.Hold {
	t.Helper()
	h, err := l.Reserve(context.Background(), r)
	if err != nil {
		t.Fatalf("Reserve(%s, %s): %v", r.DelegationID, r.Amount, err)
	}
	return h
}

func settle(t *testing.T, h policy.Hold) {
	t.Helper()
	if err := h.Settle(context.Background()); err != nil {
		t.Fatalf("Settle: %v", err)
	}
}

func release(t *testing.T, h policy.Hold) {
	t.Helper()
	if err := h.Release(context.Background()); err != nil {
		t.Fatalf("Release: %v", err)
	}
}

// wantAncestorDenied fails unless reserving r is denied for reason on an
// ancestor's account, delegation.
func wantAncestorDenied(t *testing.T, l policy.Ledger, r policy.Reservation, reason policy.Reason, delegation string) *policy.LedgerDenied {
	t.Helper()
	_, err := l.Reserve(context.Background(), r)
	ld := wantDenied(t, err, reason)
	if !ld.Ancestor || ld.Delegation != delegation {
		t.Fatalf("denied on %q (ancestor %v), want on the ancestor %q: %v", ld.Delegation, ld.Ancestor, delegation, ld)
	}
	return ld
}

// testSiblingsShareParentBudget: five children of a 100 USD parent (each
// with the parent's 100, as Attenuate clamps it; the parent never presented
// itself) each try five concurrent 10.00 reservations: exactly ten are
// granted, 100 in total, and the other fifteen are refused for budget.
func testSiblingsShareParentBudget(t *testing.T, l policy.Ledger) {
	parent := id(t) + "/parent"
	var rs []policy.Reservation
	for c := range 5 {
		for range 5 {
			rs = append(rs, policy.Reservation{DelegationID: fmt.Sprintf("%s/child%d", id(t), c), ParentID: parent,
				Amount: authority.MustDecimal("10.00"), Budget: dec("100")})
		}
	}
	holds, granted, denied := reserveAll(t, l, rs, policy.ReasonBudget)
	total := authority.Decimal{}
	for _, r := range granted {
		total = total.Add(r.Amount)
	}
	if len(holds) != 10 || denied != 15 || total.String() != "100" {
		t.Fatalf("granted %d (total %s), denied %d; want 10 granted (100), 15 denied", len(holds), total, denied)
	}
	for _, h := range holds {
		settle(t, h)
	}
	for c := range 5 { // every child is refused, whatever it spent itself
		wantAncestorDenied(t, l, policy.Reservation{DelegationID: fmt.Sprintf("%s/child%d", id(t), c), ParentID: parent,
			Amount: authority.MustDecimal("0.01"), Budget: dec("100")}, policy.ReasonBudget, parent)
	}
	// A sixth child, new to the ledger, is refused too.
	ld := wantAncestorDenied(t, l, policy.Reservation{DelegationID: id(t) + "/child5", ParentID: parent,
		Amount: authority.MustDecimal("1"), Budget: dec("100")}, policy.ReasonBudget, parent)
	if ld.Limit != "100" || ld.Value != "101" {
		t.Errorf("limit/value = %s/%s, want 100/101", ld.Limit, ld.Value)
	}
}

// testAncestorLimits: an ancestor's limits are those recorded from its own
// token once the ledger has seen one; before that, the child token's.
func testAncestorLimits(t *testing.T, l policy.Ledger) {
	t.Run("unknown parent: the child's limits", func(t *testing.T) {
		parent := id(t) + "/parent"
		a := policy.Reservation{DelegationID: id(t) + "/a", ParentID: parent, Amount: authority.MustDecimal("60"), Budget: dec("60")}
		settle(t, reserve(t, l, a))
		// b's own 60 is untouched, but the parent's account already holds 60.
		b := policy.Reservation{DelegationID: id(t) + "/b", ParentID: parent, Amount: authority.MustDecimal("1"), Budget: dec("60")}
		wantAncestorDenied(t, l, b, policy.ReasonBudget, parent)
	})
	t.Run("recorded parent: its own limits", func(t *testing.T) {
		parent := id(t) + "/parent"
		// The parent's own token (budget 100) reserves once: its limit is recorded.
		release(t, reserve(t, l, policy.Reservation{DelegationID: parent, Budget: dec("100")}))
		a := policy.Reservation{DelegationID: id(t) + "/a", ParentID: parent, Amount: authority.MustDecimal("60"), Budget: dec("60")}
		settle(t, reserve(t, l, a))
		b := policy.Reservation{DelegationID: id(t) + "/b", ParentID: parent, Amount: authority.MustDecimal("40"), Budget: dec("60")}
		settle(t, reserve(t, l, b))
		b.Amount = authority.MustDecimal("0.01")
		ld := wantAncestorDenied(t, l, b, policy.ReasonBudget, parent)
		if ld.Limit != "100" || ld.Value != "100.01" {
			t.Errorf("limit/value = %s/%s, want 100/100.01", ld.Limit, ld.Value)
		}
		// The child's own limit is still the child's: a's 60 is spent.
		_, err := l.Reserve(context.Background(), a)
		if ld := wantDenied(t, err, policy.ReasonBudget); ld.Ancestor || ld.Limit != "60" {
			t.Errorf("a over its own budget: %+v", ld)
		}
	})
}

// testGrandchild: a grandchild's call is charged on three levels. The
// ledger learns the chain from the tokens it sees: B's names A as its parent,
// C's names B.
func testGrandchild(t *testing.T, l policy.Ledger) {
	a, b, c := id(t)+"/a", id(t)+"/b", id(t)+"/c"
	settle(t, reserve(t, l, policy.Reservation{DelegationID: a, Amount: authority.MustDecimal("30"), Budget: dec("100"), MaxCalls: calls(10)}))
	settle(t, reserve(t, l, policy.Reservation{DelegationID: b, ParentID: a, Amount: authority.MustDecimal("20"), Budget: dec("80"), MaxCalls: calls(10)}))
	// A: 50 of 100; B: 20 of 80. C (budget 80) asks 51: fits C and B, not A.
	rc := policy.Reservation{DelegationID: c, ParentID: b, Amount: authority.MustDecimal("51"), Budget: dec("80"), MaxCalls: calls(10)}
	ld := wantAncestorDenied(t, l, rc, policy.ReasonBudget, a)
	if ld.Limit != "100" || ld.Value != "101" {
		t.Errorf("limit/value = %s/%s, want 100/101", ld.Limit, ld.Value)
	}
	rc.Amount = authority.MustDecimal("50")
	h := reserve(t, l, rc) // held on C, B and A
	// Held on B: B's own 10.01 would reach 80.01.
	wantDenied(t, errOf(l, policy.Reservation{DelegationID: b, ParentID: a, Amount: authority.MustDecimal("10.01"), Budget: dec("80")}), policy.ReasonBudget)
	// Held on A: A's own 0.01 would reach 100.01.
	wantDenied(t, errOf(l, policy.Reservation{DelegationID: a, Amount: authority.MustDecimal("0.01"), Budget: dec("100")}), policy.ReasonBudget)
	release(t, h)
	// Released on every level: A can spend its last 50 itself.
	h = reserve(t, l, policy.Reservation{DelegationID: a, Amount: authority.MustDecimal("50"), Budget: dec("100")})
	release(t, h)
	settle(t, reserve(t, l, rc))
	// Settled on every level: A 100 of 100, B 70 of 80, C 50 of 80.
	wantAncestorDenied(t, l, policy.Reservation{DelegationID: b, ParentID: a, Amount: authority.MustDecimal("0.01"), Budget: dec("80")}, policy.ReasonBudget, a)
	rc.Amount = authority.MustDecimal("10")
	wantAncestorDenied(t, l, rc, policy.ReasonBudget, a)
}

func errOf(l policy.Ledger, r policy.Reservation) error {
	h, err := l.Reserve(context.Background(), r)
	if err == nil {
		h.Release(context.Background())
	}
	return err
}

// testHoldOnEveryLevel: a child's hold counts on its parent until it is
// released (freed on both) or settled (spent on both); a Release after a
// Settle refunds neither.
func testHoldOnEveryLevel(t *testing.T, l policy.Ledger) {
	parent, child := id(t)+"/parent", id(t)+"/child"
	own := policy.Reservation{DelegationID: parent, Amount: authority.MustDecimal("1"), Budget: dec("100")}
	release(t, reserve(t, l, own)) // records the parent's budget, 100
	rc := policy.Reservation{DelegationID: child, ParentID: parent, Amount: authority.MustDecimal("100"), Budget: dec("100")}
	h := reserve(t, l, rc)
	wantDenied(t, errOf(l, own), policy.ReasonBudget) // the parent's 100 is held
	release(t, h)
	release(t, reserve(t, l, policy.Reservation{DelegationID: parent, Amount: authority.MustDecimal("100"), Budget: dec("100")}))
	h = reserve(t, l, rc)
	settle(t, h)
	release(t, h) // a no-op: nothing is refunded
	if err := h.Settle(context.Background()); !errors.Is(err, policy.ErrHoldClosed) {
		t.Fatalf("second Settle = %v, want ErrHoldClosed", err)
	}
	wantDenied(t, errOf(l, own), policy.ReasonBudget)
	rc.Amount = authority.MustDecimal("0.01")
	wantDenied(t, errOf(l, rc), policy.ReasonBudget)
}

// testMaxCallsAcrossChildren: three children of a parent with max_calls 3
// (each child's clamped to 3) try four calls each at once: exactly three are
// held in total; a release frees one call on the parent too.
func testMaxCallsAcrossChildren(t *testing.T, l policy.Ledger) {
	parent := id(t) + "/parent"
	child := func(c int) policy.Reservation {
		return policy.Reservation{DelegationID: fmt.Sprintf("%s/child%d", id(t), c), ParentID: parent, MaxCalls: calls(3)}
	}
	var rs []policy.Reservation
	for c := range 3 {
		for range 4 {
			rs = append(rs, child(c))
		}
	}
	holds, _, denied := reserveAll(t, l, rs, policy.ReasonMaxCalls)
	if len(holds) != 3 || denied != 9 {
		t.Fatalf("granted %d, denied %d; want 3 and 9", len(holds), denied)
	}
	ld := wantAncestorDenied(t, l, child(3), policy.ReasonMaxCalls, parent)
	if ld.Limit != "3" || ld.Value != "4" {
		t.Errorf("limit/value = %s/%s, want 3/4", ld.Limit, ld.Value)
	}
	release(t, holds[0])
	settle(t, holds[1])
	settle(t, holds[2])
	settle(t, reserve(t, l, child(3))) // the released call is free on the parent
	wantAncestorDenied(t, l, child(0), policy.ReasonMaxCalls, parent)
}

// testAncestryBounds: a cycle in the parent links, or an ancestry deeper than
// policy.MaxLedgerDepth, is an error (the caller fails closed), never a hold
// and never a LedgerDenied.
func testAncestryBounds(t *testing.T, l policy.Ledger) {
	ctx := context.Background()
	wantError := func(r policy.Reservation) {
		t.Helper()
		h, err := l.Reserve(ctx, r)
		if err == nil || h != nil {
			t.Fatalf("Reserve(%s) = %v, %v; want an error", r.DelegationID, h, err)
		}
		if _, denied := errors.AsType[*policy.LedgerDenied](err); denied {
			t.Fatalf("Reserve(%s): %v is a LedgerDenied, want an error", r.DelegationID, err)
		}
	}
	a, b := id(t)+"/a", id(t)+"/b"
	release(t, reserve(t, l, policy.Reservation{DelegationID: a, ParentID: b, MaxCalls: calls(5)})) // records a→b
	wantError(policy.Reservation{DelegationID: b, ParentID: a, MaxCalls: calls(5)})                 // b→a→b

	d := func(i int) string { return fmt.Sprintf("%s/d%d", id(t), i) }
	for i := 1; i <= policy.MaxLedgerDepth; i++ { // d1..d32, each naming the one before
		release(t, reserve(t, l, policy.Reservation{DelegationID: d(i), ParentID: d(i - 1), MaxCalls: calls(5)}))
	}
	wantError(policy.Reservation{DelegationID: d(policy.MaxLedgerDepth + 1), ParentID: d(policy.MaxLedgerDepth), MaxCalls: calls(5)})
}

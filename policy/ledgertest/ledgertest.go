// Package ledgertest is the conformance suite for policy.Ledger
// implementations: the in-memory ledger and the store's SQLite and PostgreSQL
// ledgers all run it.
//
//	func TestLedger(t *testing.T) {
//		ledgertest.Run(t, func(t *testing.T) policy.Ledger { return newStoreLedger(t) })
//	}
//
// It imports only testing, policy and authority.
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

// Run runs every test of the suite. newLedger returns a fresh, empty ledger
// for each subtest (or one where delegation ids it has never seen are empty:
// each subtest uses its own id).
func Run(t *testing.T, newLedger func(t *testing.T) policy.Ledger) {
	t.Run("ConcurrentBudget", func(t *testing.T) { testConcurrentBudget(t, newLedger(t)) })
	t.Run("ReleaseFrees", func(t *testing.T) { testReleaseFrees(t, newLedger(t)) })
	t.Run("MaxCalls", func(t *testing.T) { testMaxCalls(t, newLedger(t)) })
	t.Run("HoldLifecycle", func(t *testing.T) { testHoldLifecycle(t, newLedger(t)) })
	t.Run("Isolation", func(t *testing.T) { testIsolation(t, newLedger(t)) })
	t.Run("Invalid", func(t *testing.T) { testInvalid(t, newLedger(t)) })
	t.Run("SiblingsShareParentBudget", func(t *testing.T) { testSiblingsShareParentBudget(t, newLedger(t)) })
	t.Run("AncestorLimits", func(t *testing.T) { testAncestorLimits(t, newLedger(t)) })
	t.Run("Grandchild", func(t *testing.T) { testGrandchild(t, newLedger(t)) })
	t.Run("HoldOnEveryLevel", func(t *testing.T) { testHoldOnEveryLevel(t, newLedger(t)) })
	t.Run("MaxCallsAcrossChildren", func(t *testing.T) { testMaxCallsAcrossChildren(t, newLedger(t)) })
	t.Run("AncestryBounds", func(t *testing.T) { testAncestryBounds(t, newLedger(t)) })
}

func dec(s string) *authority.Decimal {
	d := authority.MustDecimal(s)
	return &d
}

func calls(n int64) *int64 { return &n }

// id returns a delegation id unique to the running subtest.
func id(t *testing.T) string { return "ledgertest:" + t.Name() }

// wantDenied fails unless err is a *policy.LedgerDenied with reason r.
func wantDenied(t *testing.T, err error, r policy.Reason) *policy.LedgerDenied {
	t.Helper()
	ld, ok := errors.AsType[*policy.LedgerDenied](err)
	if !ok {
		t.Fatalf("Reserve error = %v, want *policy.LedgerDenied(%s)", err, r)
	}
	if ld.Reason != r {
		t.Fatalf("LedgerDenied.Reason = %q, want %q", ld.Reason, r)
	}
	return ld
}

// testConcurrentBudget: 50 goroutines reserve 30.00 against a budget of 1000:
// exactly 33 holds are granted; once settled, a further reserve is denied.
func testConcurrentBudget(t *testing.T, l policy.Ledger) {
	ctx := context.Background()
	r := policy.Reservation{DelegationID: id(t), Amount: authority.MustDecimal("30.00"), Budget: dec("1000")}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		holds  []policy.Hold
		denied int
		errs   []error
	)
	for range 50 {
		wg.Go(func() {
			h, err := l.Reserve(ctx, r)
			mu.Lock()
			defer mu.Unlock()
			var ld *policy.LedgerDenied
			switch {
			case err == nil:
				holds = append(holds, h)
			case errors.As(err, &ld) && ld.Reason == policy.ReasonBudget:
				denied++
			default:
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("unexpected Reserve errors: %v", errs)
	}
	if len(holds) != 33 || denied != 17 {
		t.Fatalf("granted %d, denied %d; want 33 granted, 17 denied", len(holds), denied)
	}
	for _, h := range holds {
		if err := h.Settle(ctx); err != nil {
			t.Fatalf("Settle: %v", err)
		}
	}
	_, err := l.Reserve(ctx, r)
	ld := wantDenied(t, err, policy.ReasonBudget)
	if ld.Limit != "1000" || ld.Value != "1020" {
		t.Errorf("LedgerDenied limit/value = %s/%s, want 1000/1020", ld.Limit, ld.Value)
	}
	// What remains (10) can still be spent exactly.
	h, err := l.Reserve(ctx, policy.Reservation{DelegationID: r.DelegationID, Amount: authority.MustDecimal("10"), Budget: r.Budget})
	if err != nil {
		t.Fatalf("Reserve of the last 10: %v", err)
	}
	if err := h.Settle(ctx); err != nil {
		t.Fatal(err)
	}
}

// testReleaseFrees: a released hold frees its amount for the next call.
func testReleaseFrees(t *testing.T, l policy.Ledger) {
	ctx := context.Background()
	r := policy.Reservation{DelegationID: id(t), Amount: authority.MustDecimal("100"), Budget: dec("100")}
	h, err := l.Reserve(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Reserve(ctx, r)
	wantDenied(t, err, policy.ReasonBudget) // the last $100 is held
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	h2, err := l.Reserve(ctx, r)
	if err != nil {
		t.Fatalf("Reserve after Release: %v", err)
	}
	if err := h2.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = l.Reserve(ctx, policy.Reservation{DelegationID: r.DelegationID, Amount: authority.MustDecimal("0.01"), Budget: r.Budget})
	wantDenied(t, err, policy.ReasonBudget)
}

// testMaxCalls: held and settled calls count; released ones do not.
func testMaxCalls(t *testing.T, l policy.Ledger) {
	ctx := context.Background()
	r := policy.Reservation{DelegationID: id(t), MaxCalls: calls(2)}
	h1, err := l.Reserve(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := l.Reserve(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Reserve(ctx, r)
	ld := wantDenied(t, err, policy.ReasonMaxCalls)
	if ld.Limit != "2" || ld.Value != "3" {
		t.Errorf("LedgerDenied limit/value = %s/%s, want 2/3", ld.Limit, ld.Value)
	}
	if err := h1.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	h3, err := l.Reserve(ctx, r)
	if err != nil {
		t.Fatalf("Reserve after a release: %v", err)
	}
	if err := h3.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = l.Reserve(ctx, r)
	wantDenied(t, err, policy.ReasonMaxCalls)
}

// testHoldLifecycle: the first of Settle/Release wins; a later Release is a
// no-op; a later Settle is ErrHoldClosed.
func testHoldLifecycle(t *testing.T, l policy.Ledger) {
	ctx := context.Background()
	r := policy.Reservation{DelegationID: id(t), Amount: authority.MustDecimal("60"), Budget: dec("100")}
	h, err := l.Reserve(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatalf("Release after Settle = %v, want nil (no-op)", err)
	}
	if err := h.Settle(ctx); !errors.Is(err, policy.ErrHoldClosed) {
		t.Fatalf("second Settle = %v, want ErrHoldClosed", err)
	}
	// The Release after Settle must not have refunded the 60.
	_, err = l.Reserve(ctx, r)
	wantDenied(t, err, policy.ReasonBudget)

	h2, err := l.Reserve(ctx, policy.Reservation{DelegationID: r.DelegationID, Amount: authority.MustDecimal("40"), Budget: r.Budget})
	if err != nil {
		t.Fatal(err)
	}
	if err := h2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h2.Settle(ctx); !errors.Is(err, policy.ErrHoldClosed) {
		t.Fatalf("Settle after Release = %v, want ErrHoldClosed", err)
	}
	if err := h2.Release(ctx); err != nil {
		t.Fatalf("second Release = %v, want nil", err)
	}
}

// testIsolation: accounts of different delegations do not mix, and a
// reservation without limits always succeeds.
func testIsolation(t *testing.T, l policy.Ledger) {
	ctx := context.Background()
	for i := range 2 {
		r := policy.Reservation{DelegationID: fmt.Sprintf("%s/%d", id(t), i), Amount: authority.MustDecimal("10"), Budget: dec("10")}
		h, err := l.Reserve(ctx, r)
		if err != nil {
			t.Fatalf("delegation %d: %v", i, err)
		}
		if err := h.Settle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	h, err := l.Reserve(ctx, policy.Reservation{DelegationID: id(t) + "/0", Amount: authority.MustDecimal("1000")})
	if err != nil {
		t.Fatalf("Reserve without limits: %v", err)
	}
	if err := h.Settle(ctx); err != nil {
		t.Fatal(err)
	}
}

// testInvalid: a reservation without a delegation id, or with a negative
// amount (a refund in disguise), is an error and never a hold.
func testInvalid(t *testing.T, l policy.Ledger) {
	ctx := context.Background()
	for _, r := range []policy.Reservation{
		{DelegationID: "", Amount: authority.MustDecimal("1"), Budget: dec("10")},
		{DelegationID: id(t), Amount: authority.MustDecimal("-5"), Budget: dec("10")},
	} {
		h, err := l.Reserve(ctx, r)
		if err == nil || h != nil {
			t.Errorf("Reserve(%+v) = %v, %v; want an error", r, h, err)
		}
		if _, denied := errors.AsType[*policy.LedgerDenied](err); denied {
			t.Errorf("Reserve(%+v): %v is a LedgerDenied, want an invalid-reservation error", r, err)
		}
	}
}

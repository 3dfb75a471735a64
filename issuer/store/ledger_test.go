package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/policy/ledgertest"
)

// TestLedger runs policy's conformance suite (which includes 50 concurrent
// Reserve(30.00) on a budget of 1000: exactly 33 granted) on both backends.
func TestLedger(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st := storetest.Open(t, b.Options(t))
		ledgertest.Run(t, func(t *testing.T) policy.Ledger { return st })
	})
}

// fakeClock is a settable clock (the one thing tests cannot run for real).
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestLedgerExpiredHolds(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		clock := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
		opts := b.Options(t)
		opts.Now, opts.HoldTTL = clock.now, time.Minute
		st := storetest.Open(t, opts)
		budget := authority.MustDecimal("100")
		r := policy.Reservation{DelegationID: "d1", Amount: authority.MustDecimal("70.5"), Budget: &budget}

		stale, err := st.Reserve(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Reserve(ctx, r); !isDenied(err, policy.ReasonBudget) {
			t.Fatalf("second Reserve while held = %v, want budget denial", err)
		}
		clock.t = clock.t.Add(time.Minute) // the first hold's gateway died
		fresh, err := st.Reserve(ctx, r)
		if err != nil {
			t.Fatalf("Reserve after the hold expired: %v", err)
		}
		if err := fresh.Settle(ctx); err != nil {
			t.Fatal(err)
		}
		// The stale call did complete after all: its spending is recorded.
		if err := stale.Settle(ctx); err != nil {
			t.Fatalf("Settle of an expired hold: %v", err)
		}
		spent, calls, err := st.Spent(ctx, "d1")
		if err != nil {
			t.Fatal(err)
		}
		if spent.String() != "141" || calls != 2 {
			t.Errorf("Spent = %s, %d calls; want 141, 2", spent, calls)
		}
		if err := stale.Release(ctx); err != nil {
			t.Errorf("Release after Settle = %v, want nil", err)
		}
	})
}

func isDenied(err error, r policy.Reason) bool {
	ld, ok := errors.AsType[*policy.LedgerDenied](err)
	return ok && ld.Reason == r
}

func TestLedgerExactDecimals(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		budget := authority.MustDecimal("0.3")
		for range 3 { // 0.1 + 0.1 + 0.1 == 0.3 exactly, never 0.30000000000000004
			h, err := st.Reserve(ctx, policy.Reservation{DelegationID: "d", Amount: authority.MustDecimal("0.1"), Budget: &budget})
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Settle(ctx); err != nil {
				t.Fatal(err)
			}
		}
		_, err := st.Reserve(ctx, policy.Reservation{DelegationID: "d", Amount: authority.MustDecimal("0.0000000001"), Budget: &budget})
		if !isDenied(err, policy.ReasonBudget) {
			t.Fatalf("Reserve over an exactly spent budget = %v, want denial", err)
		}
		spent, _, _ := st.Spent(ctx, "d")
		if spent.String() != "0.3" {
			t.Errorf("spent = %s, want 0.3", spent)
		}
	})
}

var _ policy.Ledger = (*store.Store)(nil)

package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
	"github.com/openlegant/legant/policy"
)

// TestLedgerAncestryFromDelegations: the store walks the parents it stores in
// its delegations table, so a grandchild's first call is charged on its
// grandparent though no token of the middle delegation was ever presented.
func TestLedgerAncestryFromDelegations(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := openWithDelegations(t, b, []store.Delegation{{ID: "root"}, {ID: "mid", ParentID: "root"}, {ID: "leaf", ParentID: "mid"}})
		budget := authority.MustDecimal("100")
		// The root's own token spends 70 (and so records its budget, 100).
		spend(t, st, policy.Reservation{DelegationID: "root", Amount: authority.MustDecimal("70"), Budget: &budget})
		leaf := policy.Reservation{DelegationID: "leaf", ParentID: "mid", Amount: authority.MustDecimal("31"), Budget: &budget}
		_, err := st.Reserve(ctx, leaf)
		ld, ok := errors.AsType[*policy.LedgerDenied](err)
		if !ok || ld.Reason != policy.ReasonBudget || ld.Delegation != "root" || !ld.Ancestor || ld.Value != "101" {
			t.Fatalf("leaf's 31 = %v (%+v), want a budget denial on root at 101", err, ld)
		}
		leaf.Amount = authority.MustDecimal("30")
		spend(t, st, leaf)
		for id, want := range map[string]string{"root": "100", "mid": "30", "leaf": "30"} {
			spent, calls, err := st.Spent(ctx, id)
			if err != nil || spent.String() != want || calls == 0 {
				t.Errorf("Spent(%s) = %s, %d, %v; want %s", id, spent, calls, err, want)
			}
		}
	})
}

// TestLedgerAncestryConcurrentTree: reservations of every depth of one stored
// tree (root, two children, four grandchildren) at once take their row locks
// root first, so none deadlocks (PostgreSQL would abort one with 40P01) and
// the root's budget is spent exactly.
func TestLedgerAncestryConcurrentTree(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		budget := authority.MustDecimal("100")
		parents := map[string]string{"root": "", "c0": "root", "c1": "root", "g00": "c0", "g01": "c0", "g10": "c1", "g11": "c1"}
		for _, id := range []string{"root", "c0", "c1", "g00", "g01", "g10", "g11"} {
			if err := st.CreateDelegation(ctx, store.Delegation{ID: id, ParentID: parents[id]}); err != nil {
				t.Fatal(err)
			}
		}
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			holds   []policy.Hold
			denied  int
			errs    []error
			started = make(chan struct{})
		)
		for i := range 70 {
			ids := []string{"root", "c0", "c1", "g00", "g01", "g10", "g11"}
			id := ids[i%len(ids)]
			wg.Go(func() {
				<-started
				h, err := st.Reserve(ctx, policy.Reservation{DelegationID: id, ParentID: parents[id], Amount: authority.MustDecimal("5"), Budget: &budget})
				mu.Lock()
				defer mu.Unlock()
				if ld, ok := errors.AsType[*policy.LedgerDenied](err); ok && ld.Reason == policy.ReasonBudget {
					denied++
				} else if err != nil {
					errs = append(errs, err)
				} else {
					holds = append(holds, h)
				}
			})
		}
		close(started)
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("Reserve errors (deadlock?): %v", errs)
		}
		for _, h := range holds {
			if err := h.Settle(ctx); err != nil {
				t.Fatal(err)
			}
		}
		spent, _, err := st.Spent(ctx, "root")
		if err != nil {
			t.Fatal(err)
		}
		if spent.String() != "100" || len(holds) != 20 || denied != 50 {
			t.Fatalf("root spent %s; granted %d, denied %d; want 100, 20 granted, 50 denied", spent, len(holds), denied)
		}
	})
}

// TestLedgerAncestorHoldsExpire: each level of a hold expires with its own
// account, and a late Settle still spends on every level.
func TestLedgerAncestorHoldsExpire(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, clock, budget := expiringLedger(t, b)
		child := func(n int) policy.Reservation {
			return policy.Reservation{DelegationID: fmt.Sprintf("child%d", n), ParentID: "parent", Amount: authority.MustDecimal("80"), Budget: &budget}
		}
		stale, err := st.Reserve(ctx, child(0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Reserve(ctx, child(1)); !isDenied(err, policy.ReasonBudget) {
			t.Fatalf("sibling while the parent's 80 is held = %v, want budget", err)
		}
		clock.t = clock.t.Add(time.Minute) // child0's gateway died
		fresh, err := st.Reserve(ctx, child(1))
		if err != nil {
			t.Fatalf("sibling after the hold expired on the parent: %v", err)
		}
		if err := fresh.Settle(ctx); err != nil {
			t.Fatal(err)
		}
		if err := stale.Settle(ctx); err != nil { // the call did complete after all
			t.Fatal(err)
		}
		for id, want := range map[string]string{"parent": "160", "child0": "80", "child1": "80"} {
			if spent, _, _ := st.Spent(ctx, id); spent.String() != want {
				t.Errorf("Spent(%s) = %s, want %s", id, spent, want)
			}
		}
	})
}

// TestLedgerParentReadWithAccount: a reservation whose token names no
// parent finds the delegation's parent in the delegations table with its
// own account's row — no lookup of its own — and charges it: a child's
// spending reaches its stored parent's budget. Only the parent's own parent
// is looked up (once per transaction).
func TestLedgerParentReadWithAccount(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := openWithDelegations(t, b, []store.Delegation{{ID: "p"}, {ID: "c", ParentID: "p"}})
		budget := authority.MustDecimal("10")
		spend(t, st, policy.Reservation{DelegationID: "p", Amount: authority.MustDecimal("6"), Budget: &budget})
		if n := st.ParentQueries(); n != 0 {
			t.Errorf("a root's reservation and settlement ran %d parent lookups, want 0", n)
		}
		child := policy.Reservation{DelegationID: "c", Amount: authority.MustDecimal("5"), Budget: &budget} // no ParentID
		if _, err := st.Reserve(ctx, child); !isDenied(err, policy.ReasonBudget) {
			t.Fatalf("child's 5 with its stored parent at 6 of 10 = %v, want a budget denial", err)
		}
		if n := st.ParentQueries(); n != 1 {
			t.Errorf("the child's reservation ran %d parent lookups, want 1 (its parent's parent)", n)
		}
		child.Amount = authority.MustDecimal("4")
		spend(t, st, child)
		if spent, _, err := st.Spent(ctx, "p"); err != nil || spent.String() != "10" {
			t.Errorf("Spent(p) = %s, %v; want 10", spent, err)
		}
	})
}

// TestLedgerHoldRowsOfAGroup: reservations made together (one group
// transaction; on PostgreSQL their hold rows go in one statement with an
// account's write-back) each leave a held row per level, with its amount,
// and their settlements find them.
func TestLedgerHoldRowsOfAGroup(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := openWithDelegations(t, b, []store.Delegation{{ID: "p"}, {ID: "c", ParentID: "p"}})
		budget := authority.MustDecimal("1000")
		holds := make([]policy.Hold, 24)
		var wg sync.WaitGroup
		for i := range holds {
			wg.Go(func() {
				d := []string{"p", "c"}[i%2]
				h, err := st.Reserve(ctx, policy.Reservation{DelegationID: d, Amount: authority.MustDecimal(fmt.Sprintf("%d.5", i)), Budget: &budget})
				if err != nil {
					t.Error(err)
					return
				}
				holds[i] = h
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		// 12 on p, 12 on c and 12 more on p as c's ancestor: 36 rows;
		// amounts i + 0.5 for i in 0..23 (288), c's (150) twice.
		var rows int
		var sum string
		if err := st.DB().QueryRow(`SELECT COUNT(*), CAST(SUM(amount) AS TEXT) FROM ledger_holds WHERE state = 'held'`).Scan(&rows, &sum); err != nil {
			t.Fatal(err)
		}
		if want, _ := authority.ParseDecimal("438"); rows != 36 || !decimalEqual(sum, want) {
			t.Fatalf("held rows: %d, amounts %s; want 36 rows, 438", rows, sum)
		}
		for _, h := range holds {
			if err := h.Settle(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if spent, calls, err := st.Spent(ctx, "p"); err != nil || spent.String() != "288" || calls != 24 {
			t.Errorf("Spent(p) = %s, %d, %v; want 288 in 24 calls", spent, calls, err)
		}
	})
}

// decimalEqual compares a decimal read as text (PostgreSQL's NUMERIC keeps
// trailing zeros) with want.
func decimalEqual(s string, want authority.Decimal) bool {
	d, err := authority.ParseDecimal(s)
	return err == nil && d.Cmp(want) == 0
}

// spend reserves r and settles it, failing the test on any error.
func spend(t *testing.T, st *store.Store, r policy.Reservation) {
	t.Helper()
	h, err := st.Reserve(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Settle(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// openWithDelegations opens a fresh store of backend b holding ds (a tree
// of stored delegations: the ledger finds parents there).
func openWithDelegations(t *testing.T, b storetest.Backend, ds []store.Delegation) *store.Store {
	t.Helper()
	st := storetest.Open(t, b.Options(t))
	for _, d := range ds {
		if err := st.CreateDelegation(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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

// expiringLedger opens a store whose holds expire after a minute of clock
// (returned to move), with a budget of 100.
func expiringLedger(t *testing.T, b storetest.Backend) (*store.Store, *fakeClock, authority.Decimal) {
	clock := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	opts := b.Options(t)
	opts.Now, opts.HoldTTL = clock.now, time.Minute
	return storetest.Open(t, opts), clock, authority.MustDecimal("100")
}

func TestLedgerExpiredHolds(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, clock, budget := expiringLedger(t, b)
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

// TestLedgerDeniedAfterExpiry: a reservation refused after it freed an
// expired hold keeps the freeing — the hold expired and the account no
// longer counts it — so the next reservation that fits is granted. (A
// refusal is its own outcome in a group's transaction, which commits what
// the refused reservation wrote.)
func TestLedgerDeniedAfterExpiry(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, clock, budget := expiringLedger(t, b)
		reserve := func(amount string) (policy.Hold, error) {
			return st.Reserve(ctx, policy.Reservation{DelegationID: "d1", Amount: authority.MustDecimal(amount), Budget: &budget})
		}
		if _, err := reserve("70"); err != nil {
			t.Fatal(err)
		}
		clock.t = clock.t.Add(2 * time.Minute) // the hold's gateway died
		if _, err := reserve("150"); !isDenied(err, policy.ReasonBudget) {
			t.Fatalf("Reserve over the budget = %v, want budget denial", err)
		}
		// Whether the refusal's freeing was kept (SQLite) or rolled back with
		// it (PostgreSQL), the account counts exactly the holds still held.
		var held, rows string
		var callsHeld, n int64
		if err := st.DB().QueryRow(`SELECT CAST(held AS TEXT), calls_held FROM ledger WHERE delegation_id = 'd1'`).Scan(&held, &callsHeld); err != nil {
			t.Fatal(err)
		}
		if err := st.DB().QueryRow(`SELECT CAST(COALESCE(SUM(amount), 0) AS TEXT), COUNT(*) FROM ledger_holds
			WHERE delegation_id = 'd1' AND state = 'held'`).Scan(&rows, &n); err != nil {
			t.Fatal(err)
		}
		if authority.MustDecimal(held).Cmp(authority.MustDecimal(rows)) != 0 || callsHeld != n {
			t.Fatalf("account: held %s in %d calls; holds held: %s in %d", held, callsHeld, rows, n)
		}
		h, err := reserve("90")
		if err != nil {
			t.Fatalf("Reserve that fits once the expired hold is freed: %v", err)
		}
		if err := h.Settle(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLedgerGroupsOnSQLite: concurrent budgeted calls (Reserve, then Settle)
// share the group writer's transactions on SQLite, and the budget still
// holds exactly: 64 callers each reserving 30 of 1,000 on one delegation,
// 33 granted, and what they settled is what the ledger spent.
func TestLedgerGroupsOnSQLite(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, store.Options{KeyEncryptionSecret: storetest.Secret, Issuer: storetest.Issuer, DataDir: t.TempDir()})
	budget := authority.MustDecimal("1000")
	before, writesBefore := st.WriteGroups(), st.LedgerAccountWrites()
	const n = 64
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if spend30(t, st, "d", &budget) {
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	spent, calls, err := st.Spent(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	if granted.Load() != 33 || calls != 33 || spent.String() != "990" {
		t.Fatalf("granted %d; ledger: %s spent in %d calls; want 33, 990 in 33", granted.Load(), spent, calls)
	}
	ops := int64(n + 33) // every Reserve, and a Settle per granted one
	g := st.WriteGroups() - before
	if g >= ops {
		t.Fatalf("%d ledger writes took %d transactions: none shared", ops, g)
	}
	// Each transaction reads the one account once and writes it back once,
	// whatever number of writes it carries (denied ones write nothing).
	if w := st.LedgerAccountWrites() - writesBefore; w > g {
		t.Fatalf("%d ledger writes in %d transactions wrote the account %d times; want at most once per transaction", ops, g, w)
	} else {
		t.Logf("%d ledger writes in %d transactions, %d account writes", ops, g, w)
	}
}

// spend30 reserves 30 on delegation id within budget and settles it: true
// when granted and settled, false when refused for the budget; any other
// error fails the test.
func spend30(t *testing.T, st *store.Store, id string, budget *authority.Decimal) bool {
	ctx := context.Background()
	h, err := st.Reserve(ctx, policy.Reservation{DelegationID: id, Amount: authority.MustDecimal("30"), Budget: budget})
	if isDenied(err, policy.ReasonBudget) {
		return false
	}
	if err == nil {
		err = h.Settle(ctx)
	}
	if err != nil {
		t.Error(err)
		return false
	}
	return true
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

// TestLedgerGroupsAcrossReplicas: two replicas on one PostgreSQL database,
// 16 callers each, reserving and settling on two delegations in both
// orders, so that their group transactions would lock the two ledger rows
// in opposite orders: no group fails (the ledger's advisory lock orders
// them; a deadlock would fail one, written again op by op), and the budgets
// hold exactly.
func TestLedgerGroupsAcrossReplicas(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		if !b.Postgres() {
			continue
		}
		ctx := context.Background()
		opts := b.Options(t)
		replicas := []*store.Store{storetest.Open(t, opts), storetest.Open(t, opts)}
		budget := authority.MustDecimal("1000")
		var granted [2]atomic.Int64
		var wg sync.WaitGroup
		for r, st := range replicas {
			for c := range 16 {
				wg.Go(func() {
					for i := range 12 {
						d := (r + c + i) % 2 // both delegations, in both orders, on both replicas
						if spend30(t, st, []string{"a", "b"}[d], &budget) {
							granted[d].Add(1)
						}
					}
				})
			}
		}
		wg.Wait()
		for d, id := range []string{"a", "b"} {
			spent, calls, err := replicas[0].Spent(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if granted[d].Load() != 33 || calls != 33 || spent.String() != "990" {
				t.Errorf("%s: granted %d; ledger: %s spent in %d calls; want 33, 990 in 33", id, granted[d].Load(), spent, calls)
			}
		}
		for r, st := range replicas {
			if n := st.GroupsRetried(); n != 0 {
				t.Errorf("replica %d: %d group transactions failed and were written again op by op", r, n)
			}
		}
	}
}

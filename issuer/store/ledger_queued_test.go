package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
	"github.com/openlegant/legant/policy"
)

// queuedHold reserves amount on d1 (budget 10) and returns the hold as a
// policy.QueuedHold.
func queuedHold(t *testing.T, st *store.Store, amount string) policy.QueuedHold {
	t.Helper()
	budget := authority.MustDecimal("10")
	h, err := st.Reserve(context.Background(), policy.Reservation{DelegationID: "d1", Amount: authority.MustDecimal(amount), Budget: &budget})
	if err != nil {
		t.Fatalf("Reserve(%s): %v", amount, err)
	}
	q, ok := h.(policy.QueuedHold)
	if !ok {
		t.Fatalf("the store's hold %T is not a policy.QueuedHold", h)
	}
	return q
}

// TestQueuedSettlementJoinsNextReservation: a queued settlement is written
// in the next reservation's transaction (one commit for both), before it,
// and a queued release likewise; until then the amount stays held, so the
// budget is never passed; Spent waits for what was queued.
func TestQueuedSettlementJoinsNextReservation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		st.SetLazyDelay(time.Hour) // only another write may carry it

		queuedHold(t, st, "4").CloseQueued(true)
		groups := st.WriteGroups()
		h2 := queuedHold(t, st, "4") // 4 spent (queued, written now) + 4 held
		if got := st.WriteGroups() - groups; got != 1 {
			t.Errorf("the settlement and the next reservation took %d transactions, want 1", got)
		}
		budget := authority.MustDecimal("10")
		if _, err := st.Reserve(ctx, policy.Reservation{DelegationID: "d1", Amount: authority.MustDecimal("4"), Budget: &budget}); !isDenied(err, policy.ReasonBudget) {
			t.Fatalf("Reserve(4) with 4 spent and 4 held = %v, want a budget denial", err)
		}

		h2.CloseQueued(false) // released: not yet written
		spent, calls, err := st.Spent(ctx, "d1")
		if err != nil {
			t.Fatal(err)
		}
		if spent.String() != "4" || calls != 1 {
			t.Errorf("Spent = %s, %d calls; want 4, 1 (one settled, one released)", spent, calls)
		}
		queuedHold(t, st, "6").CloseQueued(true) // the release freed room for it
		spent, calls, err = st.Spent(ctx, "d1")
		if err != nil {
			t.Fatal(err)
		}
		if spent.String() != "10" || calls != 2 {
			t.Errorf("Spent = %s, %d calls; want 10, 2", spent, calls)
		}
		// A settlement queued on a closed hold changes nothing.
		h2.CloseQueued(true)
		if spent, calls, _ = st.Spent(ctx, "d1"); spent.String() != "10" || calls != 2 {
			t.Errorf("after settling a released hold: Spent = %s, %d calls; want 10, 2", spent, calls)
		}
	})
}

// TestQueuedSettlementWrittenAlone: with no other write to join, a queued
// settlement is written in a group of its own, soon.
func TestQueuedSettlementWrittenAlone(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st := storetest.Open(t, b.Options(t))
		st.SetLazyDelay(10 * time.Millisecond)
		h := queuedHold(t, st, "3")
		groups := st.WriteGroups()
		h.CloseQueued(true)
		deadline := time.Now().Add(5 * time.Second)
		for {
			var state string
			if err := st.DB().QueryRow(`SELECT state FROM ledger_holds WHERE delegation_id = 'd1'`).Scan(&state); err != nil {
				t.Fatal(err)
			}
			if state == "settled" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("hold state = %q 5 s after its settlement was queued, want settled", state)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if got := st.WriteGroups() - groups; got != 1 {
			t.Errorf("the settlement took %d transactions, want 1", got)
		}
	})
}

// TestQueuedSettlementWrittenOnClose: closing the store writes what was
// queued; a store opened again finds it spent.
func TestQueuedSettlementWrittenOnClose(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		opts := b.Options(t)
		st, err := store.Open(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		st.SetLazyDelay(time.Hour)
		queuedHold(t, st, "7").CloseQueued(true)
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		again := storetest.Open(t, opts)
		spent, calls, err := again.Spent(context.Background(), "d1")
		if err != nil {
			t.Fatal(err)
		}
		if spent.String() != "7" || calls != 1 {
			t.Errorf("after Close and Open: Spent = %s, %d calls; want 7, 1", spent, calls)
		}
	})
}

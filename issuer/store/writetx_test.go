package store_test

import (
	"context"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/issuer/store/storetest"
	"github.com/openlegant/legant/policy"
)

// goroutinesCreated is how many goroutines this process has started so far.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestSQLiteWritesStartNoGoroutinePerStatement: the hot SQLite writes — the
// journal's applier, the group writer's ledger writes — run their
// statements without a cancellable context, so the driver starts no
// goroutine per statement to watch it (one per audit row before).
func TestSQLiteWritesStartNoGoroutinePerStatement(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, sqliteOptions(t))
	defer st.Close()
	st.SetAuditApplyLinger(time.Hour)

	const events = 500
	batch := make([]audit.Event, events)
	for i := range batch {
		batch[i] = event(i)
	}
	if err := st.Audit().AppendAll(ctx, batch); err != nil {
		t.Fatal(err)
	}
	before := goroutinesCreated()
	if err := st.SettleAudit(ctx); err != nil { // the applier writes the 500 rows
		t.Fatal(err)
	}
	if n := rowsInDatabase(t, st); n != events {
		t.Fatalf("%d rows applied, want %d", n, events)
	}
	if created := goroutinesCreated() - before; created > events/10 {
		t.Errorf("applying %d audit rows started %d goroutines; want far fewer than one per row", events, created)
	}

	const calls = 50 // one caller at a time: a transaction per write
	budget := authority.MustDecimal("1000")
	before = goroutinesCreated()
	for range calls {
		h, err := st.Reserve(ctx, policy.Reservation{DelegationID: "d", Amount: authority.MustDecimal("1"), Budget: &budget})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Settle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// database/sql itself starts one per transaction and one per query of
	// a transaction (7 per call here); the driver's watcher added one per
	// statement (20 per call in all).
	if created := goroutinesCreated() - before; created > 8*calls {
		t.Errorf("%d budgeted calls' ledger writes started %d goroutines; want at most 8 per call (database/sql's own)", calls, created)
	}
	var wg sync.WaitGroup // and the outcome is still right under concurrency
	for range 16 {
		wg.Go(func() {
			h, err := st.Reserve(ctx, policy.Reservation{DelegationID: "d", Amount: authority.MustDecimal("1"), Budget: &budget})
			if err == nil {
				err = h.Settle(ctx)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if spent, n, err := st.Spent(ctx, "d"); err != nil || n != calls+16 || spent.String() != "66" {
		t.Fatalf("Spent = %s in %d calls, %v; want 66 in %d", spent, n, err, calls+16)
	}
}

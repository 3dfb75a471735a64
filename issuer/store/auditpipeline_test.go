package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// pipelineStore opens a PostgreSQL store whose audit writer takes 4 events
// per batch, so that one AppendAll of many events keeps its pipeline full;
// params, if any, are added to its database URL.
func pipelineStore(t *testing.T, params ...string) *store.Store {
	for _, b := range storetest.Backends(t) {
		if b.Postgres() {
			opts := b.Options(t)
			opts.AuditMaxBatch = 4
			for _, p := range params {
				sep := "?"
				if strings.Contains(opts.DatabaseURL, "?") {
					sep = "&"
				}
				opts.DatabaseURL += sep + p
			}
			return storetest.Open(t, opts)
		}
	}
	t.Skip("the audit pipeline is PostgreSQL's") // (never in CI: Backends fails there without PostgreSQL)
	return nil
}

// eventsWithIDs returns n events, from the i-th on, each with its own id.
func eventsWithIDs(from, n int) []audit.Event {
	events := make([]audit.Event, n)
	for i := range events {
		events[i] = event(from + i)
		events[i].ID = fmt.Sprintf("ev-%d", from+i)
	}
	return events
}

// TestAuditPipelineRedoesFailedBatches: a batch the database refuses in the
// pipeline (an id the log already holds, which the writer did not know of)
// is written again the ordinary way, with the batches sent after it (which
// failed whole, chained from it); the repeated event is skipped, no other
// event is lost or doubled, and the chain verifies.
func TestAuditPipelineRedoesFailedBatches(t *testing.T) {
	st := pipelineStore(t)
	ctx := context.Background()
	events := eventsWithIDs(0, 40)
	if err := st.Audit().AppendAll(ctx, events[17:18]); err != nil { // written once already
		t.Fatal(err)
	}
	if err := st.Audit().AppendAll(ctx, events); err != nil {
		t.Fatal(err)
	}
	ahead, redone, broken := st.AuditPipeline()
	t.Logf("batches sent ahead %d, written again %d, connections lost %d, events skipped %d", ahead, redone, broken, st.AuditSkipped())
	if ahead == 0 || redone == 0 || broken != 0 {
		t.Fatalf("pipeline: %d sent ahead, %d written again, %d connections lost; want > 0, > 0, 0", ahead, redone, broken)
	}
	if total, distinct := countEvents(t, st); total != 40 || distinct != 40 || st.AuditSkipped() != 1 {
		t.Fatalf("rows %d, distinct ids %d, skipped %d; want 40, 40, 1", total, distinct, st.AuditSkipped())
	}
	verifyChain(t, st, 40)
}

// terminatedPipeline opens a pipelineStore, appends 40 events through its
// pipeline, then terminates the pipeline's PostgreSQL backend and waits
// until it is gone; it returns the store and the backend's pid.
func terminatedPipeline(t *testing.T) (*store.Store, uint32) {
	t.Helper()
	st := pipelineStore(t)
	ctx := context.Background()
	if err := st.Audit().AppendAll(ctx, eventsWithIDs(0, 40)); err != nil {
		t.Fatal(err)
	}
	pid := st.AuditPipelinePID()
	if pid == 0 {
		t.Fatal("the audit writer holds no pipeline connection")
	}
	if _, err := st.DB().ExecContext(ctx, `SELECT pg_terminate_backend($1)`, int64(pid)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		var n int
		if err := st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE pid = $1`, int64(pid)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return st, pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend %d still there after pg_terminate_backend", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAuditPipelineReplacesAnIdleDeadConnection: a pipeline connection that
// died while unused for longer than the idle ping's threshold (the server
// restarted, say) is replaced before the next batch, which it fails not.
func TestAuditPipelineReplacesAnIdleDeadConnection(t *testing.T) {
	st, pid := terminatedPipeline(t)
	ctx := context.Background()
	time.Sleep(store.PipelineIdlePing + 100*time.Millisecond)
	if err := st.Audit().AppendAll(ctx, eventsWithIDs(40, 40)); err != nil {
		t.Fatalf("the first append after the idle connection died: %v", err)
	}
	if _, _, broken := st.AuditPipeline(); broken != 0 {
		t.Fatalf("%d batches in flight on a lost connection; want 0 (it was replaced first)", broken)
	}
	if pid2 := st.AuditPipelinePID(); pid2 == pid || pid2 == 0 {
		t.Fatalf("pipeline backend %d after %d was terminated", pid2, pid)
	}
	verifyChain(t, st, 80)
}

// TestAuditPipelineLosesItsConnection: the pipeline's connection is
// terminated between appends, the next one following at once. That append's
// batches fail with their outcome unknown, and their producer is told;
// appending the same events again writes each exactly once, and the chain
// verifies.
func TestAuditPipelineLosesItsConnection(t *testing.T) {
	st, pid := terminatedPipeline(t)
	ctx := context.Background()
	more := eventsWithIDs(40, 40)
	if err := st.Audit().AppendAll(ctx, more); err == nil {
		t.Fatal("an append through a terminated connection reported success")
	}
	if _, _, broken := st.AuditPipeline(); broken == 0 {
		t.Fatal("the pipeline did not count its lost connection")
	}
	if err := st.Audit().AppendAll(ctx, more); err != nil {
		t.Fatalf("appending the same events again: %v", err)
	}
	if total, distinct := countEvents(t, st); total != 80 || distinct != 80 {
		t.Fatalf("rows %d, distinct ids %d; want 80 of each (0 lost, 0 doubled)", total, distinct)
	}
	verifyChain(t, st, 80)
	if pid2 := st.AuditPipelinePID(); pid2 == pid {
		t.Fatalf("the pipeline still names the terminated backend %d", pid)
	}
}

// TestAuditPipelineLeavesThePoolAlone: the pipeline's connection is its own,
// not the pool's: with pool_max_conns=1 the store still answers queries
// while the audit writer holds its connection.
func TestAuditPipelineLeavesThePoolAlone(t *testing.T) {
	st := pipelineStore(t, "pool_max_conns=1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.Audit().AppendAll(ctx, eventsWithIDs(0, 40)); err != nil {
		t.Fatal(err)
	}
	if st.AuditPipelinePID() == 0 {
		t.Fatal("the audit writer holds no pipeline connection")
	}
	var one int
	if err := st.DB().QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		t.Fatalf("a query beside the audit writer, pool_max_conns=1: %v", err)
	}
	if err := st.Audit().AppendAll(ctx, eventsWithIDs(40, 40)); err != nil {
		t.Fatal(err)
	}
	verifyChain(t, st, 80)
}

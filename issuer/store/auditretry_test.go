package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// TestAuditRetryWritesOnce: appending events again with the IDs they were
// written under, though their append succeeded, writes nothing twice and
// keeps the chain verifying (the unique index on event_id refuses the batch,
// which is then written with the lookup of ids already written).
func TestAuditRetryWritesOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st := storetest.Open(t, b.Options(t))
		ctx := context.Background()
		batch := make([]audit.Event, 10)
		for i := range batch {
			batch[i] = event(i)
			batch[i].ID = fmt.Sprintf("retry-%d", i)
		}
		if err := st.Audit().Record(ctx, batch[:6]); err != nil {
			t.Fatal(err)
		}
		// The retry overlaps what was written and carries new events too,
		// and one ID twice.
		retry := append(batch[2:], batch[9])
		if err := st.Audit().Record(ctx, retry); err != nil {
			t.Fatal(err)
		}
		if err := st.Audit().Append(ctx, event(99)); err != nil { // no ID: always written
			t.Fatal(err)
		}
		total, distinct := countEvents(t, st)
		if total != 11 || distinct != 10 {
			t.Fatalf("rows = %d, distinct ids = %d; want 11 rows (10 with ids)", total, distinct)
		}
		if got := st.AuditSkipped(); got != 5 {
			t.Errorf("skipped = %d, want 5 (4 already written, 1 repeated)", got)
		}
		if got := st.AuditLookups(); got < 1 {
			t.Errorf("batches written with the lookup = %d, want ≥ 1 (the refused retry)", got)
		}
		verifyChain(t, st, 11)
	})
}

// TestAuditRetryAfterUnknownOutcome is the retry the lookup exists for: the
// chain head is locked by another transaction, so an append times out while
// its events are queued; once the lock goes the writer commits them, and the
// producer's retry with the same IDs must write nothing twice. Appends that
// returned no error never pay the lookup.
func TestAuditRetryAfterUnknownOutcome(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		opts := b.Options(t)
		opts.AuditJournalSize = -1 // appends write the database (a journal would take them while it is locked)
		st := storetest.Open(t, opts)
		ctx := context.Background()
		batch := func(prefix string) []audit.Event {
			evs := make([]audit.Event, 5)
			for i := range evs {
				evs[i] = event(i)
				evs[i].ID = fmt.Sprintf("%s-%d", prefix, i)
			}
			return evs
		}
		for i := range 20 {
			if err := st.Audit().Record(ctx, batch(fmt.Sprintf("ok%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		if got := st.AuditLookups(); got != 0 {
			t.Fatalf("batches written with the lookup after clean appends = %d, want 0", got)
		}
		// Hold the head: SQLite's transactions begin IMMEDIATE (the write
		// lock); on PostgreSQL the row lock of audit_head.
		lock, err := st.DB().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lock.ExecContext(ctx, `UPDATE audit_head SET seq = seq WHERE id = 1`); err != nil {
			t.Fatal(err)
		}
		// An append already waiting on the lock holds the writer, so the
		// next one is queued (an idle log would write it in the caller's
		// goroutine, and its timeout would cancel that write).
		first := make(chan error, 1)
		go func() { first <- st.Audit().Record(ctx, batch("first")) }()
		for !st.AuditWriting() {
			time.Sleep(time.Millisecond)
		}
		late := batch("late")
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err = st.Audit().Record(short, late)
		cancel()
		if err == nil {
			t.Fatal("Record returned no error while the head was locked")
		}
		if err := lock.Rollback(); err != nil {
			t.Fatal(err)
		}
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if err := st.Audit().Record(ctx, late); err != nil { // the retry
			t.Fatal(err)
		}
		total, distinct := countEvents(t, st)
		if total != 110 || distinct != 110 {
			t.Fatalf("rows = %d, distinct ids = %d; want 110 of each", total, distinct)
		}
		if got := st.AuditSkipped(); got != 5 {
			t.Errorf("skipped = %d, want 5 (the retried batch, written once by its first append)", got)
		}
		if got := st.AuditLookups(); got < 1 {
			t.Errorf("batches written with the lookup = %d, want ≥ 1", got)
		}
		verifyChain(t, st, 110)
	})
}

func countEvents(t *testing.T, st *store.Store) (total, distinctIDs int64) {
	t.Helper()
	if err := st.SettleAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := st.DB().QueryRowContext(context.Background(), `SELECT COUNT(*), COUNT(DISTINCT event_id) FROM audit_events`).Scan(&total, &distinctIDs)
	if err != nil {
		t.Fatal(err)
	}
	return total, distinctIDs
}

func verifyChain(t *testing.T, st *store.Store, want int64) {
	t.Helper()
	rep, err := st.Audit().Verify(context.Background(), nil)
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %+v, %v", rep, err)
	}
	if rep.Events != want {
		t.Fatalf("verified %d events, want %d", rep.Events, want)
	}
}

// TestAuditFrozenPostgresWritesOnce freezes a throwaway PostgreSQL cluster
// (SIGSTOP of every process) under load, while batches are in flight. The
// producers behave as the gateway's audit queue does: an append that does not
// answer within its deadline is retried with the same event IDs. The writes
// caught by the freeze commit after the thaw, behind their own retries; the
// log must hold every event exactly once, in a chain that verifies.
func TestAuditFrozenPostgresWritesOnce(t *testing.T) {
	c := storetest.StartCluster(t)
	opts := store.Options{DatabaseURL: c.URL, KeyEncryptionSecret: storetest.Secret, Issuer: storetest.Issuer,
		AuditWriteTimeout: 20 * time.Second}
	st := storetest.Open(t, opts)
	const producers, perProducer, batchSize = 8, 60, 5
	var acked, retries atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(60 * time.Second)
	for p := range producers {
		wg.Go(func() {
			for i := range perProducer {
				batch := make([]audit.Event, batchSize)
				for j := range batch {
					batch[j] = event(p*10_000 + i*batchSize + j)
					batch[j].ID = fmt.Sprintf("p%d-b%d-%d", p, i, j)
				}
				for attempt := 0; ; attempt++ {
					ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
					err := st.Audit().Record(ctx, batch)
					cancel()
					if err == nil {
						break
					}
					retries.Add(1)
					if time.Now().After(deadline) {
						t.Errorf("producer %d: batch %d not written by the deadline: %v", p, i, err)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
				acked.Add(batchSize)
			}
		})
	}
	for acked.Load() < producers*perProducer*batchSize/4 { // bounded by the producers' deadline
		if time.Now().After(deadline) {
			t.Fatal("no progress before the freeze")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Freeze(t)
	// Answers already on their way when the cluster stopped may still land:
	// count from a moment later.
	time.Sleep(300 * time.Millisecond)
	frozenAt := acked.Load()
	time.Sleep(1200 * time.Millisecond)
	if got := acked.Load(); got != frozenAt {
		t.Errorf("%d events acknowledged while the database was frozen", got-frozenAt)
	}
	c.Thaw(t)
	wg.Wait()
	const want = producers * perProducer * batchSize
	total, distinct := countEvents(t, st)
	t.Logf("events %d, distinct ids %d, retried appends %d, events skipped as already written %d", total, distinct, retries.Load(), st.AuditSkipped())
	if total != want || distinct != want {
		t.Fatalf("rows = %d, distinct ids = %d; want %d of each (0 duplicates, 0 lost)", total, distinct, want)
	}
	if retries.Load() == 0 || st.AuditSkipped() == 0 {
		t.Errorf("the freeze caught no write in flight (retries %d, skipped %d): the test proved nothing", retries.Load(), st.AuditSkipped())
	}
	verifyChain(t, st, want)
}

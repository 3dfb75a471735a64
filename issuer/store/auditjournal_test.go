package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// sqliteOptions are a fresh SQLite store's options (the journal is SQLite's).
func sqliteOptions(t *testing.T) store.Options {
	return store.Options{KeyEncryptionSecret: storetest.Secret, Issuer: storetest.Issuer, DataDir: t.TempDir()}
}

// rowsInDatabase counts audit_events without waiting for the journal.
func rowsInDatabase(t *testing.T, st *store.Store) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM audit_events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAuditJournalRecoversUnapplied: events acknowledged while the applier
// wrote nothing to the database (what kill -9 leaves) are in the chain after
// the next Open, in the order they were appended, field for field — strings
// byte for byte, kept arguments, agents — and the chain verifies and grows.
func TestAuditJournalRecoversUnapplied(t *testing.T) {
	ctx := context.Background()
	opts := sqliteOptions(t)
	opts.AuditKeepArgs = true
	st := storetest.Open(t, opts)
	if !st.AuditJournaled() {
		t.Fatal("a SQLite store owns no audit journal")
	}
	st.HoldAuditJournal(true)
	var want []audit.Event
	for i := range 40 {
		ev := event(i)
		ev.ID = fmt.Sprintf("id-%d", i)
		switch i {
		case 3:
			ev.Reason = "ünïcode ✓, a tab\t and a newline\n"
		case 4:
			ev.Agents = nil
			ev.Args = nil
		case 5:
			ev.ID = ""
		}
		want = append(want, ev)
		if err := st.Audit().Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if n := rowsInDatabase(t, st); n != 0 {
		t.Fatalf("%d rows in the database while the applier is held; the test needs none", n)
	}
	st.Close()

	st = storetest.Open(t, opts)
	defer st.Close()
	got, err := st.Audit().Query(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d events after recovery, %d acknowledged", len(got), len(want))
	}
	for i, g := range got {
		w := want[i]
		if g.Seq != int64(i+1) || g.TokenID != w.TokenID || g.Reason != w.Reason || g.User != w.User || g.Tool != w.Tool ||
			!bytes.Equal(g.Args, w.Args) || g.ArgsHash != audit.ArgsHash(w.Args) && w.Args != nil || len(g.Agents) != len(w.Agents) {
			t.Fatalf("event %d after recovery = %+v, want %+v", i, g, w)
		}
	}
	verifyChain(t, st, 40)
	appendN(t, st.Audit(), 10)
	verifyChain(t, st, 50)
}

// TestAuditJournalTornFrame: a frame that does not check (a write torn by
// the crash) is skipped and the frames after it are applied (commits sync
// concurrently: a later one may have been acknowledged); the journal
// sequence numbers recovery saw are never used again, so a later recovery
// cannot mistake old frames for new events.
func TestAuditJournalTornFrame(t *testing.T) {
	ctx := context.Background()
	opts := sqliteOptions(t)
	st := storetest.Open(t, opts)
	st.HoldAuditJournal(true)
	for i := range 10 { // one frame, one block each
		if err := st.Audit().Append(ctx, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	f, err := os.OpenFile(store.AuditJournalPath(opts.DataDir), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("torn"), 4096*(1+7)+60); err != nil { // the 8th frame
		t.Fatal(err)
	}
	f.Close()

	st = storetest.Open(t, opts)
	verifyChain(t, st, 9)
	st.HoldAuditJournal(true)
	for i := range 3 {
		if err := st.Audit().Append(ctx, event(100+i)); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	st = storetest.Open(t, opts)
	defer st.Close()
	got, err := st.Audit().Query(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var jtis []string
	for _, e := range got {
		jtis = append(jtis, e.TokenID)
	}
	if want := "[jti-0 jti-1 jti-2 jti-3 jti-4 jti-5 jti-6 jti-8 jti-9 jti-100 jti-101 jti-102]"; fmt.Sprint(jtis) != want {
		t.Fatalf("events after two recoveries: %v, want %s", jtis, want)
	}
	verifyChain(t, st, 12)
}

// TestAuditJournalWraps: a ring far smaller than what is appended is reused
// once its frames are applied, under concurrent producers.
func TestAuditJournalWraps(t *testing.T) {
	opts := sqliteOptions(t)
	opts.AuditJournalSize = 16 * 4096
	opts.AuditKeepArgs = true
	st := storetest.Open(t, opts)
	defer st.Close()
	appendN(t, st.Audit(), 3000)
	verifyChain(t, st, 3000)
	if n := st.AuditApplies(); n < 2 {
		t.Fatalf("%d apply transactions for 3000 events through a 64 KiB ring", n)
	}
	t.Logf("3000 events in %d apply transactions, %d journal commits", st.AuditApplies(), st.AuditBatches())
}

// TestAuditJournalKeepsItsArrays: the journal's pending list and the
// applier's copy of the events it applies are allocated once and kept,
// round after round of appends and applies (re-slicing the pending list from
// the front regrew it on every apply: 9% of BenchmarkAuditAppend's CPU).
func TestAuditJournalKeepsItsArrays(t *testing.T) {
	st := storetest.Open(t, sqliteOptions(t))
	defer st.Close()
	ctx := context.Background()
	var pending, applying uintptr
	for round := range 8 {
		events := make([]audit.Event, 200)
		for i := range events {
			events[i] = event(round*len(events) + i)
		}
		if err := st.Audit().AppendAll(ctx, events); err != nil {
			t.Fatal(err)
		}
		if err := st.SettleAudit(ctx); err != nil {
			t.Fatal(err)
		}
		p, a := st.AuditJournalArrays()
		if p == 0 || a == 0 {
			t.Fatalf("round %d: no arrays kept (pending %#x, applying %#x)", round, p, a)
		}
		if round > 0 && (p != pending || a != applying) {
			t.Fatalf("round %d: arrays moved: pending %#x → %#x, applying %#x → %#x", round, pending, p, applying, a)
		}
		pending, applying = p, a
	}
	verifyChain(t, st, 1600)
}

// TestAuditJournalReleasesAnOutagesBacklog: a pending list grown past two
// apply transactions' worth while the database took nothing (here: the
// applier held) is released once it is applied, not kept at that size.
func TestAuditJournalReleasesAnOutagesBacklog(t *testing.T) {
	st := storetest.Open(t, sqliteOptions(t))
	defer st.Close()
	ctx := context.Background()
	st.HoldAuditJournal(true)
	events := make([]audit.Event, 9000)
	for i := range events {
		events[i] = event(i)
	}
	if err := st.Audit().AppendAll(ctx, events); err != nil {
		t.Fatal(err)
	}
	if pending, _ := st.AuditJournalArrays(); pending == 0 {
		t.Fatal("no pending list while the applier is held")
	}
	st.HoldAuditJournal(false)
	if err := st.SettleAudit(ctx); err != nil {
		t.Fatal(err)
	}
	if pending, _ := st.AuditJournalArrays(); pending != 0 {
		t.Fatalf("the backlog's pending list (%#x) is kept after it was applied", pending)
	}
	verifyChain(t, st, 9000)
}

// TestAuditJournalWritePaths: appends through O_DIRECT|O_DSYNC (where the
// file system takes it) and through pwrite + fdatasync alike are recovered
// after what a crash leaves, byte for byte, and reuse the ring.
func TestAuditJournalWritePaths(t *testing.T) {
	for _, path := range []string{"aio", "direct", "buffered"} {
		t.Run(path, func(t *testing.T) {
			direct, aio := path != "buffered", path == "aio"
			defer store.SetJournalDirect(store.SetJournalDirect(direct))
			defer store.SetJournalAIO(store.SetJournalAIO(aio))
			ctx := context.Background()
			opts := sqliteOptions(t)
			opts.AuditJournalSize = 64 * 4096
			opts.AuditKeepArgs = true
			st := storetest.Open(t, opts)
			if direct && !st.AuditJournalDirect() {
				t.Logf("the file system of %s refuses O_DIRECT: the buffered path runs instead", opts.DataDir)
			} else if !direct && st.AuditJournalDirect() {
				t.Fatal("O_DIRECT turned off, the journal uses it")
			}
			if on, _ := st.AuditJournalAIO(); on != (aio && st.AuditJournalDirect()) {
				t.Fatalf("AIO in use: %v on the %s path", on, path)
			}
			// Held: what the journal holds is all a crash leaves. Sixteen
			// producers at once: the writer goroutine takes what queues
			// behind an inline commit (through AIO on that path).
			st.HoldAuditJournal(true)
			var wg sync.WaitGroup
			errs := make(chan error, 48)
			start := make(chan struct{})
			for p := range 16 {
				wg.Go(func() {
					<-start
					for i := range 3 {
						errs <- st.Audit().Append(ctx, event(p*3+i))
					}
				})
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if on, writes := st.AuditJournalAIO(); on && writes == 0 {
				t.Fatal("48 appends from 16 producers: none went through the writer's AIO")
			} else if !on && writes != 0 {
				t.Fatalf("%d appends through AIO, which is off", writes)
			}
			st.Close() // what kill -9 leaves: nothing applied
			st = storetest.Open(t, opts)
			defer st.Close()
			verifyChain(t, st, 48)
			appendN(t, st.Audit(), 1000) // round a ring of 63 blocks many times
			verifyChain(t, st, 1048)
		})
	}
}

// TestAuditJournalAppliesWhenCrowded: the applier lingers (here for an
// hour) unless the ring fills: once a quarter of it holds frames not yet
// applied it writes them at once, so appends never wait for ring space
// while the database takes the events. One event lingers; four one-block
// frames in a ring of 15 blocks are applied without anyone reading the log.
func TestAuditJournalAppliesWhenCrowded(t *testing.T) {
	ctx := context.Background()
	opts := sqliteOptions(t)
	opts.AuditJournalSize = 16 * 4096
	st := storetest.Open(t, opts)
	defer st.Close()
	st.SetAuditApplyLinger(time.Hour)
	if err := st.Audit().Append(ctx, event(0)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 4; i++ {
		if n := rowsInDatabase(t, st); n != 0 {
			t.Fatalf("%d rows applied with %d of 15 ring blocks in use and an hour's linger", n, i)
		}
		if err := st.Audit().Append(ctx, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for rowsInDatabase(t, st) != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("a quarter of the ring in use, %d of 4 events applied after 30 s", rowsInDatabase(t, st))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Many more than the ring holds, with nobody reading: the applier keeps up.
	appendN(t, st.Audit(), 600)
	verifyChain(t, st, 604)
}

// TestAuditJournalFullFailsClosed: when the database does not take the
// journaled events and the ring is full, an append fails (the gateway then
// refuses the call) and writes nothing; once the applier runs again appends
// succeed, and the log holds exactly the acknowledged events.
func TestAuditJournalFullFailsClosed(t *testing.T) {
	ctx := context.Background()
	opts := sqliteOptions(t)
	opts.AuditJournalSize = 16 * 4096
	st := storetest.Open(t, opts)
	defer st.Close()
	st.HoldAuditJournal(true)
	acked := 0
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err = st.Audit().Append(short, event(i))
		cancel()
		if err == nil {
			acked++
		}
	}
	if !errors.Is(err, store.ErrJournalFull) {
		t.Fatalf("append to a full journal: %v, want ErrJournalFull", err)
	}
	if acked != 15 {
		t.Fatalf("%d one-block frames acknowledged by a ring of 15 blocks", acked)
	}
	st.HoldAuditJournal(false)
	if err := st.Audit().Append(ctx, event(1000)); err != nil {
		t.Fatalf("append once the applier runs again: %v", err)
	}
	verifyChain(t, st, int64(acked+1))
}

// TestAuditJournalForeign: a journal file that belongs to another database
// (its id differs) is not applied to this one.
func TestAuditJournalForeign(t *testing.T) {
	ctx := context.Background()
	a, b := sqliteOptions(t), sqliteOptions(t)
	st := storetest.Open(t, a)
	st.HoldAuditJournal(true)
	for i := range 5 {
		if err := st.Audit().Append(ctx, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	storetest.Open(t, b).Close()
	data, err := os.ReadFile(store.AuditJournalPath(a.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store.AuditJournalPath(b.DataDir), data, 0o600); err != nil {
		t.Fatal(err)
	}
	st = storetest.Open(t, b)
	defer st.Close()
	verifyChain(t, st, 0)
	if err := st.Audit().Append(ctx, event(9)); err != nil {
		t.Fatal(err)
	}
	verifyChain(t, st, 1)
}

// TestAuditJournalOwnedOnce: a second Store on the same database (the CLI
// beside a running gateway) does not take the journal; it appends to the
// database directly, and both chains of appends verify as one.
func TestAuditJournalOwnedOnce(t *testing.T) {
	opts := sqliteOptions(t)
	a := storetest.Open(t, opts)
	defer a.Close()
	b := storetest.Open(t, opts)
	defer b.Close()
	if !a.AuditJournaled() || b.AuditJournaled() {
		t.Fatalf("journal owners: first %v, second %v; want only the first", a.AuditJournaled(), b.AuditJournaled())
	}
	var wg sync.WaitGroup
	wg.Go(func() { appendN(t, a.Audit(), 200) })
	wg.Go(func() { appendN(t, b.Audit(), 200) })
	wg.Wait()
	verifyChain(t, a, 400)
}

// TestAuditJournalOutlivesTheDatabase: with the database gone, an append is
// still acknowledged — it is durable in the journal — while every read of
// the log reports the database's error rather than a log without it; the
// next Open applies it.
func TestAuditJournalOutlivesTheDatabase(t *testing.T) {
	ctx := context.Background()
	opts := sqliteOptions(t)
	st := storetest.Open(t, opts)
	if err := st.Audit().Append(ctx, event(1)); err != nil {
		t.Fatal(err)
	}
	st.DB().Close()
	if err := st.Audit().Append(ctx, event(2)); err != nil {
		t.Fatalf("append to the journal with the database gone: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := st.Audit().Head(short); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("reading the log with the database gone: %v, want the database's error", err)
	}
	st.Close()
	st = storetest.Open(t, opts)
	defer st.Close()
	verifyChain(t, st, 2)
}

// TestAuditReadsBesideTheOwner: a Store that does not own the journal (the
// CLI beside a running gateway) reads every event the owner had
// acknowledged when the read began — Verify, Query and Tail wait for the
// owner to apply them — and, when the owner does not, Verify says how many
// it could not include.
func TestAuditReadsBesideTheOwner(t *testing.T) {
	ctx := context.Background()
	opts := sqliteOptions(t)
	owner := storetest.Open(t, opts)
	owner.SetAuditApplyLinger(time.Second) // journaled, applied a second later
	appendN(t, owner.Audit(), 5)
	cli := storetest.Open(t, opts)
	if cli.AuditJournaled() {
		t.Fatal("the second Store owns the journal")
	}
	rep, err := cli.Audit().Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != 5 || rep.Unapplied != 0 {
		t.Fatalf("Verify beside the owner: %d events verified, %d unapplied; want 5, 0", rep.Events, rep.Unapplied)
	}
	appendN(t, owner.Audit(), 3)
	if evs, err := cli.Audit().Tail(ctx, 100); err != nil || len(evs) != 8 {
		t.Fatalf("Tail beside the owner: %d events, %v; want 8", len(evs), err)
	}

	owner.HoldAuditJournal(true) // the owner stops applying
	appendN(t, owner.Audit(), 4)
	defer store.SetOwnerWait(store.SetOwnerWait(300 * time.Millisecond))
	rep, err = cli.Audit().Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != 8 || rep.Unapplied != 4 {
		t.Fatalf("Verify beside a stuck owner: %d events verified, %d unapplied; want 8, 4", rep.Events, rep.Unapplied)
	}
	owner.HoldAuditJournal(false)
	store.SetOwnerWait(2 * time.Second)
	if rep, err = cli.Audit().Verify(ctx, nil); err != nil || rep.Events != 12 || rep.Unapplied != 0 {
		t.Fatalf("Verify once the owner applies again: %+v, %v; want 12 events", rep, err)
	}
}

package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

func event(i int) audit.Event {
	return audit.Event{Kind: audit.KindAllow, User: fmt.Sprintf("user-%d", i%3), Agents: []string{"agent:planner", fmt.Sprintf("agent:%d", i%2)},
		Client: "cli", Upstream: "expenses", Tool: []string{"pay", "refund"}[i%2], Decision: "allow", Reason: "allowed",
		TokenID: fmt.Sprintf("jti-%d", i), SessionID: "s1", Args: []byte(fmt.Sprintf(`{"amount":%d}`, i))}
}

// appendN appends n events from 8 concurrent producers.
func appendN(t *testing.T, l *store.AuditLog, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for p := range 8 {
		wg.Go(func() {
			for i := p; i < n; i += 8 {
				errs <- l.Append(context.Background(), event(i))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
}

func TestAuditAppendVerify(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		opts := b.Options(t)
		opts.AuditKeepArgs = true
		opts.AuditMaxBatch = 16 // several batches
		st := storetest.Open(t, opts)
		appendN(t, st.Audit(), 200)
		rep, err := st.Audit().Verify(ctx, nil)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if rep.Events != 200 || rep.Head.Seq != 200 || !rep.OK() {
			t.Fatalf("report = %+v", rep)
		}
		evs, err := st.Audit().Query(ctx, store.AuditFilter{User: "user-1", Tool: "refund"})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.User != "user-1" || e.Tool != "refund" || audit.ArgsHash(e.Args) != e.ArgsHash {
				t.Fatalf("query returned %+v", e)
			}
		}
		if len(evs) != 34 { // i ≡ 1 (mod 6), below 200
			t.Errorf("query returned %d events, want 34", len(evs))
		}
		if evs, _ := st.Audit().Query(ctx, store.AuditFilter{Agent: "agent:1", Limit: 5}); len(evs) != 5 || evs[0].Agents[1] != "agent:1" {
			t.Errorf("agent query = %+v", evs)
		}
		tail, err := st.Audit().Tail(ctx, 3)
		if err != nil || len(tail) != 3 || tail[2].Seq != 200 {
			t.Fatalf("Tail = %v, %v", tail, err)
		}
	})
}

func TestAuditAppendAll(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		batch := []audit.Event{event(1), event(2), event(3)}
		batch[1].Kind, batch[1].Decision, batch[1].Constraint, batch[1].Limit, batch[1].Value = audit.KindDeny, "deny", "max_amount", "500", "700"
		if err := st.Audit().AppendAll(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if batch[0].Seq != 0 || batch[0].ArgsHash != "" {
			t.Fatal("AppendAll modified the caller's events")
		}
		evs, err := st.Audit().Tail(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range evs {
			if e.Seq != int64(i+1) || e.TokenID != batch[i].TokenID {
				t.Fatalf("event %d = seq %d %s, want in order", i, e.Seq, e.TokenID)
			}
		}
		if d := evs[1]; d.Constraint != "max_amount" || d.Limit != "500" || d.Value != "700" {
			t.Fatalf("denial stored as %+v", d)
		}
	})
}

// TestAuditWritesCounted checks the durable-write counts operators read as
// legant_audit_commits_total and legant_audit_committed_events_total: a
// batch is one commit with all its events, appends one after another are a
// commit each, and concurrent appends share commits without losing count.
func TestAuditWritesCounted(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		l := st.Audit()
		w0 := l.Writes()
		if err := l.AppendAll(ctx, []audit.Event{event(1), event(2), event(3)}); err != nil {
			t.Fatal(err)
		}
		if w := l.Writes(); w.Commits-w0.Commits != 1 || w.Events-w0.Events != 3 {
			t.Fatalf("one batch of 3: %d commits, %d events; want 1 and 3", w.Commits-w0.Commits, w.Events-w0.Events)
		}
		w1 := l.Writes()
		for i := range 4 {
			if err := l.Append(ctx, event(10+i)); err != nil {
				t.Fatal(err)
			}
		}
		if w := l.Writes(); w.Commits-w1.Commits != 4 || w.Events-w1.Events != 4 {
			t.Fatalf("4 appends in turn: %d commits, %d events; want 4 and 4", w.Commits-w1.Commits, w.Events-w1.Events)
		}
		w2 := l.Writes()
		appendN(t, l, 160)
		w := l.Writes()
		if w.Events-w2.Events != 160 || w.Commits-w2.Commits < 1 || w.Commits-w2.Commits > 160 {
			t.Fatalf("160 concurrent appends: %d commits, %d events; want 160 events in 1–160 commits",
				w.Commits-w2.Commits, w.Events-w2.Events)
		}
		if rep, err := l.Verify(ctx, nil); err != nil || rep.Events != w.Events || !rep.OK() {
			t.Fatalf("Verify = %+v, %v; want the %d events counted", rep, err, w.Events)
		}
	})
}

func TestAuditRejectsInvalidEvents(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st := storetest.Open(t, b.Options(t))
		for _, e := range []audit.Event{
			{Kind: audit.KindAllow, Time: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
			{Kind: "Allow!"},
			{Kind: audit.KindAllow, Tool: "nul\x00byte"},
		} {
			if err := st.Audit().Append(context.Background(), e); !errors.Is(err, audit.ErrInvalidEvent) {
				t.Errorf("Append(%+v) = %v, want ErrInvalidEvent", e, err)
			}
		}
	})
}

func TestAuditArgsNotKeptByDefault(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		if err := st.Audit().Append(ctx, event(7)); err != nil {
			t.Fatal(err)
		}
		evs, err := st.Audit().Tail(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if evs[0].Args != nil || evs[0].ArgsHash != audit.ArgsHash([]byte(`{"amount":7}`)) {
			t.Fatalf("event = %+v, want the args hash only", evs[0])
		}
		if _, err := st.Audit().Verify(ctx, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAuditTamper: each kind of tampering, done with raw SQL, is detected
// with the first bad sequence number, on both backends.
func TestAuditTamper(t *testing.T) {
	const n, k = 20, 7
	tests := []struct {
		name    string
		sql     []string
		forge   bool // insert a correctly linked forged event at k
		anchor  bool // verify against an anchor taken before tampering
		wantSeq int64
	}{
		{name: "modification", sql: []string{`UPDATE audit_events SET tool = 'wire_money' WHERE seq = 7`}, wantSeq: k},
		{name: "deletion", sql: []string{`DELETE FROM audit_events WHERE seq = 7`}, wantSeq: k},
		{name: "insertion", forge: true, wantSeq: k + 1},
		{name: "reordering", sql: []string{
			`UPDATE audit_events SET seq = -1 WHERE seq = 7`,
			`UPDATE audit_events SET seq = 7 WHERE seq = 8`,
			`UPDATE audit_events SET seq = 8 WHERE seq = -1`,
		}, wantSeq: k},
		{name: "truncation", sql: []string{`DELETE FROM audit_events WHERE seq >= 7`}, wantSeq: k},
		{name: "truncation with head rewritten", anchor: true, sql: []string{
			`DELETE FROM audit_events WHERE seq >= 7`,
			`UPDATE audit_head SET seq = 6, hash = (SELECT hash FROM audit_events WHERE seq = 6)`,
		}, wantSeq: k},
	}
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				st := storetest.Open(t, b.Options(t))
				appendN(t, st.Audit(), n)
				tok, _, err := st.Audit().Anchor(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range tt.sql {
					if _, err := st.DB().ExecContext(ctx, q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
				if tt.forge {
					forgeInsert(t, st, k)
				}
				var anchor *audit.Anchor
				if tt.anchor {
					if anchor, err = st.Audit().ParseAnchor(ctx, tok); err != nil {
						t.Fatal(err)
					}
					if rep, err := st.Audit().Verify(ctx, nil); err != nil || !rep.OK() {
						t.Fatalf("without the anchor the rewritten chain should pass: %v", err)
					}
				}
				rep, err := st.Audit().Verify(ctx, anchor)
				var ce *audit.ChainError
				if !errors.As(err, &ce) {
					t.Fatalf("Verify = %v, want a *audit.ChainError", err)
				}
				if ce.Seq != tt.wantSeq || rep.FirstBad != tt.wantSeq {
					t.Fatalf("first bad seq = %d (report %d): %s; want %d", ce.Seq, rep.FirstBad, ce.Reason, tt.wantSeq)
				}
				t.Logf("detected: %v", err)
			})
		}
	})
}

// forgeInsert shifts events k.. up by one and inserts, at k, an event
// correctly hashed on top of event k-1: the best an attacker without the
// signing key can do. The chain breaks at k+1.
func forgeInsert(t *testing.T, st *store.Store, k int64) {
	t.Helper()
	ctx := context.Background()
	db := st.DB()
	if _, err := db.ExecContext(ctx, `UPDATE audit_events SET seq = -(seq + 1) WHERE seq >= $1`, k); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE audit_events SET seq = -seq WHERE seq < 0`); err != nil {
		t.Fatal(err)
	}
	var prev string
	if err := db.QueryRowContext(ctx, `SELECT hash FROM audit_events WHERE seq = $1`, k-1).Scan(&prev); err != nil {
		t.Fatal(err)
	}
	e := audit.Event{Seq: k, Time: time.Unix(0, 1e18).UTC(), Kind: audit.KindAllow, User: "mallory", Tool: "wire_money", Decision: "allow", PrevHash: prev}
	e.Hash = e.ComputeHash()
	_, err := db.ExecContext(ctx, `INSERT INTO audit_events (seq, at_ns, kind, user_sub, agents, client_id, upstream, method, tool, decision, reason,
			constraint_name, limit_value, actual_value, token_id, session_id, args_hash, prev_hash, hash)
		VALUES ($1, $2, $3, $4, '[]', '', '', '', $5, $6, '', '', '', '', '', '', '', $7, $8)`, e.Seq, e.Time.UnixNano(), string(e.Kind), e.User, e.Tool, e.Decision, e.PrevHash, e.Hash)
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuditPrune(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		l := st.Audit()
		appendN(t, l, 30)
		tok, _, err := l.Anchor(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cp, err := l.Prune(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Seq != 10 {
			t.Fatalf("prune checkpoint = %+v", cp)
		}
		appendN(t, l, 5)
		anchor, err := l.ParseAnchor(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := l.Verify(ctx, anchor)
		if err != nil {
			t.Fatalf("Verify after prune: %v", err)
		}
		if rep.PrunedThrough != 10 || rep.Events != 25 || rep.Head.Seq != 35 {
			t.Fatalf("report = %+v", rep)
		}
		// Deleting the first kept event is still caught.
		if _, err := st.DB().ExecContext(ctx, `DELETE FROM audit_events WHERE seq = 11`); err != nil {
			t.Fatal(err)
		}
		var ce *audit.ChainError
		if _, err := l.Verify(ctx, nil); !errors.As(err, &ce) || ce.Seq != 11 {
			t.Fatalf("Verify = %v, want ChainError at 11", err)
		}
		// A forged prune record (moved forward without the key) is caught.
		if _, err := st.DB().ExecContext(ctx, `UPDATE audit_checkpoints SET seq = 11, hash = (SELECT hash FROM audit_events WHERE seq = 12)`); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Verify(ctx, nil); !errors.As(err, &ce) || !strings.Contains(ce.Reason, "prune record") {
			t.Fatalf("Verify with a forged prune record = %v", err)
		}
		if _, err := l.Prune(ctx, 20); err == nil {
			t.Fatal("Prune of a broken chain succeeded")
		}
	})
}

// TestAuditCloseDrains: Close, racing with blocked producers, writes every
// event it acknowledged and refuses the rest with ErrClosed.
func TestAuditCloseDrains(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		opts := b.Options(t)
		opts.AuditQueueSize = 4 // producers block on a full queue
		st, err := store.Open(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		acked := 0
		first := make(chan struct{})
		var once sync.Once
		for i := range 64 {
			wg.Go(func() {
				err := st.Audit().Append(ctx, event(i))
				if err != nil && !errors.Is(err, store.ErrClosed) {
					t.Errorf("Append: %v", err)
				}
				if err == nil {
					mu.Lock()
					acked++
					mu.Unlock()
					once.Do(func() { close(first) })
				}
			})
		}
		<-first
		st.Close()
		wg.Wait()
		if err := st.Audit().Append(ctx, event(99)); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("Append after Close = %v, want ErrClosed", err)
		}
		st2 := storetest.Open(t, opts)
		evs, err := st2.Audit().Query(ctx, store.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != acked {
			t.Fatalf("%d events stored, %d acknowledged", len(evs), acked)
		}
		t.Logf("%d of 64 acknowledged before Close", acked)
		if _, err := st2.Audit().Verify(ctx, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAuditUnreachable: when the database cannot be written, Append reports
// it (so the gateway can fail closed) instead of acknowledging. PostgreSQL's
// goes away for real (a cluster of its own, stopped: the audit writer holds a
// connection of its own, not database/sql's); SQLite's handle is closed. (A SQLite store's journal makes the event durable without the
// database: TestAuditJournalOutlivesTheDatabase.)
func TestAuditUnreachable(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		opts := b.Options(t)
		opts.AuditJournalSize = -1
		var gone func(st *store.Store)
		if b.Postgres() {
			c := storetest.StartCluster(t)
			opts = store.Options{DatabaseURL: c.URL, KeyEncryptionSecret: storetest.Secret, Issuer: storetest.Issuer}
			gone = func(*store.Store) { c.Stop(t) }
		} else {
			gone = func(st *store.Store) { st.DB().Close() }
		}
		st := storetest.Open(t, opts)
		if err := st.Audit().Append(ctx, event(1)); err != nil {
			t.Fatal(err)
		}
		gone(st)
		if err := st.Audit().Append(ctx, event(2)); err == nil {
			t.Fatal("Append with the database gone = nil, want an error")
		}
	})
}

func TestAuditSharedChain(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		opts := b.Options(t)
		a, c := storetest.Open(t, opts), storetest.Open(t, opts)
		var wg sync.WaitGroup
		wg.Go(func() { appendN(t, a.Audit(), 100) })
		wg.Go(func() { appendN(t, c.Audit(), 100) })
		wg.Wait()
		rep, err := a.Audit().Verify(ctx, nil)
		if err != nil || rep.Events != 200 {
			t.Fatalf("two writers on one chain: %+v, %v", rep, err)
		}
	})
}

// TestAuditAppendBatchSizes appends batches on both sides of the PostgreSQL
// append's switch from rows of scalar parameters to arrays per column (32
// rows), each in one AppendAll, with ids, kept args and empty fields, and
// reads every field back; the chain verifies.
func TestAuditAppendBatchSizes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		opts := b.Options(t)
		opts.AuditKeepArgs = true
		st := storetest.Open(t, opts)
		var want []audit.Event
		for _, n := range []int{1, 2, 31, 32, 33, 100} {
			batch := make([]audit.Event, n)
			for i := range batch {
				e := event(len(want) + i)
				if i%2 == 0 {
					e.ID = fmt.Sprintf("ev-%d-%d", n, i)
				}
				if i%3 == 0 {
					e.Args = nil // not kept: NULL
				}
				batch[i] = e
			}
			if err := st.Audit().AppendAll(ctx, batch); err != nil {
				t.Fatalf("AppendAll(%d events): %v", n, err)
			}
			want = append(want, batch...)
		}
		rep, err := st.Audit().Verify(ctx, nil)
		if err != nil || !rep.OK() || rep.Events != int64(len(want)) {
			t.Fatalf("Verify = %+v, %v; want %d events, intact", rep, err, len(want))
		}
		got, err := st.Audit().Tail(ctx, len(want))
		if err != nil || len(got) != len(want) {
			t.Fatalf("Tail = %d events, %v; want %d", len(got), err, len(want))
		}
		for i, g := range got {
			w := want[i]
			if g.Seq != int64(i+1) || g.User != w.User || g.Tool != w.Tool || g.TokenID != w.TokenID ||
				!slices.Equal(g.Agents, w.Agents) || g.Reason != w.Reason || g.Constraint != "" || (w.Args == nil) != (g.Args == nil) ||
				string(g.Args) != string(w.Args) || (w.Args != nil && g.ArgsHash != audit.ArgsHash(w.Args)) {
				t.Fatalf("event %d stored as %+v, appended as %+v", i+1, g, w)
			}
		}
		// The ids went in with both forms: appended again, those events are
		// found and skipped (a retry whose first commit succeeded).
		again := []audit.Event{want[1], want[len(want)-2]} // from the 2-event batch and the 100-event one
		if again[0].ID == "" || again[1].ID == "" {
			t.Fatal("test events without ids")
		}
		if err := st.Audit().AppendAll(ctx, again); err != nil {
			t.Fatal(err)
		}
		if rep, err := st.Audit().Verify(ctx, nil); err != nil || !rep.OK() || rep.Events != int64(len(want)) {
			t.Fatalf("after appending two written ids again: Verify = %+v, %v; want %d events", rep, err, len(want))
		}
	})
}

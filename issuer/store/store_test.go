package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

func TestMigrations(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		opts := b.Options(t)
		skip := opts
		skip.SkipMigrate = true
		if _, err := store.Open(ctx, skip); !errors.Is(err, store.ErrSchema) {
			t.Fatalf("Open of an empty database with SkipMigrate = %v, want ErrSchema", err)
		}
		states, err := store.MigrationStatus(ctx, opts)
		if err != nil || len(states) == 0 || states[0].Applied {
			t.Fatalf("status before = %+v, %v", states, err)
		}
		applied, err := store.Migrate(ctx, opts)
		if err != nil || len(applied) != len(states) {
			t.Fatalf("Migrate = %v, %v; want %d applied", applied, err, len(states))
		}
		if again, err := store.Migrate(ctx, opts); err != nil || len(again) != 0 {
			t.Fatalf("second Migrate = %v, %v; want none", again, err)
		}
		states, _ = store.MigrationStatus(ctx, opts)
		for _, s := range states {
			if !s.Applied || s.AppliedAt == 0 {
				t.Errorf("migration %d not applied", s.Version)
			}
		}
		storetest.Open(t, skip) // now current
	})
}

func TestKeys(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		clock := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
		opts := b.Options(t)
		opts.Now = clock.now
		st := storetest.Open(t, opts)
		ks, err := st.KeySet(ctx) // bootstraps the first key
		if err != nil {
			t.Fatal(err)
		}
		first, err := ks.Signer()
		if err != nil || first.Algorithm() != authority.AlgEdDSA {
			t.Fatalf("first signer = %v, %v", first, err)
		}
		var sealed []byte
		if err := st.DB().QueryRowContext(ctx, `SELECT sealed FROM signing_keys`).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, []byte("PRIVATE KEY")) {
			t.Fatal("signing key stored in clear")
		}

		kid, err := st.RotateKey(ctx, store.RotateOptions{Overlap: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ks, _ = st.KeySet(ctx)
		if s, _ := ks.Signer(); s.ID() != kid {
			t.Fatalf("signer after rotation = %s, want %s", s.ID(), kid)
		}
		if _, ok := ks.Lookup(first.ID(), clock.t); !ok {
			t.Fatal("the rotated-out key no longer verifies during the overlap")
		}
		clock.t = clock.t.Add(2 * time.Hour)
		ks, _ = st.KeySet(ctx)
		if _, ok := ks.Lookup(first.ID(), clock.t); ok {
			t.Fatal("the rotated-out key still verifies after the overlap")
		}

		// Another Store with the same secret reads the same keys.
		if ks2, err := storetest.Open(t, opts).KeySet(ctx); err != nil {
			t.Fatal(err)
		} else if s, _ := ks2.Signer(); s.ID() != kid {
			t.Fatalf("second store's signer = %s, want %s", s.ID(), kid)
		}
		wrong := opts
		wrong.KeyEncryptionSecret = []byte("not the secret the keys were sealed with")
		if _, err := store.Open(ctx, wrong); !errors.Is(err, store.ErrWrongKeySecret) {
			t.Fatalf("Open with a wrong secret = %v, want ErrWrongKeySecret", err)
		}
		none := opts
		none.KeyEncryptionSecret = nil
		if _, err := storetest.Open(t, none).KeySet(ctx); !errors.Is(err, store.ErrNoKeySecret) {
			t.Fatalf("KeySet without a secret = %v, want ErrNoKeySecret", err)
		}
	})
}

func TestFeed(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		opts := b.Options(t)
		opts.Now = func() time.Time { return now }
		st := storetest.Open(t, opts)
		for _, r := range []store.RevokeRequest{
			{Kind: revfeed.KindToken, Value: "live-jti", ExpiresAt: now.Add(time.Hour)},
			{Kind: revfeed.KindToken, Value: "expired-jti", ExpiresAt: now.Add(-time.Second)},
			{Kind: revfeed.KindAgent, Value: "agent:rogue"},
			{Kind: revfeed.KindUser, Value: "mallory"},
		} {
			if _, err := st.Revoke(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		ks, err := st.KeySet(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := st.Feed(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		f, err := revfeed.Verify(string(tok), ks, now, 0)
		if err != nil {
			t.Fatal(err)
		}
		if f.Version != 4 || f.Issuer != storetest.Issuer || !slices.Equal(f.Tokens, []string{"live-jti"}) ||
			!slices.Equal(f.Agents, []string{"agent:rogue"}) || !slices.Equal(f.Users, []string{"mallory"}) {
			t.Fatalf("feed = %+v", f)
		}
		if _, err := revfeed.Verify(string(tok), ks, now, 5); !errors.Is(err, revfeed.ErrRollback) {
			t.Fatalf("Verify with a later version known = %v, want ErrRollback", err)
		}

		srv := httptest.NewServer(st.FeedHandler())
		defer srv.Close()
		get := func() *revfeed.Feed {
			t.Helper()
			resp, err := http.Get(srv.URL + store.FeedPath)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/jwt" {
				t.Fatalf("GET feed: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			served, err := revfeed.Verify(string(body), ks, now, f.Version)
			if err != nil {
				t.Fatalf("served feed: %v", err)
			}
			return served
		}
		if v := get().Version; v != 4 {
			t.Fatalf("served version %d, want 4", v)
		}
		if _, err := st.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindUser, Value: "eve"}); err != nil {
			t.Fatal(err)
		}
		if served := get(); served.Version != 5 || !slices.Contains(served.Users, "eve") {
			t.Fatalf("after a revocation the handler served %+v", served)
		}
		resp, err := http.Post(srv.URL+store.FeedPath, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("POST feed: %d", resp.StatusCode)
		}
		if n, err := st.PruneRevocations(ctx, now); err != nil || n != 1 {
			t.Fatalf("PruneRevocations = %d, %v; want 1", n, err)
		}
	})
}

func TestSessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		st := storetest.Open(t, b.Options(t))
		s1 := store.Session{ID: "s1", User: "alice", Agents: []string{"agent:planner", "agent:executor"}, Client: "cli",
			Upstream: "expenses", ProtocolVersion: "2025-06-18", TokenID: "jti-1", Started: t0}
		if err := st.CreateSession(ctx, s1); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateSession(ctx, s1); !errors.Is(err, store.ErrExists) {
			t.Fatalf("duplicate CreateSession = %v, want ErrExists", err)
		}
		if err := st.CreateSession(ctx, store.Session{ID: "s2", User: "bob", Agents: []string{"agent:x"}, Upstream: "crm", Started: t0}); err != nil {
			t.Fatal(err)
		}
		for _, a := range []store.SessionActivity{
			{At: t0.Add(time.Minute), Allowed: 1, Spent: authority.MustDecimal("19.99"), UpstreamSessionID: "up-1"},
			{At: t0.Add(2 * time.Minute), Allowed: 1, Denied: 2, Spent: authority.MustDecimal("0.01")},
		} {
			if err := st.TouchSession(ctx, "s1", a); err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.GetSession(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		if got.CallsAllowed != 2 || got.CallsDenied != 2 || got.AmountSpent.String() != "20" || got.UpstreamSessionID != "up-1" ||
			!got.LastActivity.Equal(t0.Add(2*time.Minute)) || got.State != store.SessionLive || !slices.Equal(got.Agents, s1.Agents) {
			t.Fatalf("session = %+v", got)
		}
		list, err := st.ListSessions(ctx, store.SessionFilter{Agent: "agent:executor", State: store.SessionLive})
		if err != nil || len(list) != 1 || list[0].ID != "s1" {
			t.Fatalf("ListSessions(agent) = %+v, %v", list, err)
		}
		if changed, err := st.MarkKilled(ctx, "s1", "user revoked", t0.Add(3*time.Minute)); err != nil || !changed {
			t.Fatalf("MarkKilled = %v, %v", changed, err)
		}
		if changed, err := st.CloseSession(ctx, "s1", "bye", time.Time{}); err != nil || changed {
			t.Fatalf("CloseSession of a killed session = %v, %v; want unchanged", changed, err)
		}
		got, _ = st.GetSession(ctx, "s1")
		if got.State != store.SessionKilled || got.EndReason != "user revoked" || !got.Ended.Equal(t0.Add(3*time.Minute)) {
			t.Fatalf("killed session = %+v", got)
		}
		if list, _ := st.ListSessions(ctx, store.SessionFilter{State: store.SessionLive}); len(list) != 1 || list[0].ID != "s2" {
			t.Fatalf("live sessions = %+v", list)
		}
		if _, err := st.GetSession(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetSession(nope) = %v", err)
		}
		if err := st.TouchSession(ctx, "nope", store.SessionActivity{}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("TouchSession(nope) = %v", err)
		}
		if _, err := st.MarkKilled(ctx, "nope", "", time.Time{}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("MarkKilled(nope) = %v", err)
		}
	})
}

// TestTouchSessions: a gateway's flush records every session's activity in
// one transaction and names the sessions the store does not know (their
// activity is not recorded, the others' is).
func TestTouchSessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		st := storetest.Open(t, b.Options(t))
		for _, id := range []string{"a", "b"} {
			if err := st.CreateSession(ctx, store.Session{ID: id, User: "alice", Agents: []string{"agent:x"}, Upstream: "crm", Started: t0}); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			notFound, err := st.TouchSessions(ctx, map[string]store.SessionActivity{
				"a":    {At: t0.Add(time.Minute), Allowed: 2, Spent: authority.MustDecimal("1.50")},
				"b":    {At: t0.Add(2 * time.Minute), Denied: 1},
				"gone": {At: t0.Add(time.Minute), Allowed: 7},
			})
			if err != nil || !slices.Equal(notFound, []string{"gone"}) {
				t.Fatalf("TouchSessions = %v, %v; want [gone]", notFound, err)
			}
		}
		a, _ := st.GetSession(ctx, "a")
		bs, _ := st.GetSession(ctx, "b")
		if a.CallsAllowed != 4 || a.AmountSpent.String() != "3" || !a.LastActivity.Equal(t0.Add(time.Minute)) ||
			bs.CallsDenied != 2 || bs.CallsAllowed != 0 || !bs.LastActivity.Equal(t0.Add(2*time.Minute)) {
			t.Fatalf("a = %+v\nb = %+v", a, bs)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := store.Open(ctx, store.Options{DatabaseURL: "mysql://x"}); err == nil || !strings.Contains(err.Error(), "unsupported database URL") {
		t.Errorf("Open(mysql) = %v", err)
	}
	if _, err := store.Open(ctx, store.Options{DataDir: t.TempDir(), KeyEncryptionSecret: []byte("short")}); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("Open with a short secret = %v", err)
	}
	for _, b := range storetest.Backends(t) {
		if !b.Postgres() {
			continue
		}
		opts := b.Options(t)
		opts.DatabaseURL = strings.Replace(opts.DatabaseURL, "search_path=legant_test_", "search_path=missing_", 1)
		if _, err := store.Open(ctx, opts); err == nil || !strings.Contains(err.Error(), "no existing schema") {
			t.Errorf("Open with a missing schema = %v", err)
		}
	}
}

// TestMigrationConnectionsDropped: the pool keeps no PostgreSQL connection
// that ran the migrations (such a backend stays slow, see dropConnections):
// their backends are gone once Open returns and the store works on new ones.
func TestMigrationConnectionsDropped(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st := storetest.Open(t, b.Options(t))
		ctx := context.Background()
		if err := st.Audit().Append(ctx, event(1)); err != nil {
			t.Fatal(err)
		}
		pids := st.MigrationPIDs()
		if !b.Postgres() {
			if len(pids) != 0 {
				t.Fatalf("SQLite recorded backends %v", pids)
			}
			return
		}
		if len(pids) == 0 {
			t.Fatal("no migration backend recorded")
		}
		var live int
		for range 100 { // a closed connection's backend exits just after
			if err := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)`, pids).Scan(&live); err != nil {
				t.Fatal(err)
			}
			if live == 0 {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%d of the migration backends %v still connected", live, pids)
	})
}

// TestSessionsCreatedTogether: sessions created at once share transactions
// (fewer groups than sessions), every one is stored, and of two creates of
// one id exactly one succeeds and the other gets ErrExists.
func TestSessionsCreatedTogether(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		const n = 64
		errs := make([]error, 2*n)
		var wg sync.WaitGroup
		for i := range 2 * n { // each id twice
			wg.Go(func() {
				errs[i] = st.CreateSession(ctx, store.Session{ID: fmt.Sprintf("s%d", i%n), User: "alice", Upstream: "crm"})
			})
		}
		wg.Wait()
		for i := range n {
			a, b := errs[i], errs[i+n]
			ok := (a == nil) != (b == nil)
			if !ok || (a != nil && !errors.Is(a, store.ErrExists)) || (b != nil && !errors.Is(b, store.ErrExists)) {
				t.Errorf("s%d: creates returned %v and %v, want one nil and one ErrExists", i, a, b)
			}
			if _, err := st.GetSession(ctx, fmt.Sprintf("s%d", i)); err != nil {
				t.Errorf("s%d not stored: %v", i, err)
			}
		}
		if g := st.WriteGroups(); g >= 2*n {
			t.Errorf("%d creates took %d transactions: none shared", 2*n, g)
		} else {
			t.Logf("%d creates in %d transactions", 2*n, g)
		}
	})
}

// TestSessionsEndedTogether: ends written at once share transactions, and
// each keeps its own outcome: of a close and a kill of one live session
// exactly one changes it, and an unknown id gets ErrNotFound.
func TestSessionsEndedTogether(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		const n = 32
		for i := range n {
			if err := st.CreateSession(ctx, store.Session{ID: fmt.Sprintf("s%d", i), User: "alice", Upstream: "crm"}); err != nil {
				t.Fatal(err)
			}
		}
		before := st.WriteGroups()
		changed := make([]bool, 2*n)
		errs := make([]error, 2*n)
		var unknown error
		var wg sync.WaitGroup
		for i := range 2 * n {
			wg.Go(func() {
				id := fmt.Sprintf("s%d", i%n)
				if i < n {
					changed[i], errs[i] = st.CloseSession(ctx, id, "closed", time.Time{})
				} else {
					changed[i], errs[i] = st.MarkKilled(ctx, id, "killed", time.Time{})
				}
			})
		}
		wg.Go(func() { _, unknown = st.CloseSession(ctx, "nobody", "closed", time.Time{}) })
		wg.Wait()
		for i := range n {
			if errs[i] != nil || errs[i+n] != nil || changed[i] == changed[i+n] {
				t.Errorf("s%d: close = %v, %v; kill = %v, %v; want exactly one change", i, changed[i], errs[i], changed[i+n], errs[i+n])
			}
			se, err := st.GetSession(ctx, fmt.Sprintf("s%d", i))
			want := store.SessionClosed
			if changed[i+n] {
				want = store.SessionKilled
			}
			if err != nil || se.State != want {
				t.Errorf("s%d: state %v, %v; want %s", i, se, err, want)
			}
		}
		if !errors.Is(unknown, store.ErrNotFound) {
			t.Errorf("ending an unknown session = %v, want ErrNotFound", unknown)
		}
		if g := st.WriteGroups() - before; g >= 2*n+1 {
			t.Errorf("%d ends took %d transactions: none shared", 2*n+1, g)
		} else {
			t.Logf("%d ends in %d transactions", 2*n+1, g)
		}
	})
}

// TestSQLiteTransactionsQueue: on SQLite the process's transactions wait
// for the one in progress in a queue, not in SQLite's busy handler (which
// polls with growing sleeps and lets any poller in first): eight queued
// behind a held transaction run in the order they asked, once it commits;
// one whose context ends while queued gives up with the context's error,
// writes nothing, and does not hold up the others.
func TestSQLiteTransactionsQueue(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, store.Options{KeyEncryptionSecret: storetest.Secret, Issuer: storetest.Issuer, DataDir: t.TempDir()})
	if _, err := st.DB().Exec(`CREATE TABLE q (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	insert := func(ctx context.Context, n int) error {
		return st.InTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO q VALUES ($1)`, n)
			return err
		})
	}
	waitQueued := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for st.QueuedTransactions() != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d transactions queued, want %d", st.QueuedTransactions(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	holding, release := make(chan struct{}), make(chan struct{})
	errs := make(chan error, 10)
	go func() {
		errs <- st.InTx(ctx, func(tx *sql.Tx) error {
			close(holding)
			<-release
			_, err := tx.Exec(`INSERT INTO q VALUES (0)`)
			return err
		})
	}()
	<-holding
	short, cancel := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	queued := 0
	for n := 1; n <= 8; n++ {
		if n == 4 { // this one's context ends while it waits
			go func() { gaveUp <- insert(short, 99) }()
			queued++
			waitQueued(queued)
		}
		go func() { errs <- insert(ctx, n) }()
		queued++
		waitQueued(queued)
	}
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("a queued transaction whose context ended: %v, want context.Canceled", err)
	}
	waitQueued(8)
	close(release)
	for range 9 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var got []int
	rows, err := st.DB().Query(`SELECT n FROM q ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(got, want) {
		t.Fatalf("rows in commit order %v, want %v", got, want)
	}
}

package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// TestConnectState: a pending authorization stored through one Store is
// taken through another on the same database exactly once (concurrent takers
// included), is refused once expired, and keeps its verifier sealed and its
// state hashed; a client registration is shared, the first stored wins, and
// its secret is sealed and bound to its row.
func TestConnectState(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		var clock atomic.Int64
		clock.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
		opts := b.Options(t)
		opts.Now = func() time.Time { return time.Unix(0, clock.Load()) }
		a := storetest.Open(t, opts)
		other := storetest.Open(t, opts) // another replica on the same database
		now := opts.Now()

		const state, verifier = "state-9f2c41d7e0", "verifier-c0ffee5b7a4d2e19"
		p := store.PendingConnect{State: state, User: "alice", Upstream: "hosted", Verifier: verifier, Server: `{"resource":"r"}`,
			Scope: "read offline_access", Elicitation: "el-1", Session: "sess-1", ExpiresAt: now.Add(10 * time.Minute)}
		if err := a.PutPendingConnect(ctx, p); err != nil {
			t.Fatal(err)
		}
		// At rest: neither the state nor the verifier in the clear.
		var hash string
		var sealed []byte
		if err := a.DB().QueryRowContext(ctx, `SELECT state_hash, verifier FROM upstream_connect_pending`).Scan(&hash, &sealed); err != nil {
			t.Fatal(err)
		}
		if hash == state || bytes.Contains(sealed, []byte(verifier)) {
			t.Errorf("state or verifier stored in the clear")
		}
		// Taken once, through the other Store, by one of several concurrent takers.
		var wg sync.WaitGroup
		var got atomic.Int32
		var taken atomic.Pointer[store.PendingConnect]
		for _, st := range []*store.Store{a, other, a, other} {
			wg.Go(func() {
				q, err := st.TakePendingConnect(ctx, state)
				if err == nil {
					got.Add(1)
					taken.Store(q)
				} else if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("take: %v", err)
				}
			})
		}
		wg.Wait()
		if n := got.Load(); n != 1 {
			t.Fatalf("the pending authorization was taken %d times, want once", n)
		}
		q := taken.Load()
		if q.Verifier != verifier || q.User != "alice" || q.Upstream != "hosted" || q.Server != p.Server || q.Scope != p.Scope ||
			q.Elicitation != "el-1" || q.Session != "sess-1" || !q.ExpiresAt.Equal(p.ExpiresAt) {
			t.Errorf("taken = %+v", q)
		}
		// A row whose server was changed in the database does not open.
		p.State = "state-tampered"
		if err := a.PutPendingConnect(ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := a.DB().ExecContext(ctx, `UPDATE upstream_connect_pending SET server = '{"resource":"https://evil.example"}'`); err != nil {
			t.Fatal(err)
		}
		if q, err := other.TakePendingConnect(ctx, "state-tampered"); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("a tampered pending authorization opened: %+v, %v", q, err)
		}
		// Expired: refused, and gone.
		p.State = "state-expiring"
		if err := a.PutPendingConnect(ctx, p); err != nil {
			t.Fatal(err)
		}
		clock.Add(int64(10 * time.Minute))
		if _, err := other.TakePendingConnect(ctx, "state-expiring"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired pending authorization: %v, want ErrNotFound", err)
		}
		// Storing another drops the expired ones.
		p.State, p.ExpiresAt = "state-late", opts.Now().Add(time.Minute)
		p2 := p
		p2.State, p2.ExpiresAt = "state-stale", opts.Now().Add(time.Second)
		if err := a.PutPendingConnect(ctx, p2); err != nil {
			t.Fatal(err)
		}
		clock.Add(int64(2 * time.Second))
		if err := a.PutPendingConnect(ctx, p); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := a.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM upstream_connect_pending`).Scan(&n); err != nil || n != 1 {
			t.Errorf("%d pending rows after the expired were dropped, want 1 (%v)", n, err)
		}

		// Revoking the user ends the user's flows in progress.
		if _, err := a.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindUser, Value: "alice", Reason: "left"}); err != nil {
			t.Fatal(err)
		}
		if _, err := other.TakePendingConnect(ctx, "state-late"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a revoked user's pending authorization: %v, want ErrNotFound", err)
		}

		// Registrations: the first stored wins, on every replica.
		const key, secret = "hosted\x00https://as.example\x00/register\x00https://gw/connect/callback", "client-secret-4b8d0e"
		if _, err := other.ClientRegistration(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("registration before any: %v", err)
		}
		first, err := a.PutClientRegistration(ctx, key, store.ClientRegistration{Upstream: "hosted", Issuer: "https://as.example",
			ClientID: "client-a", ClientSecret: secret, AuthMethod: "client_secret_basic"})
		if err != nil || first.ClientID != "client-a" || first.ClientSecret != secret {
			t.Fatalf("put = %+v, %v", first, err)
		}
		kept, err := other.PutClientRegistration(ctx, key, store.ClientRegistration{Upstream: "hosted", Issuer: "https://as.example",
			ClientID: "client-b", ClientSecret: "other", AuthMethod: "none"})
		if err != nil || kept.ClientID != "client-a" || kept.ClientSecret != secret || kept.AuthMethod != "client_secret_basic" {
			t.Errorf("second put = %+v, %v; want the first kept", kept, err)
		}
		r, err := other.ClientRegistration(ctx, key)
		if err != nil || r.ClientID != "client-a" || r.ClientSecret != secret {
			t.Errorf("get = %+v, %v", r, err)
		}
		// Dropping it for another client id leaves it (a replica refused an
		// older client); for its own, removes it for every replica.
		if err := other.DeleteClientRegistration(ctx, key, "client-b"); err != nil {
			t.Fatal(err)
		}
		if r, err := a.ClientRegistration(ctx, key); err != nil || r.ClientID != "client-a" {
			t.Fatalf("after dropping another client: %+v, %v", r, err)
		}
		if err := other.DeleteClientRegistration(ctx, key, "client-a"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.ClientRegistration(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after dropping it: %v, want ErrNotFound", err)
		}
		if _, err := a.PutClientRegistration(ctx, key, store.ClientRegistration{Upstream: "hosted", Issuer: "https://as.example",
			ClientID: "client-a", ClientSecret: secret, AuthMethod: "client_secret_basic"}); err != nil {
			t.Fatal(err)
		}
		var blob []byte
		if err := a.DB().QueryRowContext(ctx, `SELECT secret FROM upstream_client_registrations`).Scan(&blob); err != nil || bytes.Contains(blob, []byte(secret)) {
			t.Errorf("client secret stored in the clear (%v)", err)
		}
		// A sealed secret moved to another client id does not open.
		if _, err := a.DB().ExecContext(ctx, `UPDATE upstream_client_registrations SET client_id = 'client-x'`); err != nil {
			t.Fatal(err)
		}
		if _, err := other.ClientRegistration(ctx, key); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("a tampered registration opened: %v", err)
		}
	})
}

// BenchmarkConnectState measures what the connect flow adds to the store:
// one pending authorization stored (connect page) and taken (callback).
//
//	LEGANT_TEST_DATABASE_URL=… go test ./issuer/store -run '^$' -bench ConnectState -benchtime 2000x
func BenchmarkConnectState(b *testing.B) {
	for _, be := range storetest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			st := storetest.Open(b, be.Options(b))
			ctx := context.Background()
			exp := time.Now().Add(10 * time.Minute)
			b.ResetTimer()
			for i := range b.N {
				state := fmt.Sprintf("state-%d", i)
				if err := st.PutPendingConnect(ctx, store.PendingConnect{State: state, User: "alice", Upstream: "hosted",
					Verifier: "verifier-0123456789abcdef0123456789abcdef0123", Server: `{"resource":"https://up.example/mcp"}`,
					Scope: "read offline_access", ExpiresAt: exp}); err != nil {
					b.Fatal(err)
				}
				if _, err := st.TakePendingConnect(ctx, state); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

func claims(sub, jti, delegation, parent string, agents ...string) *authority.Claims {
	return &authority.Claims{Subject: sub, ID: jti, DelegationID: delegation, ParentID: parent, Actor: authority.NewActor(agents...)}
}

func TestRevoke(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		// root → child → grandchild, and an unrelated sibling tree.
		for _, d := range []store.Delegation{
			{ID: "root", User: "alice", Agents: []string{"agent:planner"}},
			{ID: "child", ParentID: "root", User: "alice", Agents: []string{"agent:planner", "agent:executor"}},
			{ID: "grandchild", ParentID: "child", User: "alice"},
			{ID: "other", User: "bob"},
		} {
			if err := st.CreateDelegation(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		got := make(chan store.Revocation, 16)
		defer st.Revocations().Subscribe(func(r store.Revocation) { got <- r })()

		added, err := st.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindDelegation, Value: "child", Reason: "compromised"})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range added {
			ids = append(ids, r.Value)
		}
		if !slices.Equal(ids, []string{"child", "grandchild"}) {
			t.Fatalf("revoked %v, want child and grandchild", ids)
		}
		for range 2 {
			<-got // delivered to subscribers before Revoke returned
		}
		rs := st.Revocations()
		tests := []struct {
			name    string
			c       *authority.Claims
			revoked bool
		}{
			{"token of the revoked delegation", claims("alice", "t1", "child", "root", "agent:planner", "agent:executor"), true},
			{"token of a stored descendant", claims("alice", "t2", "grandchild", "child"), true},
			{"token of an unstored child (parent revoked)", claims("alice", "t3", "unknown", "child"), true},
			{"token of the parent", claims("alice", "t4", "root", ""), false},
			{"unrelated", claims("bob", "t5", "other", ""), false},
		}
		for _, tt := range tests {
			if _, revoked := rs.Revoked(tt.c); revoked != tt.revoked {
				t.Errorf("%s: revoked = %v, want %v", tt.name, revoked, tt.revoked)
			}
		}
		// A revoked sub-tree cannot grow.
		err = st.CreateDelegation(ctx, store.Delegation{ID: "late", ParentID: "grandchild"})
		if !errors.Is(err, store.ErrRevoked) {
			t.Fatalf("CreateDelegation under a revoked ancestor = %v, want ErrRevoked", err)
		}
		// Revoking again adds nothing.
		if again, err := st.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindDelegation, Value: "child"}); err != nil || again != nil {
			t.Fatalf("second Revoke = %v, %v; want nothing", again, err)
		}
		v := rs.Version()
		for _, req := range []store.RevokeRequest{
			{Kind: revfeed.KindToken, Value: "t5"},
			{Kind: revfeed.KindAgent, Value: "agent:executor"},
			{Kind: revfeed.KindUser, Value: "bob"},
		} {
			if _, err := st.Revoke(ctx, req); err != nil {
				t.Fatal(err)
			}
		}
		if rs.Version() != v+3 {
			t.Errorf("version = %d, want %d", rs.Version(), v+3)
		}
		if why, revoked := rs.Revoked(claims("carol", "t9", "x", "", "agent:planner", "agent:executor")); !revoked || why != "agent agent:executor revoked" {
			t.Errorf("agent revocation: %q %v", why, revoked)
		}
		if _, revoked := rs.Revoked(claims("bob", "t10", "y", "")); !revoked {
			t.Error("user revocation not applied")
		}
		if _, err := st.Revoke(ctx, store.RevokeRequest{Kind: "session", Value: "x"}); err == nil {
			t.Error("Revoke of an unknown kind succeeded")
		}
	})
}

// TestRevocationAcrossStores: two Stores on one database; a revocation made
// through one reaches the other's set and subscribers (PostgreSQL:
// LISTEN/NOTIFY; SQLite: polling). The delay over 100 revocations is logged.
func TestRevocationAcrossStores(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		opts := b.Options(t)
		opts.PollInterval = 5 * time.Millisecond // SQLite only
		a, other := storetest.Open(t, opts), storetest.Open(t, opts)
		type arrival struct {
			r  store.Revocation
			at time.Time
		}
		seen := make(chan arrival, 1)
		defer other.Revocations().Subscribe(func(r store.Revocation) { seen <- arrival{r, time.Now()} })()

		const n = 100
		delays := make([]time.Duration, 0, n)
		for i := range n {
			jti := fmt.Sprintf("jti-%d", i)
			start := time.Now()
			if _, err := a.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindToken, Value: jti}); err != nil {
				t.Fatal(err)
			}
			got := <-seen
			r := got.r
			delays = append(delays, got.at.Sub(start))
			if r.Value != jti {
				t.Fatalf("other store saw %q, want %q", r.Value, jti)
			}
			if _, revoked := other.Revocations().Revoked(claims("u", jti, "", "")); !revoked {
				t.Fatalf("%s delivered but not in the other store's set", jti)
			}
		}
		slices.Sort(delays)
		t.Logf("%s: from Revoke called to delivery in another store: p50 %v, p99 %v, max %v (n=%d)",
			b.Name, delays[n/2], delays[n*99/100], delays[n-1], n)
	})
}

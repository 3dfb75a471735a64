package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

func TestOAuthClients(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		c := store.OAuthClient{ID: "c1", SecretHash: "abc", Name: "Planner", URI: "https://planner.example",
			RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: []string{"authorization_code"},
			AuthMethod: "client_secret_basic", Scope: "a b", Metadata: []byte(`{"client_name":"Planner"}`),
			CreatedAt: time.Unix(100, 0).UTC()}
		if err := st.CreateOAuthClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateOAuthClient(ctx, c); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second create = %v, want ErrExists", err)
		}
		got, err := st.GetOAuthClient(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&c, got); diff != "" {
			t.Errorf("client (-want +got):\n%s", diff)
		}
		if _, err := st.GetOAuthClient(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing client = %v, want ErrNotFound", err)
		}
	})
}

func TestUsersAndLoginSessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		if err := st.CreateUser(ctx, store.User{Name: "alice", PasswordHash: "h1"}); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateUser(ctx, store.User{Name: "alice", PasswordHash: "h2"}); !errors.Is(err, store.ErrExists) {
			t.Fatalf("duplicate user = %v", err)
		}
		now := time.Now()
		ls := store.LoginSession{IDHash: "s1", User: "alice", ExpiresAt: now.Add(time.Hour)}
		if err := st.CreateLoginSession(ctx, ls); err != nil {
			t.Fatal(err)
		}
		if got, err := st.GetLoginSession(ctx, "s1", now); err != nil || got.User != "alice" {
			t.Fatalf("session = %+v, %v", got, err)
		}
		if _, err := st.GetLoginSession(ctx, "s1", now.Add(2*time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired session = %v, want ErrNotFound", err)
		}
		// A password change ends the user's sessions.
		st.CreateLoginSession(ctx, store.LoginSession{IDHash: "s2", User: "alice", ExpiresAt: now.Add(time.Hour)})
		if err := st.UpdateUser(ctx, store.User{Name: "alice", PasswordHash: "h3"}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetLoginSession(ctx, "s2", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("session after password change = %v, want ErrNotFound", err)
		}
		// A disabled user's sessions are refused.
		st.CreateLoginSession(ctx, store.LoginSession{IDHash: "s3", User: "alice", ExpiresAt: now.Add(time.Hour)})
		st.DB().ExecContext(ctx, `UPDATE oauth_users SET disabled = 1 WHERE username = 'alice'`)
		if _, err := st.GetLoginSession(ctx, "s3", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("disabled user's session = %v, want ErrNotFound", err)
		}
		u, err := st.GetUser(ctx, "alice")
		if err != nil || u.PasswordHash != "h3" || !u.Disabled {
			t.Fatalf("user = %+v, %v", u, err)
		}
		users, err := st.ListUsers(ctx)
		if err != nil || len(users) != 1 || users[0].PasswordHash != "" {
			t.Fatalf("list = %+v, %v", users, err)
		}
		if err := st.DeleteUser(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteUser(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete = %v", err)
		}
	})
}

func testGrant(id, parent string, agents ...string) store.Grant {
	c := authority.Unrestricted()
	c.Tools = authority.Only("submit_expense")
	c.MaxAmount = &authority.Money{Value: authority.MustDecimal("200"), Currency: "USD"}
	return store.Grant{DelegationID: id, ParentID: parent, User: "alice", Agents: agents, ClientID: "c1",
		Resource: "https://gw.example/mcp/expenses", Scopes: []string{"expenses:write"}, Constraints: c,
		CreatedAt: time.Unix(1000, 0).UTC(), ExpiresAt: time.Unix(5000, 0).UTC()}
}

func TestGrants(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		root, child := testGrant("d1", "", "c1"), testGrant("d2", "d1", "c1", "c2")
		for _, g := range []store.Grant{root, child} {
			if err := st.CreateGrant(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.GetGrant(ctx, "d2")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&child, got); diff != "" {
			t.Errorf("grant (-want +got):\n%s", diff)
		}
		if _, err := st.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindDelegation, Value: "d1", Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		list, err := st.ListGrants(ctx, "alice")
		if err != nil || len(list) != 2 {
			t.Fatalf("list = %+v, %v", list, err)
		}
		for _, g := range list {
			if g.RevokedVersion == 0 {
				t.Errorf("grant %s not revoked with its ancestor", g.DelegationID)
			}
		}
		if err := st.CreateGrant(ctx, testGrant("d3", "d1", "c1", "c3")); !errors.Is(err, store.ErrRevoked) {
			t.Fatalf("grant under a revoked one = %v, want ErrRevoked", err)
		}
		if _, err := st.GetGrant(ctx, "zz"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing grant = %v", err)
		}
	})
}

func TestAuthCodeRedeemedOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		now := time.Now()
		code := store.AuthCode{Hash: "h", ClientID: "c1", User: "alice", RedirectURI: "http://127.0.0.1/cb",
			Challenge: "ch", Resource: "https://gw.example/mcp/x", DelegationID: "d1", ExpiresAt: now.Add(time.Minute)}
		if err := st.CreateAuthCode(ctx, code); err != nil {
			t.Fatal(err)
		}
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = st.RedeemAuthCode(ctx, "h", now)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrCodeUsed):
				t.Errorf("redeem = %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d redemptions succeeded, want exactly 1", ok)
		}
		if c, err := st.RedeemAuthCode(ctx, "h", now); !errors.Is(err, store.ErrCodeUsed) || c.DelegationID != "d1" {
			t.Fatalf("replay = %+v, %v; want the code and ErrCodeUsed", c, err)
		}
		if _, err := st.RedeemAuthCode(ctx, "other", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown code = %v", err)
		}
		if n, err := st.PruneAuthCodes(ctx, now.Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("prune = %d, %v", n, err)
		}
	})
}

func TestRefreshRotationAndReuse(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		now := time.Now()
		exp := now.Add(time.Hour)
		if err := st.CreateRefreshToken(ctx, store.RefreshToken{Hash: "r1", DelegationID: "d1", ClientID: "c1", ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		old, err := st.RotateRefreshToken(ctx, "r1", store.RefreshToken{Hash: "r2", ExpiresAt: exp}, now)
		if err != nil || old.DelegationID != "d1" {
			t.Fatalf("rotate = %+v, %v", old, err)
		}
		r2, err := st.GetRefreshToken(ctx, "r2")
		if err != nil || r2.DelegationID != "d1" || r2.ClientID != "c1" || !r2.Active(now) {
			t.Fatalf("next = %+v, %v", r2, err)
		}
		// Reusing r1 revokes the family: r2 is dead too.
		if _, err := st.RotateRefreshToken(ctx, "r1", store.RefreshToken{Hash: "r3", ExpiresAt: exp}, now); !errors.Is(err, store.ErrRefreshReused) {
			t.Fatalf("reuse = %v, want ErrRefreshReused", err)
		}
		if _, err := st.RotateRefreshToken(ctx, "r2", store.RefreshToken{Hash: "r4", ExpiresAt: exp}, now); !errors.Is(err, store.ErrRefreshReused) {
			t.Fatalf("rotating a revoked family member = %v, want ErrRefreshReused", err)
		}
		if _, err := st.GetRefreshToken(ctx, "r3"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("reuse created a token: %v", err)
		}
		// Expired and unknown tokens.
		st.CreateRefreshToken(ctx, store.RefreshToken{Hash: "e1", DelegationID: "d2", ExpiresAt: now.Add(-time.Second)})
		if _, err := st.RotateRefreshToken(ctx, "e1", store.RefreshToken{Hash: "e2", ExpiresAt: exp}, now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired = %v, want ErrNotFound", err)
		}
		if _, err := st.RotateRefreshToken(ctx, "zz", store.RefreshToken{Hash: "e3", ExpiresAt: exp}, now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown = %v, want ErrNotFound", err)
		}
		st.CreateRefreshToken(ctx, store.RefreshToken{Hash: "f1", DelegationID: "d3", ExpiresAt: exp})
		if n, err := st.RevokeRefreshFamily(ctx, "d3", now); err != nil || n != 1 {
			t.Fatalf("revoke family = %d, %v", n, err)
		}
	})
}

func TestRefreshConcurrentRotation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		now := time.Now()
		exp := now.Add(time.Hour)
		st.CreateRefreshToken(ctx, store.RefreshToken{Hash: "r", DelegationID: "d", ExpiresAt: exp})
		const n = 6
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = st.RotateRefreshToken(ctx, "r", store.RefreshToken{Hash: fmt.Sprint("n", i), ExpiresAt: exp}, now)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, store.ErrRefreshReused) {
				t.Errorf("rotate = %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d rotations succeeded, want 1", ok)
		}
	})
}

func TestRecordMintCap(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		if err := st.CreateGrant(ctx, testGrant("d1", "", "c1")); err != nil {
			t.Fatal(err)
		}
		now := time.Unix(10_000, 0)
		const limit, tries = 5, 12
		var wg sync.WaitGroup
		errs := make([]error, tries)
		for i := range tries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = st.RecordMint(ctx, "d1", now, limit)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, store.ErrMintLimit) {
				t.Errorf("mint = %v", err)
			}
		}
		if ok != limit {
			t.Fatalf("%d mints recorded, want %d", ok, limit)
		}
		if err := st.RecordMint(ctx, "d1", now.Add(time.Hour), limit); err != nil {
			t.Fatalf("an hour later: %v", err)
		}
		if err := st.RecordMint(ctx, "nope", now, limit); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown grant = %v", err)
		}
	})
}

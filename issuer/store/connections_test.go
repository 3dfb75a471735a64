package store_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// TestConnections: a user's upstream OAuth tokens are sealed at rest, bound
// to their row, replaced on refresh, listed without tokens, and deleted on
// disconnect and when the user is revoked.
func TestConnections(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
		const access, refresh = "upstream-access-5e1f0c2a9b", "upstream-refresh-77d3a6e4c1"
		put := func(user, up, a, r string) {
			t.Helper()
			err := st.PutConnection(ctx, store.Connection{User: user, Upstream: up, AccessToken: a, RefreshToken: r,
				Scope: "read", Issuer: "https://as.example", ClientID: "gw", ExpiresAt: exp})
			if err != nil {
				t.Fatal(err)
			}
		}
		put("alice", "hosted", access, refresh)
		put("alice", "other", "a2", "")
		put("bob", "hosted", "b1", "")

		c, err := st.GetConnection(ctx, "alice", "hosted")
		if err != nil || c.AccessToken != access || c.RefreshToken != refresh || c.Scope != "read" || !c.ExpiresAt.Equal(exp) {
			t.Fatalf("get = %+v, %v", c, err)
		}
		if s := c.String(); strings.Contains(s, access) || strings.Contains(s, refresh) {
			t.Errorf("String shows a token: %s", s)
		}
		// At rest: no token in the clear.
		rows, err := st.DB().QueryContext(ctx, `SELECT tokens FROM upstream_connections`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var blob []byte
			if err := rows.Scan(&blob); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(blob, []byte(access)) || bytes.Contains(blob, []byte(refresh)) {
				t.Errorf("a token is stored in the clear")
			}
		}
		rows.Close()
		// Sealed tokens copied onto another row do not open.
		if _, err := st.DB().ExecContext(ctx, `UPDATE upstream_connections SET tokens = (SELECT tokens FROM upstream_connections WHERE username = 'alice' AND upstream = 'hosted') WHERE username = 'bob'`); err != nil {
			t.Fatal(err)
		}
		if c, err := st.GetConnection(ctx, "bob", "hosted"); err == nil {
			t.Fatalf("alice's tokens opened as bob's: %v", c.AccessToken == access)
		}
		// A refresh with rotation replaces both tokens.
		put("alice", "hosted", "rotated-access", "rotated-refresh")
		if c, err := st.GetConnection(ctx, "alice", "hosted"); err != nil || c.AccessToken != "rotated-access" || c.RefreshToken != "rotated-refresh" {
			t.Fatalf("after rotation: %+v, %v", c, err)
		}
		list, err := st.ListConnections(ctx, "alice")
		if err != nil || len(list) != 2 || list[0].Upstream != "hosted" || list[1].Upstream != "other" || list[0].AccessToken != "" {
			t.Fatalf("list = %+v, %v", list, err)
		}
		// Disconnect one.
		if n, err := st.DeleteConnection(ctx, "alice", "other"); err != nil || n != 1 {
			t.Fatalf("delete = %d, %v", n, err)
		}
		if _, err := st.GetConnection(ctx, "alice", "other"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after disconnect: %v", err)
		}
		// Revoking the user deletes every connection of theirs, no one else's.
		if _, err := st.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindUser, Value: "alice", Reason: "left"}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetConnection(ctx, "alice", "hosted"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after revoking alice: %v", err)
		}
		if all, err := st.ListConnections(ctx, ""); err != nil || len(all) != 1 || all[0].User != "bob" {
			t.Fatalf("after revoking alice: %+v, %v", all, err)
		}
	})
}

// TestConnectTicketKey: one random key per store, the same for every
// process opening it (replicas share their connect tickets), and none
// without the key-encryption secret.
func TestConnectTicketKey(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		opts := b.Options(t)
		k1, err := storetest.Open(t, opts).ConnectTicketKey(ctx)
		if err != nil || len(k1) != 32 {
			t.Fatalf("key = %d bytes, %v", len(k1), err)
		}
		k2, err := storetest.Open(t, opts).ConnectTicketKey(ctx)
		if err != nil || !bytes.Equal(k1, k2) {
			t.Fatalf("a second opening of the store got another key (%v)", err)
		}
		other, err := storetest.Open(t, b.Options(t)).ConnectTicketKey(ctx)
		if err != nil || bytes.Equal(k1, other) {
			t.Fatalf("another store got the same key (%v)", err)
		}
		opts.KeyEncryptionSecret = nil
		if _, err := storetest.Open(t, opts).ConnectTicketKey(ctx); !errors.Is(err, store.ErrNoKeySecret) {
			t.Errorf("without the secret: %v", err)
		}
	})
}

// TestConnectionsRevokedWithDelegations: a connection goes with the
// authority that used it. Revoking a delegation deletes the connections it
// or a delegation below it used (not the others, not another user's);
// revoking an agent deletes those used under a chain holding it; revoking
// a token (a session kill) deletes none; a disconnect forgets the uses, so a
// later revocation of an old user does not reach a new connection.
func TestConnectionsRevokedWithDelegations(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		now := time.Now()
		for _, d := range []store.Delegation{
			{ID: "dlg_root", User: "alice", Agents: []string{"agent:planner"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
			{ID: "dlg_child", ParentID: "dlg_root", User: "alice", Agents: []string{"agent:planner", "agent:executor"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
			{ID: "dlg_other", User: "alice", Agents: []string{"agent:mailer"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
			{ID: "dlg_bob", User: "bob", Agents: []string{"agent:planner"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		} {
			if err := st.CreateDelegation(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		put := func(user, up string) {
			t.Helper()
			if err := st.PutConnection(ctx, store.Connection{User: user, Upstream: up, AccessToken: "tok-" + user + up}); err != nil {
				t.Fatal(err)
			}
		}
		use := func(user, up, dlg string, agents ...string) {
			t.Helper()
			for range 2 { // recording twice is a no-op
				if err := st.RecordConnectionUse(ctx, user, up, dlg, agents); err != nil {
					t.Fatal(err)
				}
			}
		}
		have := func() []string {
			t.Helper()
			all, err := st.ListConnections(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, c := range all {
				out = append(out, c.User+"/"+c.Upstream)
			}
			return out
		}
		put("alice", "github")
		put("alice", "linear")
		put("alice", "notion")
		put("bob", "github")
		use("alice", "github", "dlg_child", "agent:planner", "agent:executor")
		use("alice", "linear", "dlg_other", "agent:mailer")
		use("alice", "notion", "dlg_other", "agent:mailer")
		use("bob", "github", "dlg_bob", "agent:planner")

		// A token revocation (a session kill) leaves connections alone.
		if _, err := st.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindToken, Value: "at_1", Reason: "kill"}); err != nil {
			t.Fatal(err)
		}
		if got := have(); len(got) != 4 {
			t.Fatalf("after a token revocation: %v", got)
		}
		// Revoking the root deletes what its child used; bob's and the
		// other delegation's stay.
		if _, err := st.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindDelegation, Value: "dlg_root", Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(have(), " "); got != "alice/linear alice/notion bob/github" {
			t.Fatalf("after revoking dlg_root: %s", got)
		}
		// A disconnect forgets the uses: reconnected, notion is not deleted
		// by revoking the delegation that used the old connection.
		if _, err := st.DeleteConnection(ctx, "alice", "notion"); err != nil {
			t.Fatal(err)
		}
		put("alice", "notion")
		// Revoking an agent deletes what chains holding it used.
		if _, err := st.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindAgent, Value: "agent:mailer", Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(have(), " "); got != "alice/notion bob/github" {
			t.Fatalf("after revoking agent:mailer: %s", got)
		}
		var uses int
		if err := st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM upstream_connection_uses`).Scan(&uses); err != nil || uses != 1 {
			t.Errorf("use records left = %d, %v; want bob's only", uses, err)
		}
	})
}

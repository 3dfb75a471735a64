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

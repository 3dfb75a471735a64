package store_test

import (
	"context"
	"testing"

	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// TestListenerReconnects kills the listening connection of one store; a
// revocation made meanwhile through another store still reaches it (after
// the reconnect, by notification or by the full resync).
// LISTEN/NOTIFY is PostgreSQL's: the test runs on that backend only (under
// CI=true, storetest fails when PostgreSQL is missing).
func TestListenerReconnects(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		if b.Postgres() {
			t.Run("postgres", func(t *testing.T) { testListenerReconnects(t, b) })
		}
	}
}

func testListenerReconnects(t *testing.T, b storetest.Backend) {
	{
		ctx := context.Background()
		opts := b.Options(t)
		a, other := storetest.Open(t, opts), storetest.Open(t, opts)
		seen := make(chan store.Revocation, 4)
		defer other.Revocations().Subscribe(func(r store.Revocation) { seen <- r })()

		var killed int
		err := a.DB().QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE query = 'LISTEN "' || $1 || '"'`, other.ListenChannel()).Scan(&killed)
		if err != nil || killed != 2 { // both stores listen
			t.Fatalf("terminated %d listeners (%v), want 2", killed, err)
		}
		if _, err := a.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindUser, Value: "mallory"}); err != nil {
			t.Fatal(err)
		}
		if r := <-seen; r.Value != "mallory" {
			t.Fatalf("saw %+v", r)
		}
	}
}

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

func TestConnectionsCLI(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newStoreCLI(t, b)
		opts := store.Options{KeyEncryptionSecret: storetest.Secret, Issuer: storetest.Issuer}
		if b.Postgres() {
			opts.DatabaseURL = s.flags[1]
		} else {
			opts.DataDir = s.flags[1]
		}
		st := storetest.Open(t, opts)
		const access = "upstream-access-token-3b9c"
		for _, up := range []string{"hosted", "other"} {
			if err := st.PutConnection(context.Background(), store.Connection{User: "alice", Upstream: up, AccessToken: access,
				RefreshToken: "refresh-" + up, Scope: "read", Issuer: "https://as.example", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		out, err := s.run(t, "connections", "list")
		if err != nil || !strings.Contains(out, "alice") || !strings.Contains(out, "hosted") || !strings.Contains(out, "https://as.example") {
			t.Fatalf("list = %q, %v", out, err)
		}
		if strings.Contains(out, access) || strings.Contains(out, "refresh-hosted") {
			t.Errorf("list shows a token:\n%s", out)
		}
		out, err = s.run(t, "connections", "revoke", "--user", "alice", "--upstream", "hosted")
		if err != nil || !strings.Contains(out, "deleted 1 connection(s) of alice to hosted") {
			t.Fatalf("revoke = %q, %v", out, err)
		}
		out, err = s.run(t, "connections", "list", "--user", "alice")
		if err != nil || strings.Contains(out, "hosted") || !strings.Contains(out, "other") {
			t.Fatalf("list after revoke = %q, %v", out, err)
		}
		if _, err := s.run(t, "connections", "revoke"); err == nil {
			t.Error("revoke without --user succeeded")
		}
		out, err = s.run(t, "connections", "revoke", "--user", "alice")
		if err != nil || !strings.Contains(out, "deleted 1 connection(s) of alice to every upstream") {
			t.Fatalf("revoke all = %q, %v", out, err)
		}
	})
}

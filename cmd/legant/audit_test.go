package main

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" database/sql driver, to tamper with the tables

	"github.com/openlegant/legant/issuer/store/storetest"
)

// runStoreCmd runs the root command with args and returns stdout and stderr.
func runStoreCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

// storeCLI is a fresh store for one backend, as command-line flags.
type storeCLI struct {
	flags []string
	db    func(t *testing.T) *sql.DB // raw access, for tampering
}

func newStoreCLI(t *testing.T, b storetest.Backend) storeCLI {
	opts := b.Options(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, append(storetest.Secret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--data-dir", opts.DataDir, "--key-secret-file", secretFile}
	driver, dsn := "sqlite", filepath.Join(opts.DataDir, "legant.db")
	if b.Postgres() {
		flags = []string{"--database-url", opts.DatabaseURL, "--key-secret-file", secretFile}
		driver, dsn = "pgx", opts.DatabaseURL
	}
	return storeCLI{flags: flags, db: func(t *testing.T) *sql.DB {
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}}
}

func (s storeCLI) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, _, err := runStoreCmd(t, append(args, s.flags...)...)
	return out, err
}

func TestAuditCLI(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newStoreCLI(t, b)
		for _, who := range []string{"--user=mallory", "--agent=agent:rogue", "--jti=jti-1", "--delegation=d-1"} {
			if _, err := s.run(t, "revoke", who, "--reason", "test"); err != nil {
				t.Fatalf("revoke %s: %v", who, err)
			}
		}
		anchor := filepath.Join(t.TempDir(), "anchor.jws")
		out, err := s.run(t, "audit", "anchor", "--out", anchor)
		if err != nil || !strings.Contains(out, "anchored seq 4") {
			t.Fatalf("audit anchor: %q, %v", out, err)
		}
		out, err = s.run(t, "audit", "verify", "--anchor", anchor)
		if err != nil || !strings.Contains(out, "chain intact; head 4") || !strings.Contains(out, "anchor at seq 4 matches") {
			t.Fatalf("audit verify: %q, %v", out, err)
		}
		out, err = s.run(t, "audit", "tail", "-n", "2")
		if err != nil || strings.Count(out, "\n") != 2 || !strings.HasPrefix(out, "3  ") || !strings.Contains(out, "jti=jti-1") {
			t.Fatalf("audit tail: %q, %v", out, err)
		}
		out, err = s.run(t, "audit", "query", "--user", "mallory", "--since", "1h", "--json")
		if err != nil || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"user":"mallory"`) {
			t.Fatalf("audit query: %q, %v", out, err)
		}
		out, err = s.run(t, "audit", "query", "--agent", "agent:rogue")
		if err != nil || strings.Count(out, "\n") != 1 {
			t.Fatalf("audit query --agent: %q, %v", out, err)
		}

		// Truncate the tail and fix up the head record: only the anchor tells.
		db := s.db(t)
		for _, q := range []string{`DELETE FROM audit_events WHERE seq >= 3`, `UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_events WHERE seq = 2)`} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.run(t, "audit", "verify"); err != nil {
			t.Fatalf("verify without the anchor: %v", err)
		}
		_, err = s.run(t, "audit", "verify", "--anchor", anchor)
		if err == nil || !strings.Contains(err.Error(), "seq 3") || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("verify of a truncated chain = %v, want an error naming seq 3", err)
		}
		if _, err := db.Exec(`UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 1`); err != nil {
			t.Fatal(err)
		}
		if _, err = s.run(t, "audit", "verify"); err == nil || !strings.Contains(err.Error(), "broken at seq 1") {
			t.Fatalf("verify of a modified chain = %v, want an error naming seq 1", err)
		}
	})
}

func TestAuditPruneCLI(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newStoreCLI(t, b)
		for _, u := range []string{"a", "b", "c"} {
			if _, err := s.run(t, "revoke", "--user", u); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := s.run(t, "audit", "prune", "--through", "2"); err != nil || !strings.Contains(out, "pruned through seq 2") {
			t.Fatalf("audit prune: %q, %v", out, err)
		}
		if out, err := s.run(t, "audit", "verify"); err != nil || !strings.Contains(out, "pruned through 2") {
			t.Fatalf("audit verify after prune: %q, %v", out, err)
		}
	})
}

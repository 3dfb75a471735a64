package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/openlegant/legant/issuer/store/storetest"
)

func TestMigrateCLI(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newStoreCLI(t, b)
		out, err := s.run(t, "migrate", "status")
		if err != nil || !regexp.MustCompile(`0001 +init +pending`).MatchString(out) {
			t.Fatalf("migrate status: %q, %v", out, err)
		}
		// Every migration is applied, in order, starting with 0001_init.
		if out, err := s.run(t, "migrate", "up"); err != nil || !strings.HasPrefix(out, "applied 0001_init\n") ||
			strings.Count(out, "applied ") != strings.Count(out, "\n") {
			t.Fatalf("migrate up: %q, %v", out, err)
		}
		if out, err := s.run(t, "migrate", "up"); err != nil || out != "schema is up to date\n" {
			t.Fatalf("second migrate up: %q, %v", out, err)
		}
		if out, err := s.run(t, "migrate", "status"); err != nil || !strings.Contains(out, "applied  20") {
			t.Fatalf("migrate status: %q, %v", out, err)
		}
	})
}

// TestDemoSecret: the embedded store without a secret generates one, 0600,
// says so once, and reuses it.
func TestDemoSecret(t *testing.T) {
	t.Setenv(envKeySecret, "")
	dir := filepath.Join(t.TempDir(), "data")
	_, errOut, err := runStoreCmd(t, "revoke", "--user", "u1", "--data-dir", dir)
	if err != nil || !strings.Contains(errOut, "generated a key-encryption secret") {
		t.Fatalf("first run: %q, %v", errOut, err)
	}
	fi, err := os.Stat(filepath.Join(dir, secretFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v, %v", fi, err)
	}
	anchor := filepath.Join(t.TempDir(), "a.jws")
	_, errOut, err = runStoreCmd(t, "audit", "anchor", "--out", anchor, "--data-dir", dir)
	if err != nil || errOut != "" {
		t.Fatalf("second run (reusing the secret): %q, %v", errOut, err)
	}
}

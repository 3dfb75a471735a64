package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openlegant/legant/issuer/keydir"
)

// runCmd executes the root command in-process with stdin and returns stdout.
func runCmd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// initKeys creates a key directory with one Ed25519 key.
func initKeys(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	if _, err := runCmd(t, "", "keys", "init", "--dir", dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestKeysCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	out, err := runCmd(t, "", "keys", "init", "--dir", dir)
	if err != nil || !strings.Contains(out, "(EdDSA)") {
		t.Fatalf("keys init: %q, %v", out, err)
	}
	if _, err := runCmd(t, "", "keys", "init", "--dir", dir); err == nil {
		t.Fatal("second keys init succeeded")
	}
	out, err = runCmd(t, "", "keys", "rotate", "--dir", dir, "--alg", "rsa")
	if err != nil || !strings.Contains(out, "(RS256)") {
		t.Fatalf("keys rotate: %q, %v", out, err)
	}
	out, err = runCmd(t, "", "keys", "list", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "KID") || !strings.Contains(lines[1], "EdDSA") || !strings.HasSuffix(lines[2], "yes") {
		t.Fatalf("keys list:\n%s", out)
	}
	entries, err := keydir.List(dir)
	if err != nil || len(entries) != 2 || entries[0].RetireAt.IsZero() {
		t.Fatalf("entries %+v, %v", entries, err)
	}
	if _, err := runCmd(t, "", "keys", "rotate", "--dir", dir, "--alg", "dsa"); err == nil {
		t.Fatal("rotate --alg dsa succeeded")
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// runWithStdin runs the CLI with stdin.
func runWithStdin(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&bytes.Buffer{})
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestUsersCLI(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newStoreCLI(t, b)
		pwFile := filepath.Join(t.TempDir(), "pw")
		os.WriteFile(pwFile, []byte("first password\n"), 0o600)
		run := func(stdin string, args ...string) (string, error) {
			return runWithStdin(t, stdin, append(args, s.flags...)...)
		}
		tests := []struct {
			stdin   string
			args    []string
			want    string
			wantErr bool
		}{
			{"", []string{"users", "add", "--user", "alice", "--password-file", pwFile}, "added user alice", false},
			{"other password\n", []string{"users", "add", "--user", "alice"}, "already exists", true},
			{"other password\n", []string{"users", "add", "--user", "bob"}, "added user bob", false},
			{"short\n", []string{"users", "add", "--user", "carol"}, "at least 8", true},
			{"", []string{"users", "add", "--user", "dave"}, "no password given", true},
			{"pw pw pw pw\n", []string{"users", "add", "--user", "a b"}, "without spaces", true},
			{"pw pw pw pw\n", []string{"users", "add"}, `"user" not set`, true},
			{"new password\n", []string{"users", "set-password", "--user", "alice"}, "password of alice replaced", false},
			{"", []string{"users", "list"}, "alice", false},
			{"", []string{"users", "grant-admin", "--user", "alice"}, "alice is an admin", false},
			{"", []string{"users", "list"}, "admin", false},
			{"", []string{"users", "set-email", "--user", "alice", "--email", "alice@example.com"}, "alice@example.com", false},
			{"", []string{"users", "grant-admin", "--user", "nobody"}, "not found", true},
			{"", []string{"users", "grant-admin", "--user", "bob"}, "bob is an admin", false},
			{"", []string{"users", "revoke-admin", "--user", "bob"}, "no longer an admin", false},
			{"", []string{"users", "remove", "--user", "bob"}, "removed user bob", false},
			{"", []string{"users", "remove", "--user", "bob"}, "not found", true},
		}
		for _, tt := range tests {
			out, err := run(tt.stdin, tt.args...)
			got := out
			if err != nil {
				got = err.Error()
			}
			if (err != nil) != tt.wantErr || !strings.Contains(got, tt.want) {
				t.Errorf("%v = %q, %v; want %q (error %v)", tt.args, out, err, tt.want, tt.wantErr)
			}
		}
		out, _ := run("", "users", "list")
		if strings.Contains(out, "bob") || strings.Contains(out, "$argon2id") {
			t.Errorf("list = %q", out)
		}
		st := openCLIStore(t, s)
		u, err := st.GetUser(context.Background(), "alice")
		if err != nil || !strings.HasPrefix(u.PasswordHash, "$argon2id$") || !u.Admin || u.Email != "alice@example.com" {
			t.Fatalf("alice = %+v, %v", u, err)
		}
	})
}

// openCLIStore opens the store the CLI flags name.
func openCLIStore(t *testing.T, s storeCLI) *store.Store {
	t.Helper()
	var f storeFlags
	for i := 0; i+1 < len(s.flags); i += 2 {
		switch s.flags[i] {
		case "--data-dir":
			f.dataDir = s.flags[i+1]
		case "--database-url":
			f.databaseURL = s.flags[i+1]
		case "--key-secret-file":
			f.keySecretFile = s.flags[i+1]
		}
	}
	st, err := f.open(context.Background(), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

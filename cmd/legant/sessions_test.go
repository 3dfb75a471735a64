package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openlegant/legant/gateway/admin"
	"github.com/openlegant/legant/issuer/store"
)

// adminCLI runs commands against a running replica's admin API.
type adminCLI struct{ flags []string }

func newAdminCLI(k *killRig, r *replica) adminCLI {
	return adminCLI{flags: []string{"--admin", r.admin.BaseURL, "--admin-token-file", k.tokenFile}}
}

func (c adminCLI) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	// The flags go right after the command's name: args may end with "--".
	full := append(append([]string{args[0]}, c.flags...), args[1:]...)
	out, _, err := runStoreCmd(t, full...)
	return out, err
}

func TestSessionsCLI(t *testing.T) {
	k := newKillRig(t)
	r := k.replica(t, store.Options{DataDir: t.TempDir()})
	cs := connectAgent(t, r, k.token(t, "jti-cli"), nil)
	cli := newAdminCLI(k, r)

	out, err := cli.run(t, "sessions", "--state", "live")
	if err != nil || !strings.Contains(out, cs.ID()) || !strings.Contains(out, "alice") || !strings.Contains(out, "planner") {
		t.Fatalf("sessions = %q, %v; want a row for %s", out, err, cs.ID())
	}
	if out, err := cli.run(t, "sessions", "--user", "bob"); err != nil || !strings.Contains(out, "no sessions") {
		t.Errorf("sessions --user bob = %q, %v", out, err)
	}
	out, err = cli.run(t, "sessions", "--json", "--agent", "planner")
	var list admin.SessionList
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Sessions) != 1 || list.Sessions[0].TokenID != "jti-cli" {
		t.Errorf("sessions --json = %q, %v", out, err)
	}
	out, err = cli.run(t, "sessions", "--json", "--", cs.ID())
	var one admin.Session
	if err != nil || json.Unmarshal([]byte(out), &one) != nil || one.ID != cs.ID() || one.State != "live" {
		t.Errorf("sessions ID --json = %q, %v", out, err)
	}
	if _, err := cli.run(t, "sessions", "nope"); err == nil || !strings.Contains(err.Error(), "no such session") {
		t.Errorf("sessions of an unknown id: %v", err)
	}
	if _, err := cli.run(t, "sessions", "--state", "dead"); err == nil || !strings.Contains(err.Error(), "state must be") {
		t.Errorf("sessions --state dead: %v", err)
	}

	wrong := filepath.Join(t.TempDir(), "wrong-token")
	os.WriteFile(wrong, []byte(strings.Repeat("x", 64)), 0o600)
	_, _, err = runStoreCmd(t, "sessions", "--admin", r.admin.BaseURL, "--admin-token-file", wrong)
	if err == nil || !strings.Contains(err.Error(), "--admin-token-file") {
		t.Errorf("sessions with a wrong token: %v", err)
	}
}

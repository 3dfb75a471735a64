package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/openlegant/legant/issuer/store"
)

// TestWatchCLI: `legant watch` streams a running gateway's decisions,
// filtered, as JSON lines and as terminal lines.
func TestWatchCLI(t *testing.T) {
	k := newKillRig(t)
	r := k.replica(t, store.Options{DataDir: t.TempDir()})
	cli := newAdminCLI(k, r)
	type run struct {
		out string
		err error
	}
	jsonc, textc := make(chan run, 1), make(chan run, 1)
	go func() {
		out, err := cli.run(t, "watch", "--json", "--kind", "allow", "--backlog", "100", "--count", "2")
		jsonc <- run{out, err}
	}()
	go func() {
		out, err := cli.run(t, "watch", "--color", "always", "--agent", "planner", "--kind", "allow,deny", "--backlog", "100", "--count", "2")
		textc <- run{out, err}
	}()
	cs := connectAgent(t, r, k.token(t, "jti-watch"), nil)
	results := agentLoop(cs, 100)
	for range 2 {
		if res := within(t, results, "a call"); res.err != nil {
			t.Fatal(res.err)
		}
	}
	got := within(t, jsonc, "watch --json")
	if got.err != nil {
		t.Fatalf("watch --json: %v", got.err)
	}
	lines := strings.Split(strings.TrimSpace(got.out), "\n")
	if len(lines) != 2 {
		t.Fatalf("watch --json --count 2 printed %d lines:\n%s", len(lines), got.out)
	}
	for _, l := range lines {
		var e struct {
			Seq     int64    `json:"seq"`
			Kind    string   `json:"kind"`
			User    string   `json:"user"`
			Agents  []string `json:"agents"`
			Session string   `json:"session"`
			Hash    string   `json:"hash"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Kind != "allow" || e.User != "alice" ||
			e.Session != cs.ID() || len(e.Hash) != 64 || e.Seq == 0 {
			t.Errorf("line %s: %+v, %v; want an allow of alice in session %s", l, e, err, cs.ID())
		}
	}
	got = within(t, textc, "watch")
	if got.err != nil {
		t.Fatalf("watch: %v", got.err)
	}
	if n := strings.Count(got.out, "\x1b[32mallow"); n != 2 || !strings.Contains(got.out, "agents=planner") || !strings.Contains(got.out, "session="+cs.ID()) {
		t.Errorf("watch --color always printed:\n%q", got.out)
	}

	bad := adminCLI{flags: []string{"--admin", r.admin.BaseURL, "--admin-token-file", k.tokenFile}}
	if _, err := bad.run(t, "watch", "--color", "sometimes"); err == nil || !strings.Contains(err.Error(), "--color") {
		t.Errorf("watch --color sometimes = %v, want a flag error", err)
	}
}

package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/openlegant/legant/admin"
	"github.com/openlegant/legant/examples/killswitch/slowtool"
	"github.com/openlegant/legant/issuer/store"
)

func TestKillCLI(t *testing.T) {
	k := newKillRig(t)
	r := k.replica(t, store.Options{DataDir: t.TempDir()})
	cli := newAdminCLI(k, r)
	cs := connectAgent(t, r, k.token(t, "jti-kill-cli"), nil)
	results := agentLoop(cs, 0)
	waitUpstream(t, k.up, "the call to start", func(s slowtool.Stats) bool { return s.Started == 1 })

	out, err := cli.run(t, "kill", cs.ID(), "--reason", "looping on payments", "--actor", "oncall")
	if err != nil {
		t.Fatalf("kill: %v\n%s", err, out)
	}
	for _, want := range []string{"killed session=" + cs.ID(), "session " + cs.ID() + " marked killed", "revoked jti jti-kill-cli"} {
		if !strings.Contains(out, want) {
			t.Errorf("kill output lacks %q:\n%s", want, out)
		}
	}
	assertKilled(t, within(t, results, "the in-flight call to end").err)

	out, err = cli.run(t, "kill", "--agent", "planner", "--reason", "contain", "--json")
	var res admin.KillResult
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Selector != "agent=planner" || len(res.Revocations) != 1 {
		t.Errorf("kill --agent --json = %q, %v", out, err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"kill", "--agent", "x"}, `"reason" not set`},
		{[]string{"kill", "--agent", "x", "--user", "y", "--reason", "r"}, "none of the others can be"},
		{[]string{"kill", "--reason", "r"}, "exactly one"},
		{[]string{"kill", "unknown-session", "--reason", "r"}, "no such session"},
	}
	for _, tt := range tests {
		if _, err := cli.run(t, tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want an error with %q", tt.args, err, tt.want)
		}
	}
}

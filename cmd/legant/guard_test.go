package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGuardCLI: check answers a Claude Code payload on stdin (a tripwire
// without any token: the policy alone), fails closed with exit 2 on a bad
// payload; install then uninstall on a temporary HOME leaves settings.json
// byte-identical; demo runs.
func TestGuardCLI(t *testing.T) {
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, "guard.yaml"), []byte("version: 1\ndefault: allow\n"), 0o600)
	base := []string{"guard", "check", "--agent", "claude-code", "--home", home, "--policy", "~/guard.yaml"}
	out, err := runCmd(t, `{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"rm -rf /"}}`, base...)
	if err != nil || !strings.Contains(out, `"permissionDecision":"deny"`) {
		t.Fatalf("check rm -rf /: %q, %v", out, err)
	}
	if out, err := runCmd(t, `{"tool_name":"Bash","tool_input":{"command":"ls"}}`, base...); err != nil || strings.TrimSpace(out) != "{}" {
		t.Fatalf("check ls: %q, %v", out, err)
	}
	var code exitCode
	if _, err := runCmd(t, `garbage`, base...); !errors.As(err, &code) || code != 2 {
		t.Fatalf("bad payload: %v, want exit status 2", err)
	}

	settings := filepath.Join(home, ".claude", "settings.json")
	os.MkdirAll(filepath.Dir(settings), 0o755)
	orig := "{\n  \"model\": \"opus\"\n}\n"
	os.WriteFile(settings, []byte(orig), 0o644)
	out, err = runCmd(t, "", "guard", "install", "--agent", "claude-code", "--home", home)
	if err != nil || !strings.Contains(out, "+ ") || !strings.Contains(out, "guard check --agent claude-code") {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if _, err := runCmd(t, "", "guard", "uninstall", "--agent", "claude-code", "--home", home); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(settings); string(got) != orig {
		t.Fatalf("after uninstall: %q", got)
	}
	if out, err := runCmd(t, "", "guard", "demo"); err != nil || strings.Count(out, `"deny"`) != 6 {
		t.Fatalf("demo: %v\n%s", err, out)
	}
}

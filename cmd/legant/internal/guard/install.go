package guard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ConfigPath is the file Install edits for agent under home:
// Claude Code's user settings, Codex's user hooks.json, or the plugin file
// opencode loads from its global plugin directory.
func ConfigPath(agent Agent, home string) string {
	switch agent {
	case ClaudeCode:
		return filepath.Join(home, ".claude", "settings.json")
	case Codex:
		return filepath.Join(home, ".codex", "hooks.json")
	default:
		return filepath.Join(home, ".config", "opencode", "plugin", "legant-guard.js")
	}
}

// backup is what Install keeps beside the file it edits so that Uninstall
// restores it exactly.
type backup struct {
	Existed   bool   `json:"existed"`
	Content   []byte `json:"content"`          // the file before install (base64 in JSON)
	Installed string `json:"installed_sha256"` // the file as install left it
}

func backupPath(cfg string) string { return cfg + ".legant-guard-backup" }

// Install wires `command` (the hook: legant guard check --agent … --policy …)
// into agent's configuration under home. It returns the diff it applied.
// The previous file (or its absence) is saved beside it; installing twice is
// an error.
func Install(agent Agent, home, command string) (string, error) {
	cfg := ConfigPath(agent, home)
	if _, err := os.Stat(backupPath(cfg)); err == nil {
		return "", fmt.Errorf("the guard is already installed in %s (uninstall first)", cfg)
	}
	before, err := os.ReadFile(cfg)
	existed := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	after, err := installed(agent, before, command)
	if err != nil {
		return "", fmt.Errorf("%s: %w", cfg, err)
	}
	sum := sha256.Sum256(after)
	b, _ := json.Marshal(backup{Existed: existed, Content: before, Installed: hex.EncodeToString(sum[:])})
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(backupPath(cfg), b, 0o600); err != nil {
		return "", err
	}
	if err := writeKeepingMode(cfg, after); err != nil {
		return "", err
	}
	return Diff(cfg, before, after), nil
}

// Uninstall restores the file Install changed, byte for byte (or removes it
// when it did not exist). It refuses when the file changed since install,
// unless force: restoring would drop those changes.
func Uninstall(agent Agent, home string, force bool) (string, error) {
	cfg := ConfigPath(agent, home)
	raw, err := os.ReadFile(backupPath(cfg))
	if err != nil {
		return "", fmt.Errorf("the guard is not installed in %s: %w", cfg, err)
	}
	var bk backup
	if err := json.Unmarshal(raw, &bk); err != nil {
		return "", fmt.Errorf("%s: %w", backupPath(cfg), err)
	}
	now, err := os.ReadFile(cfg)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	sum := sha256.Sum256(now)
	if hex.EncodeToString(sum[:]) != bk.Installed && !force {
		return "", fmt.Errorf("%s changed since the guard was installed: restoring would drop those changes (--force restores anyway; the backup is %s)", cfg, backupPath(cfg))
	}
	if bk.Existed {
		err = writeKeepingMode(cfg, bk.Content)
	} else {
		err = os.Remove(cfg)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	return Diff(cfg, now, bk.Content), os.Remove(backupPath(cfg))
}

func writeKeepingMode(path string, data []byte) error {
	mode := os.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	return os.WriteFile(path, data, mode)
}

// installed returns the configuration with the hook added.
func installed(agent Agent, before []byte, command string) ([]byte, error) {
	if agent == OpenCode {
		if len(before) > 0 {
			return nil, errors.New("a plugin file of that name already exists")
		}
		return []byte(strings.ReplaceAll(openCodePlugin, "@COMMAND@", jsString(command))), nil
	}
	doc := map[string]any{}
	if len(bytes.TrimSpace(before)) > 0 {
		if err := json.Unmarshal(before, &doc); err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
	}
	hooks, _ := doc["hooks"].(map[string]any)
	if hooks == nil {
		if doc["hooks"] != nil {
			return nil, errors.New(`"hooks" is not an object`)
		}
		hooks = map[string]any{}
	}
	pre, _ := hooks["PreToolUse"].([]any)
	group := map[string]any{"hooks": []any{map[string]any{"type": "command", "command": command, "timeout": 30}}}
	if agent == ClaudeCode {
		group["matcher"] = "*" // every tool, MCP tools included
	}
	hooks["PreToolUse"] = append(pre, group)
	doc["hooks"] = hooks
	out, err := json.MarshalIndent(doc, "", "  ")
	return append(out, '\n'), err
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// openCodePlugin is the plugin Install writes for opencode: its documented
// tool.execute.before hook runs the guard with the tool and its arguments and
// throws (which blocks the tool) unless the guard answers allow.
const openCodePlugin = `// Installed by "legant guard install --agent opencode"; removed by "legant guard uninstall".
import { spawnSync } from "node:child_process"

const COMMAND = @COMMAND@

export const LegantGuard = async () => ({
  "tool.execute.before": async (input, output) => {
    const payload = JSON.stringify({ tool: input.tool, sessionID: input.sessionID, args: output.args })
    const r = spawnSync("/bin/sh", ["-c", COMMAND], { input: payload, encoding: "utf8", timeout: 30000 })
    let answer = {}
    try { answer = JSON.parse(r.stdout || "{}") } catch {}
    if (r.status !== 0 || answer.decision !== "allow") {
      throw new Error(answer.reason || ("legant guard: no answer (" + (r.stderr || r.error || r.status) + ")"))
    }
  },
})
`

// Diff is a line diff of a file's two versions ("-" removed, "+" added).
func Diff(name string, a, b []byte) string {
	x, y := splitLines(a), splitLines(b)
	// longest common subsequence, enough for configuration files
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", name, name)
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			out.WriteString("  " + x[i] + "\n")
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			out.WriteString("+ " + y[j] + "\n")
			j++
		default:
			out.WriteString("- " + x[i] + "\n")
			i++
		}
	}
	return out.String()
}

func splitLines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

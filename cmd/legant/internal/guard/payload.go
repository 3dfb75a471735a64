package guard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Agent names a coding agent whose hook format the guard speaks.
type Agent string

const (
	ClaudeCode Agent = "claude-code"
	Codex      Agent = "codex"
	OpenCode   Agent = "opencode"
)

// ParseAgent returns the agent s names.
func ParseAgent(s string) (Agent, error) {
	switch a := Agent(s); a {
	case ClaudeCode, Codex, OpenCode:
		return a, nil
	}
	return "", fmt.Errorf("agent %q: want claude-code, codex or opencode", s)
}

// Use is one tool use as the guard decides it, whatever the agent.
type Use struct {
	Agent    Agent
	Session  string
	Tool     string   // the agent's tool name: Bash, Read, Edit, mcp__srv__tool, bash, apply_patch…
	Command  string   // a shell command, "" when the tool runs none
	Paths    []string // files the tool reads or writes, absolute when the agent says so
	Subagent string   // the sub-agent making the call, "" for the main agent
	Cwd      string
	Mode     string // the agent's permission mode when it reports one (bypassPermissions…)
	Input    json.RawMessage
}

// hookInput is the union of the documented PreToolUse payloads: Claude Code
// and Codex send tool_name/tool_input; the opencode plugin legant installs
// sends tool/args (tool.execute.before's input.tool and output.args).
type hookInput struct {
	SessionID      string          `json:"session_id"`
	Cwd            string          `json:"cwd"`
	PermissionMode string          `json:"permission_mode"`
	HookEventName  string          `json:"hook_event_name"`
	ToolName       string          `json:"tool_name"`
	ToolInput      json.RawMessage `json:"tool_input"`
	AgentID        string          `json:"agent_id"`
	AgentType      string          `json:"agent_type"`
	// opencode (the plugin's payload)
	Tool      string          `json:"tool"`
	Args      json.RawMessage `json:"args"`
	SessionOC string          `json:"sessionID"`
}

// ParseUse reads an agent's hook payload.
func ParseUse(agent Agent, data []byte) (Use, error) {
	var in hookInput
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&in); err != nil {
		return Use{}, fmt.Errorf("hook payload: %w", err)
	}
	u := Use{Agent: agent, Session: in.SessionID, Tool: in.ToolName, Input: in.ToolInput, Cwd: in.Cwd, Mode: in.PermissionMode, Subagent: in.AgentType}
	if agent == OpenCode {
		u.Tool, u.Input, u.Session = in.Tool, in.Args, in.SessionOC
	}
	if u.Tool == "" {
		return Use{}, fmt.Errorf("hook payload: no tool name")
	}
	if in.HookEventName != "" && in.HookEventName != "PreToolUse" {
		return Use{}, fmt.Errorf("hook payload: event %q is not PreToolUse", in.HookEventName)
	}
	var args map[string]json.RawMessage
	if len(u.Input) > 0 && string(u.Input) != "null" {
		if err := json.Unmarshal(u.Input, &args); err != nil {
			return Use{}, fmt.Errorf("hook payload: tool input is not an object: %w", err)
		}
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			var s string
			if json.Unmarshal(args[k], &s) == nil && s != "" {
				return s
			}
		}
		return ""
	}
	u.Command = str("command", "cmd")
	if u.Command == "" { // Codex's shell tool may send argv
		var argv []string
		if json.Unmarshal(args["command"], &argv) == nil {
			u.Command = strings.Join(argv, " ")
		}
	}
	for _, p := range []string{str("file_path", "filePath", "notebook_path", "path")} {
		if p != "" {
			u.Paths = append(u.Paths, p)
		}
	}
	if strings.EqualFold(u.Tool, "apply_patch") {
		patch := u.Command
		if patch == "" {
			patch = str("patch", "input")
		}
		u.Paths = append(u.Paths, patchPaths(patch)...)
		u.Command = ""
	}
	return u, nil
}

var patchFileRE = regexp.MustCompile(`(?m)^\*\*\* (?:Add|Update|Delete) File: (.+)$|^\*\*\* Move to: (.+)$`)

// patchPaths lists the files an apply_patch envelope touches.
func patchPaths(patch string) []string {
	var out []string
	for _, m := range patchFileRE.FindAllStringSubmatch(patch, -1) {
		p := strings.TrimSpace(m[1] + m[2])
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

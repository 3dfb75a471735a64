// Package guard puts a coding agent (Claude Code, Codex CLI, opencode) under
// a delegation token: it decides each tool use the agent's pre-tool hook
// reports — file reads and writes, shell commands, MCP tools — and answers in
// that agent's hook format.
//
// A decision, in order: catastrophic tripwires (rm -rf /, force pushes,
// credential files) deny whatever the rules say; the delegation token must
// verify (signature, issuer, audience, lifetime) and not be revoked in the
// signed revocation feed (a cached file, authority/revfeed); the tool must be
// in the token's tools allow-list and a path it touches within the token's
// resources; then the policy file's rules, first match wins, and its default
// ("allow everything except" is default allow plus deny rules). Every
// decision is appended to a JSON-lines audit file.
//
// It owns no server and no store; Install and Uninstall edit the agent's
// configuration under a home directory, backing the file up so Uninstall
// restores it byte for byte.
//
//	p, _ := guard.LoadPolicy("~/.legant/guard.yaml")
//	g, _ := guard.New(p, time.Now)
//	out, code := g.Hook(guard.ClaudeCode, stdin)   // what to print, exit status
package guard

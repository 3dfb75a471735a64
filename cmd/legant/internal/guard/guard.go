package guard

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/keydir"
)

// Decision is the guard's answer for one use.
type Decision struct {
	Allow  bool
	Reason string // why, shown to the agent on a deny
	Rule   string // what decided: "tripwire", "token", "revoked", "rules[2]", "default"
}

// Guard decides uses under one policy and token. It loads the token, the
// keys and the revocation feed once (a hook process decides one use); it is
// safe for concurrent use.
type Guard struct {
	p      *Policy
	now    func() time.Time
	claims *authority.Claims // nil without a token
	err    error             // why the token or the feed cannot be trusted: every use is denied
}

// New prepares a guard. A token, keys or feed that cannot be read or
// verified does not fail New: every use is then denied with the cause
// (fail closed, and the agent is told why).
func New(p *Policy, now func() time.Time) *Guard {
	g := &Guard{p: p, now: now}
	if p.Token != "" {
		g.claims, g.err = g.verify()
	}
	return g
}

func (g *Guard) verify() (*authority.Claims, error) {
	raw, err := os.ReadFile(g.p.Token)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	ks, err := loadKeys(g.p.Keys)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	now := g.now()
	c, err := authority.Verify(strings.TrimSpace(string(raw)), ks, authority.VerifyOptions{Issuer: g.p.Issuer, Audience: g.p.Audience, RequireActor: true}, now)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	if g.p.Feed != "" {
		feedRaw, err := os.ReadFile(g.p.Feed)
		if err != nil {
			return nil, fmt.Errorf("revocation feed: %w", err)
		}
		feed, err := revfeed.Verify(strings.TrimSpace(string(feedRaw)), ks, now, 0)
		if err != nil {
			return nil, fmt.Errorf("revocation feed: %w", err)
		}
		var set revfeed.Set
		set.Replace(feed.Entries())
		if why, revoked := set.Revoked(c); revoked {
			return nil, fmt.Errorf("token revoked: %s", why)
		}
	}
	return c, nil
}

// loadKeys reads a key directory or a JWKS file.
func loadKeys(p string) (*authority.KeySet, error) {
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		return keydir.Load(p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return authority.ParseJWKS(b)
}

// Decide decides one use: tripwires, the token, then the rules.
func (g *Guard) Decide(u Use) Decision {
	if t := tripped(u, g.p.home); t != "" {
		return Decision{Reason: "legant guard: tripwire: " + t + " is never allowed", Rule: "tripwire"}
	}
	if g.err != nil {
		rule := "token"
		if strings.HasPrefix(g.err.Error(), "token revoked") {
			rule = "revoked"
		}
		return Decision{Reason: "legant guard: " + g.err.Error(), Rule: rule}
	}
	if d, ok := g.tokenDenies(u); ok {
		return d
	}
	for i, r := range g.p.Rules {
		if r.matches(u, g.p.home) {
			reason := r.Reason
			if reason == "" {
				reason = fmt.Sprintf("legant guard: %s by rule %d of the policy", map[Effect]string{Allow: "allowed", Deny: "denied"}[r.Effect], i)
			}
			return Decision{Allow: r.Effect == Allow, Reason: reason, Rule: fmt.Sprintf("rules[%d]", i)}
		}
	}
	return Decision{Allow: g.p.Default == Allow, Reason: "legant guard: policy default " + string(g.p.Default), Rule: "default"}
}

// tokenDenies applies the token's constraints: the tools allow-list, the
// resources as path prefixes (an entry ending in "/" is a directory and what
// is under it), and the window.
func (g *Guard) tokenDenies(u Use) (Decision, bool) {
	c := g.claims
	if c == nil {
		return Decision{}, false
	}
	cons := c.Constraints
	if !cons.Tools.Contains(u.Tool) {
		return Decision{Reason: fmt.Sprintf("legant guard: tool %s is not in the delegation's tools (%s)", u.Tool, c.Provenance()), Rule: "token"}, true
	}
	if !cons.Resources.Unrestricted() {
		for _, p := range u.Paths {
			if !pathAllowed(cons.Resources, absPath(p, u.Cwd)) {
				return Decision{Reason: fmt.Sprintf("legant guard: path %s is outside the delegation's resources", p), Rule: "token"}, true
			}
		}
	}
	if cons.Window != nil {
		if ok, err := cons.Window.Contains(g.now()); err != nil || !ok {
			return Decision{Reason: "legant guard: outside the delegation's time window " + cons.Window.String(), Rule: "token"}, true
		}
	}
	return Decision{}, false
}

func absPath(p, cwd string) string {
	if !filepath.IsAbs(p) && cwd != "" {
		p = filepath.Join(cwd, p)
	}
	return path.Clean(filepath.ToSlash(p))
}

func pathAllowed(s authority.Set, p string) bool {
	for _, r := range s.Items() {
		if r == p || (strings.HasSuffix(r, "/") && (p+"/" == r || strings.HasPrefix(p, r))) {
			return true
		}
	}
	return false
}

func (r Rule) matches(u Use, home string) bool {
	if r.Tool != "" && !matchText(r.Tool, u.Tool) {
		return false
	}
	if r.Command != "" && (u.Command == "" || !matchText(r.Command, u.Command)) {
		return false
	}
	if r.Path != "" {
		hit := false
		for _, p := range u.Paths {
			hit = hit || matchPath(r.Path, absPath(p, u.Cwd))
		}
		if !hit {
			return false
		}
	}
	return true
}

// Record is one audit line.
type Record struct {
	Time     time.Time `json:"time"`
	Agent    Agent     `json:"agent"`
	Session  string    `json:"session,omitempty"`
	Subagent string    `json:"subagent,omitempty"`
	Mode     string    `json:"permission_mode,omitempty"`
	Tool     string    `json:"tool"`
	Paths    []string  `json:"paths,omitempty"`
	// CommandSHA256 names the command without writing it (it may hold a secret).
	CommandSHA256 string `json:"command_sha256,omitempty"`
	Decision      string `json:"decision"`
	Rule          string `json:"rule"`
	Reason        string `json:"reason"`
	Principal     string `json:"principal,omitempty"`
	JTI           string `json:"jti,omitempty"`
}

// audit appends the record of a decision; with no audit file it does nothing.
func (g *Guard) audit(u Use, d Decision) error {
	if g.p.Audit == "" {
		return nil
	}
	r := Record{Time: g.now().UTC(), Agent: u.Agent, Session: u.Session, Subagent: u.Subagent, Mode: u.Mode, Tool: u.Tool,
		Paths: u.Paths, Decision: map[bool]string{true: "allow", false: "deny"}[d.Allow], Rule: d.Rule, Reason: d.Reason}
	if u.Command != "" {
		sum := sha256.Sum256([]byte(u.Command))
		r.CommandSHA256 = hex.EncodeToString(sum[:])
	}
	if g.claims != nil {
		r.Principal, r.JTI = g.claims.Provenance(), g.claims.ID
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(g.p.Audit, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	return errors.Join(err, f.Close())
}

// Answer is what the hook process must do: print Stdout, print Stderr and
// exit with Code.
type Answer struct {
	Stdout, Stderr string
	Code           int
}

// Hook is the whole hook: parse the agent's payload, decide, audit, answer
// in the agent's format. Anything that goes wrong denies:
//   - Claude Code and Codex: a deny is exit 0 with hookSpecificOutput
//     permissionDecision "deny" and the reason; an allow is "{}", so the
//     agent's own permission rules still apply; an error is exit 2 with the
//     reason on stderr (both document exit 2 as blocking; any other non-zero
//     status lets the tool run).
//   - opencode (the installed plugin): {"decision":"allow"|"deny","reason":…};
//     the plugin throws — blocking the tool — on a deny or any other answer.
func (g *Guard) Hook(agent Agent, payload []byte) Answer {
	u, err := ParseUse(agent, payload)
	if err != nil {
		return failClosed(agent, err)
	}
	d := g.Decide(u)
	if err := g.audit(u, d); err != nil {
		return failClosed(agent, fmt.Errorf("audit: %w", err))
	}
	return answer(agent, d)
}

func answer(agent Agent, d Decision) Answer {
	if agent == OpenCode {
		b, _ := json.Marshal(map[string]string{"decision": map[bool]string{true: "allow", false: "deny"}[d.Allow], "reason": d.Reason})
		return Answer{Stdout: string(b) + "\n"}
	}
	if d.Allow {
		return Answer{Stdout: "{}\n"}
	}
	b, _ := json.Marshal(map[string]any{"hookSpecificOutput": map[string]string{
		"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": d.Reason}})
	return Answer{Stdout: string(b) + "\n"}
}

func failClosed(agent Agent, err error) Answer {
	msg := "legant guard: " + err.Error()
	if agent == OpenCode {
		return answer(agent, Decision{Reason: msg})
	}
	return Answer{Stderr: msg + "\n", Code: 2}
}

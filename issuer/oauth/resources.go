package oauth

import (
	"fmt"
	"slices"
	"strings"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

// allScopes lists every scope a tool of the registry requires, sorted.
func allScopes(reg *upstreams.Registry) []string {
	var out []string
	for _, up := range reg.Upstreams() {
		out = append(out, up.Scopes()...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// lookupResource returns the upstream whose inbound audience is the RFC 8707
// resource raw (compared canonically).
func lookupResource(reg *upstreams.Registry, raw string) (*upstreams.Upstream, error) {
	if raw == "" {
		return nil, oauthErr(CodeInvalidTarget, "the resource parameter (RFC 8707) is required: the URL of the MCP server, e.g. https://gw.example/mcp/<slug>")
	}
	canon, err := authority.CanonicalResource(raw)
	if err != nil {
		return nil, oauthErr(CodeInvalidTarget, "the resource is not a valid URL")
	}
	for _, up := range reg.Upstreams() {
		if up.InboundAudience != "" && up.InboundAudience == canon {
			return up, nil
		}
	}
	return nil, oauthErr(CodeInvalidTarget, fmt.Sprintf("%s is not a resource served here", canon))
}

// grantScopes checks the requested scope string against the upstream: each
// must be a scope of one of its tools (offline_access is accepted and
// dropped). An empty request means every scope of the upstream.
func grantScopes(up *upstreams.Upstream, requested string) ([]string, error) {
	known := up.Scopes()
	if strings.TrimSpace(requested) == "" {
		return known, nil
	}
	var out []string
	for _, sc := range strings.Fields(requested) {
		switch {
		case sc == ScopeOfflineAccess:
		case !slices.Contains(known, sc):
			return nil, oauthErr(CodeInvalidScope, fmt.Sprintf("scope %q is not a scope of %s", sc, up.Slug))
		case !slices.Contains(out, sc):
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, oauthErr(CodeInvalidScope, "no scope of "+up.Slug+" was requested")
	}
	slices.Sort(out)
	return out, nil
}

// toolInfo is one tool a set of scopes reaches, as the consent page shows it.
type toolInfo struct {
	Name     string
	Scope    string
	Amount   bool   // the tool moves money (policy reads an amount)
	Currency string // the tool's fixed currency, if any
	Category bool
	Mutating bool
	Tags     []string
}

// toolsFor lists the tools of up that scopes reach, by name.
func toolsFor(up *upstreams.Upstream, scopes []string) []toolInfo {
	var out []toolInfo
	for _, name := range up.ToolNames() {
		b, _ := up.Tool(name)
		if b.Scope != "" && !slices.Contains(scopes, b.Scope) {
			continue
		}
		out = append(out, describeTool(name, b))
	}
	return out
}

func describeTool(name string, b *policy.Binding) toolInfo {
	t := toolInfo{Name: name, Scope: b.Scope, Mutating: b.Mutating, Tags: b.Tags, Category: !b.Category.IsZero()}
	if b.Amount != nil {
		t.Amount, t.Currency = true, b.Amount.Currency
	}
	return t
}

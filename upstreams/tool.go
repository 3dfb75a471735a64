package upstreams

import (
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/openlegant/legant/policy"
)

var (
	// toolNameRE is the MCP tool name form: 1-128 of A-Z a-z 0-9 _ - .
	toolNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	// scopeRE is an RFC 6749 §3.3 scope-token.
	scopeRE    = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
)

// argRole is what a bound argument means to policy, and so which JSON
// Schema type Lint expects for it.
type argRole string

const (
	roleAmount   argRole = "amount"
	roleCurrency argRole = "currency"
	roleCategory argRole = "category"
	roleResource argRole = "resource"
)

// boundArg is one pointer a tool binding holds, with where it was written.
type boundArg struct {
	role argRole
	ptr  policy.Pointer
	path string
	pos  Position
}

// toolWhere is where a tool's settings were written, for Lint.
type toolWhere struct {
	pos  Position
	path string
	args []boundArg
}

// toolsOf validates the tools of an upstream and builds their bindings.
func (d *decoder) toolsOf(s upstreamSpec) (map[string]*policy.Binding, map[string]toolWhere) {
	const invisible = "list every tool by name (tools not listed are invisible and uncallable)"
	switch {
	case !s.tools.set():
		d.errorf(s.node, s.path+".tools", "is required: %s", invisible)
	case !s.tools.bad && len(s.tools.v) == 0:
		d.errorf(s.tools.node, s.tools.path, "is empty: %s", invisible)
	}
	tools := make(map[string]*policy.Binding, len(s.tools.v))
	where := make(map[string]toolWhere, len(s.tools.v))
	for _, t := range s.tools.v {
		name := t.name.v
		switch {
		case strings.ContainsAny(name, "*?[]"):
			d.errorf(t.name.node, t.name.path, "wildcards are not allowed: %s", invisible)
			continue
		case !toolNameRE.MatchString(name):
			d.errorf(t.name.node, t.name.path, "tool names are 1-128 characters of A-Z, a-z, 0-9, '_', '-' and '.'")
			continue
		}
		b, w := d.bindingOf(t)
		if b != nil {
			tools[name], where[name] = b, w
		}
	}
	return tools, where
}

// bindingOf turns one tool's settings into a policy.Binding; nil when the
// settings are not a mapping.
func (d *decoder) bindingOf(t toolSpec) (*policy.Binding, toolWhere) {
	w := toolWhere{pos: d.pos(t.name.node), path: t.path}
	if t.node.Kind != yaml.MappingNode {
		return nil, w
	}
	b := &policy.Binding{Tool: t.name.v, Mutating: t.mutating.v, Honeytool: t.honeytool.v}
	switch {
	case !t.scope.set():
		d.errorf(t.name.node, t.path+".scope", "is required")
	case t.scope.ok() && !scopeRE.MatchString(t.scope.v):
		d.errorf(t.scope.node, t.scope.path, "%q is not a scope (printable ASCII without spaces, '\"' or '\\')", t.scope.v)
	case t.scope.ok():
		b.Scope = t.scope.v
	}
	b.Amount = d.amountOf(t.amount, &w)
	if t.category.set() {
		b.Category = d.pointer(t.category, roleCategory, &w)
	}
	b.Resource = d.resourceOf(t.resource, &w)
	b.Tags = d.tagsOf(t.tags)
	b.Approval = d.approvalOf(t.approval)
	if b.Approval != nil && b.Honeytool {
		d.errorf(t.approval.node, t.approval.path, "a honeytool is never forwarded: it cannot need an approval")
	}
	return b, w
}

// pointer parses a bound argument's RFC 6901 pointer and records it.
func (d *decoder) pointer(f field[string], role argRole, w *toolWhere) policy.Pointer {
	if !f.ok() {
		return policy.Pointer{}
	}
	p, err := policy.ParsePointer(f.v)
	if err != nil {
		d.errorf(f.node, f.path, "%v", err)
		return policy.Pointer{}
	}
	w.args = append(w.args, boundArg{role: role, ptr: p, path: f.path, pos: d.pos(f.node)})
	return p
}

func (d *decoder) amountOf(f field[amountSpec], w *toolWhere) *policy.AmountBinding {
	if !f.ok() {
		return nil
	}
	a := f.v
	if !a.pointer.set() {
		d.errorf(f.node, f.path+".pointer", "is required")
	}
	out := &policy.AmountBinding{Value: d.pointer(a.pointer, roleAmount, w)}
	switch {
	case a.currency.set() && a.currencyPointer.set():
		d.errorf(a.currencyPointer.node, a.currencyPointer.path, "set currency or currency_pointer, not both")
	case a.currency.ok() && !currencyRE.MatchString(a.currency.v):
		d.errorf(a.currency.node, a.currency.path, "%q is not an ISO 4217 code (three capital letters, e.g. USD)", a.currency.v)
	case a.currency.ok():
		out.Currency = a.currency.v
	case a.currencyPointer.set():
		out.CurrencyPointer = d.pointer(a.currencyPointer, roleCurrency, w)
	}
	return out
}

func (d *decoder) resourceOf(f field[resourceSpec], w *toolWhere) *policy.ResourceBinding {
	if !f.ok() {
		return nil
	}
	r := f.v
	if !r.pointer.set() {
		d.errorf(f.node, f.path+".pointer", "is required")
	}
	out := &policy.ResourceBinding{Value: d.pointer(r.pointer, roleResource, w), Kind: policy.ResourceName}
	if r.kind.ok() {
		if k, err := policy.ParseResourceKind(r.kind.v); err == nil {
			out.Kind = k
		} else {
			d.errorf(r.kind.node, r.kind.path, "%q must be one of %s, %s, %s", r.kind.v, policy.ResourceURL, policy.ResourcePath, policy.ResourceName)
		}
	}
	return out
}

func (d *decoder) tagsOf(f field[[]field[string]]) []string {
	var tags []string
	seen := map[string]bool{}
	for _, t := range f.v {
		switch {
		case !t.ok():
		case strings.TrimSpace(t.v) == "":
			d.errorf(t.node, t.path, "must not be empty")
		case seen[t.v]:
			d.errorf(t.node, t.path, "duplicate tag %q", t.v)
		default:
			seen[t.v] = true
			tags = append(tags, t.v)
		}
	}
	return tags
}

func (d *decoder) pos(n *yaml.Node) Position {
	if n == nil {
		return Position{File: d.file}
	}
	return Position{File: d.file, Line: n.Line, Col: n.Column}
}

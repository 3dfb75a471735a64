package upstreams

// The registry's sections for an upstream's other MCP objects: resources
// (exact URIs, RFC 6570 templates, prefixes), prompts (by name, with argument
// bindings) and custom methods. Like tools, what they do not grant is
// invisible and refused.

import (
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/openlegant/legant/policy"
)

type resourceGrantSpec struct {
	node                  *yaml.Node
	path                  string
	uri, template, prefix field[string]
	scope, kind           field[string]
	pin                   field[string] // pin.go
}

type promptSpec struct {
	name     field[string] // the key
	node     *yaml.Node    // the value
	path     string
	scope    field[string]
	category field[string]
	resource field[resourceSpec]
	pin      field[string] // pin.go
}

func (d *decoder) resourceGrants(e entry) field[[]resourceGrantSpec] {
	f := field[[]resourceGrantSpec]{node: e.val, path: e.path}
	if e.val.Kind != yaml.SequenceNode {
		d.errorf(e.val, e.path, "must be a list of resource grants (uri, template or prefix, with scope), got %s", kindName(e.val))
		f.bad = true
		return f
	}
	for i, item := range e.val.Content {
		g := resourceGrantSpec{node: d.resolve(item), path: fmt.Sprintf("%s[%d]", e.path, i)}
		d.fields(g.node, g.path, "a mapping with uri, template or prefix, and scope", map[string]func(entry){
			"uri":      func(e entry) { g.uri = d.str(e) },
			"template": func(e entry) { g.template = d.str(e) },
			"prefix":   func(e entry) { g.prefix = d.str(e) },
			"scope":    func(e entry) { g.scope = d.str(e) },
			"kind":     func(e entry) { g.kind = d.str(e) },
			"pin":      func(e entry) { g.pin = d.str(e) },
		})
		f.v = append(f.v, g)
	}
	return f
}

func (d *decoder) prompts(e entry) field[[]promptSpec] {
	f := field[[]promptSpec]{node: e.val, path: e.path}
	es, ok := d.entries(e.val, e.path, "a mapping of prompt names to their settings")
	f.bad = !ok
	for _, pe := range es {
		p := promptSpec{name: field[string]{v: pe.key, node: pe.keyN, path: pe.path}, node: pe.val, path: pe.path}
		d.fields(pe.val, pe.path, "a mapping with at least scope", map[string]func(entry){
			"scope":    func(e entry) { p.scope = d.str(e) },
			"category": func(e entry) { p.category = d.str(e) },
			"resource": func(e entry) { p.resource = d.resource(e) },
			"pin":      func(e entry) { p.pin = d.str(e) },
		})
		f.v = append(f.v, p)
	}
	return f
}

// scopeOf validates a required scope field.
func (d *decoder) scopeOf(f field[string], node *yaml.Node, path string) string {
	switch {
	case !f.set():
		d.errorf(node, path+".scope", "is required")
	case f.ok() && !scopeRE.MatchString(f.v):
		d.errorf(f.node, f.path, "%q is not a scope (printable ASCII without spaces, '\"' or '\\')", f.v)
	case f.ok():
		return f.v
	}
	return ""
}

// resourcesOf validates an upstream's resource grants.
func (d *decoder) resourcesOf(s upstreamSpec) policy.ResourceGrants {
	var out policy.ResourceGrants
	seen := map[string]string{}
	for _, gs := range s.resources.v {
		if gs.node.Kind != yaml.MappingNode {
			continue
		}
		g := &policy.ResourceGrant{Scope: d.scopeOf(gs.scope, gs.node, gs.path)}
		var set []field[string]
		for _, f := range []field[string]{gs.uri, gs.template, gs.prefix} {
			if f.set() {
				set = append(set, f)
			}
		}
		if len(set) != 1 {
			d.errorf(gs.node, gs.path, "set exactly one of uri, template and prefix")
			continue
		}
		f := set[0]
		if !f.ok() {
			continue
		}
		switch {
		case f.v == "":
			d.errorf(f.node, f.path, "must not be empty")
			continue
		case gs.uri.set():
			if strings.ContainsAny(f.v, "{}") {
				d.errorf(f.node, f.path, "%q looks like a template: write it under template", f.v)
				continue
			}
			g.URI = f.v
		case gs.template.set():
			t, err := policy.ParseURITemplate(f.v)
			if err != nil {
				d.errorf(f.node, f.path, "%v", err)
				continue
			}
			g.Template = t
		default:
			if !prefixRE.MatchString(f.v) {
				d.errorf(f.node, f.path, "%q must be a URI beginning with a scheme and ':' (a bare prefix would grant every scheme)", f.v)
				continue
			}
			g.Prefix = f.v
		}
		if prev, dup := seen[g.String()]; dup {
			d.errorf(f.node, f.path, "%q is already granted by %s", f.v, prev)
			continue
		}
		seen[g.String()] = gs.path
		if gs.kind.ok() {
			k, err := policy.ParseResourceKind(gs.kind.v)
			if err != nil {
				d.errorf(gs.kind.node, gs.kind.path, "%q must be one of %s, %s, %s", gs.kind.v, policy.ResourceURL, policy.ResourcePath, policy.ResourceName)
				continue
			}
			g.Kind = k
		}
		out = append(out, g)
	}
	return out
}

// prefixRE: a prefix names at least a scheme, so no grant covers every URI
// of every scheme by accident.
var prefixRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)

// promptsOf validates an upstream's prompt bindings.
func (d *decoder) promptsOf(s upstreamSpec) map[string]*policy.PromptBinding {
	if len(s.prompts.v) == 0 {
		return nil
	}
	out := make(map[string]*policy.PromptBinding, len(s.prompts.v))
	for _, p := range s.prompts.v {
		name := p.name.v
		if strings.ContainsAny(name, "*?[]") {
			d.errorf(p.name.node, p.name.path, "wildcards are not allowed: list every prompt by name")
			continue
		}
		if name == "" {
			d.errorf(p.name.node, p.name.path, "prompt names must not be empty")
			continue
		}
		if p.node.Kind != yaml.MappingNode {
			continue
		}
		b := &policy.PromptBinding{Prompt: name, Scope: d.scopeOf(p.scope, p.name.node, p.path)}
		w := toolWhere{pos: d.pos(p.name.node), path: p.path}
		if p.category.set() {
			b.Category = d.pointer(p.category, roleCategory, &w)
		}
		b.Resource = d.resourceOf(p.resource, &w)
		out[name] = b
	}
	return out
}

// methodNameRE is a JSON-RPC method name an operator may allow: printable,
// without spaces.
var methodNameRE = regexp.MustCompile(`^[\x21-\x7E]{1,128}$`)

// methodsOf validates the custom methods an upstream allows.
func (d *decoder) methodsOf(s upstreamSpec) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range s.methods.v {
		if !m.ok() {
			continue
		}
		class, _ := policy.ClassifyMethod(m.v, !strings.HasPrefix(m.v, "notifications/"), "", nil)
		switch {
		case !methodNameRE.MatchString(m.v):
			d.errorf(m.node, m.path, "%q is not a method name (1-128 printable characters without spaces)", m.v)
		case class != policy.MethodUnknown:
			d.errorf(m.node, m.path, "%s is an MCP method the gateway governs itself: list only custom methods", m.v)
		case seen[m.v]:
			d.errorf(m.node, m.path, "duplicate method %q", m.v)
		default:
			seen[m.v] = true
			out = append(out, m.v)
		}
	}
	return out
}

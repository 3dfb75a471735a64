package grants

import (
	"fmt"
	"slices"

	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

// Check validates the file against the upstream registry and returns every
// problem (nil when there is none), in file order:
//   - an upstream the registry does not serve, or a tool it does not list;
//   - an explicit scope that no granted tool needs (it would widen the token
//     for nothing);
//   - a constraint that restricts nothing because no granted tool binds its
//     argument: max_amount or budget without an amount binding, categories
//     without a category binding, resources without a resource binding
//     (policy checks a constraint only through the argument a binding names).
func (f *File) Check(reg *upstreams.Registry) upstreams.ValidationErrors {
	var errs upstreams.ValidationErrors
	add := func(p upstreams.Position, field, format string, args ...any) {
		errs = append(errs, &upstreams.ValidationError{File: p.File, Line: p.Line, Col: p.Col, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	for i, g := range f.Grants {
		path := fmt.Sprintf("grants[%d]", i)
		up, ok := reg.Lookup(g.Upstream)
		if !ok {
			add(g.Where("upstream"), path+".upstream", "unknown upstream %q in %s%s", g.Upstream, reg.Source(), known(slugs(reg)))
			continue
		}
		var bound []*policy.Binding
		for j, t := range g.Tools {
			b, ok := up.Tool(t)
			if !ok {
				add(g.Where(fmt.Sprintf("tools[%d]", j)), fmt.Sprintf("%s.tools[%d]", path, j),
					"upstream %q does not register tool %q%s", g.Upstream, t, known(up.ToolNames()))
				continue
			}
			bound = append(bound, b)
		}
		needed := scopesOf(bound)
		for j, s := range g.Scopes {
			if !slices.Contains(needed, s) {
				add(g.Where(fmt.Sprintf("scopes[%d]", j)), fmt.Sprintf("%s.scopes[%d]", path, j),
					"scope %q is needed by none of the granted tools (they need: %s)", s, orNone(needed))
			}
		}
		for _, s := range needed {
			if g.Scopes != nil && !slices.Contains(g.Scopes, s) {
				add(g.Where("scopes"), path+".scopes", "scope %q is missing: a granted tool needs it", s)
			}
		}
		errs = append(errs, checkBindings(g, path, bound)...)
	}
	sortErrs(errs)
	return errs
}

// checkBindings reports constraints none of the granted tools binds.
func checkBindings(g *Grant, path string, bound []*policy.Binding) upstreams.ValidationErrors {
	if len(bound) == 0 {
		return nil
	}
	var amount, category, resource bool
	for _, b := range bound {
		amount = amount || b.Amount != nil
		category = category || !b.Category.IsZero()
		resource = resource || b.Resource != nil
	}
	var errs upstreams.ValidationErrors
	c := g.Constraints
	for _, chk := range []struct {
		set     bool
		binds   bool
		field   string
		binding string
	}{
		{c.MaxAmount != nil, amount, "max_amount", "an amount"},
		{c.Budget != nil, amount, "budget", "an amount"},
		{!c.Categories.Unrestricted(), category, "categories", "a category"},
		{!c.Resources.Unrestricted(), resource, "resources", "a resource"},
	} {
		if chk.set && !chk.binds {
			p := g.Where(chk.field)
			errs = append(errs, &upstreams.ValidationError{File: p.File, Line: p.Line, Col: p.Col, Field: path + "." + chk.field,
				Msg: fmt.Sprintf("restricts nothing: none of the granted tools (%s) binds %s argument in the registry", joinList(g.Tools), chk.binding)})
		}
	}
	return errs
}

// Scopes returns the scopes the grant's token carries: the explicit list,
// or those its tools need in up.
func (g *Grant) ScopesFor(up *upstreams.Upstream) []string {
	if g.Scopes != nil {
		return slices.Clone(g.Scopes)
	}
	var bound []*policy.Binding
	for _, t := range g.Tools {
		if b, ok := up.Tool(t); ok {
			bound = append(bound, b)
		}
	}
	return scopesOf(bound)
}

func scopesOf(bs []*policy.Binding) []string {
	var out []string
	for _, b := range bs {
		if b.Scope != "" {
			out = append(out, b.Scope)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func slugs(reg *upstreams.Registry) []string {
	var out []string
	for _, u := range reg.Upstreams() {
		out = append(out, u.Slug)
	}
	return out
}

func known(names []string) string {
	if len(names) == 0 || len(names) > 12 {
		return ""
	}
	return " (registered: " + joinList(names) + ")"
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return joinList(s)
}

func joinList(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

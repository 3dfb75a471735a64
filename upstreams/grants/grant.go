package grants

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/upstreams"
)

// grant decodes one entry of grants; nil when it is not a mapping or has
// no name (already reported).
func (d *decoder) grant(n *yaml.Node, path string) *Grant {
	g := &Grant{Pos: d.pos(n), where: map[string]upstreams.Position{}, Constraints: authority.Unrestricted(), TTL: DefaultTTL}
	var cons grantConstraints
	seen := map[string]bool{}
	at := func(e entry) { seen[e.key] = true; g.where[e.key] = d.pos(e.val) }
	strField := func(p *string, check func(e entry, s string)) func(entry) {
		return func(e entry) {
			at(e)
			if s, ok := d.str(e); ok {
				*p = s
				if check != nil {
					check(e, s)
				}
			}
		}
	}
	list := func(name string, set func([]string)) func(entry) {
		return func(e entry) {
			at(e)
			items, ok := d.strList(e)
			for i, it := range items {
				g.where[fmt.Sprintf("%s[%d]", name, i)] = d.pos(it.node)
			}
			if ok {
				set(d.unique(e, items))
			}
		}
	}
	ok := d.fields(n, path, "a grant (a mapping with name, user, agents, upstream and tools)", map[string]func(entry){
		"name": strField(&g.Name, func(e entry, s string) {
			if !nameRE.MatchString(s) {
				d.errorf(e.val, e.path, "must match [a-z0-9][a-z0-9._-]{0,62} (it names the token file), got %q", s)
			}
		}),
		"user":       strField(&g.User, nil),
		"client_id":  strField(&g.ClientID, nil),
		"upstream":   strField(&g.Upstream, nil),
		"agents":     list("agents", func(v []string) { g.Agents = v }),
		"tools":      list("tools", func(v []string) { g.Tools = v }),
		"scopes":     list("scopes", func(v []string) { g.Scopes = v }),
		"resources":  list("resources", func(v []string) { cons.resources = &v }),
		"categories": list("categories", func(v []string) { cons.categories = &v }),
		"max_amount": func(e entry) { at(e); cons.maxAmount = d.money(e) },
		"budget":     func(e entry) { at(e); cons.budget = d.money(e) },
		"max_calls": func(e entry) {
			at(e)
			if v, ok := d.integer(e); ok {
				if v < 0 {
					d.errorf(e.val, e.path, "must not be negative")
					return
				}
				cons.maxCalls = &v
			}
		},
		"window": func(e entry) {
			at(e)
			if s, ok := d.str(e); ok {
				w, err := authority.ParseWindowSpec(s)
				if err != nil {
					d.errorf(e.val, e.path, "%v (want e.g. \"mon-fri 09:00-17:00 Europe/Paris\")", err)
					return
				}
				cons.window = &w
			}
		},
		"ttl": func(e entry) {
			at(e)
			if s, ok := d.str(e); ok {
				v, err := time.ParseDuration(s)
				if err != nil || v <= 0 {
					d.errorf(e.val, e.path, "must be a positive duration such as 1h or 720h, got %q", s)
					return
				}
				g.TTL = v
			}
		},
	})
	if !ok {
		return nil
	}
	for _, req := range []string{"name", "user", "agents", "upstream", "tools"} {
		if !seen[req] {
			d.errorf(n, path+"."+req, "required")
		}
	}
	d.checkChain(g, path)
	if seen["tools"] && len(g.Tools) == 0 && g.where["tools"].Line > 0 {
		d.errorAt(g.where["tools"], path+".tools", "must name at least one tool (a grant of nothing is no grant)")
	}
	g.Constraints.Tools = authority.Only(g.Tools...)
	d.setConstraints(g, path, cons)
	if g.Name == "" {
		return nil
	}
	return g
}

func (d *decoder) pos(n *yaml.Node) upstreams.Position {
	return upstreams.Position{File: d.file, Line: n.Line, Col: n.Column}
}

// unique reports empty and duplicate items and returns the values.
func (d *decoder) unique(e entry, items []item) []string {
	out := make([]string, 0, len(items))
	for i, it := range items {
		switch {
		case strings.TrimSpace(it.v) == "":
			d.errorf(it.node, fmt.Sprintf("%s[%d]", e.path, i), "must not be empty")
		case slices.Contains(out, it.v):
			d.errorf(it.node, fmt.Sprintf("%s[%d]", e.path, i), "duplicate %q", it.v)
		default:
			out = append(out, it.v)
		}
	}
	return out
}

func (d *decoder) checkChain(g *Grant, path string) {
	for i, a := range g.Agents {
		if a == g.User && a != "" {
			d.errorAt(g.Where(fmt.Sprintf("agents[%d]", i)), fmt.Sprintf("%s.agents[%d]", path, i),
				"agent %q is the user: an agent must differ from the user it acts for", a)
		}
	}
	if g.where["agents"].Line > 0 && len(g.Agents) == 0 {
		d.errorAt(g.where["agents"], path+".agents", "must name at least one agent")
	}
}

// grantConstraints are the constraint fields as decoded; nil = not set.
type grantConstraints struct {
	resources, categories *[]string
	maxAmount, budget     *authority.Money
	maxCalls              *int64
	window                *authority.Window
}

func (d *decoder) setConstraints(g *Grant, path string, c grantConstraints) {
	out := g.Constraints
	if c.resources != nil {
		out.Resources = authority.Only(*c.resources...)
	}
	if c.categories != nil {
		out.Categories = authority.Only(*c.categories...)
	}
	out.MaxAmount, out.Budget, out.MaxCalls, out.Window = c.maxAmount, c.budget, c.maxCalls, c.window
	if out.MaxAmount != nil && out.Budget != nil && out.MaxAmount.Currency != out.Budget.Currency {
		d.errorAt(g.Where("budget"), path+".budget", "currency %q differs from max_amount's %q: a call can satisfy only one",
			out.Budget.Currency, out.MaxAmount.Currency)
	}
	norm, err := out.Normalize()
	if err != nil {
		d.errorAt(g.Pos, path, "%v", err)
		return
	}
	g.Constraints = norm
}

// money decodes "500", 500, 499.99 or "500 USD".
func (d *decoder) money(e entry) *authority.Money {
	if e.val.Kind != yaml.ScalarNode || e.val.ShortTag() == "!!null" || e.val.ShortTag() == "!!bool" {
		d.errorf(e.val, e.path, "must be an amount such as 500 or \"500 USD\", got %s", kindName(e.val))
		return nil
	}
	f := strings.Fields(e.val.Value)
	if len(f) == 0 || len(f) > 2 {
		d.errorf(e.val, e.path, "must be an amount such as 500 or \"500 USD\", got %q", e.val.Value)
		return nil
	}
	v, err := authority.ParseDecimal(f[0])
	if err != nil {
		d.errorf(e.val, e.path, "amount %q: %v", f[0], err)
		return nil
	}
	if v.Sign() < 0 {
		d.errorf(e.val, e.path, "must not be negative")
		return nil
	}
	m := &authority.Money{Value: v}
	if len(f) == 2 {
		if !authority.IsCurrencyCode(f[1]) {
			d.errorf(e.val, e.path, "currency %q is not an ISO 4217 code (three upper-case letters, e.g. USD)", f[1])
			return nil
		}
		m.Currency = f[1]
	}
	return m
}

// sortErrs orders problems by position.
func sortErrs(errs upstreams.ValidationErrors) {
	slices.SortStableFunc(errs, func(a, b *upstreams.ValidationError) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
}

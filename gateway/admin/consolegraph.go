package admin

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/store"
)

// maxGraphNodes bounds the delegations the graph draws.
const maxGraphNodes = 2000

// graphNode is one delegation of the authority graph.
type graphNode struct {
	ID, Agent, Client, Resource string
	Agents                      []string
	Constraints                 []string // one line per constraint; nil: no grant recorded
	Spent                       string
	Calls                       int64
	Expires                     time.Time
	Expired, Revoked            bool
	Children                    []*graphNode
}

// graphUser is a user and the delegations granted on their behalf.
type graphUser struct {
	User  string
	Roots []*graphNode
}

// buildGraph arranges delegations as user → delegation → sub-delegation
// trees. A node whose parent is not listed is drawn as a root. A node under
// a revoked one is revoked too (the store revokes the sub-tree).
func buildGraph(list []store.DelegationNode, now time.Time) []graphUser {
	nodes := make(map[string]*graphNode, len(list))
	for _, d := range list {
		n := &graphNode{ID: d.ID, Agents: d.Agents, Client: d.ClientID, Resource: d.Resource, Spent: d.Spent.String(),
			Calls: d.Calls, Expires: d.ExpiresAt, Revoked: d.RevokedVersion != 0,
			Expired: !d.ExpiresAt.IsZero() && now.After(d.ExpiresAt)}
		if len(d.Agents) > 0 {
			n.Agent = d.Agents[len(d.Agents)-1]
		}
		if d.Constraints != nil {
			n.Constraints = constraintLines(*d.Constraints)
		}
		nodes[d.ID] = n
	}
	users := map[string]*graphUser{}
	for _, d := range list {
		n := nodes[d.ID]
		if p, ok := nodes[d.ParentID]; ok && d.ParentID != "" {
			p.Children = append(p.Children, n)
			continue
		}
		u := users[d.User]
		if u == nil {
			u = &graphUser{User: d.User}
			users[d.User] = u
		}
		u.Roots = append(u.Roots, n)
	}
	var out []graphUser
	for _, u := range users {
		for _, r := range u.Roots {
			cutBelow(r, false)
		}
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b graphUser) int { return cmp.Compare(a.User, b.User) })
	return out
}

func cutBelow(n *graphNode, revoked bool) {
	n.Revoked = n.Revoked || revoked
	for _, c := range n.Children {
		cutBelow(c, n.Revoked)
	}
}

// constraintLines describes c, one constraint a line ("any" when it
// restricts nothing).
func constraintLines(c authority.Constraints) []string {
	var out []string
	set := func(name string, s authority.Set) {
		switch {
		case s.Unrestricted():
		case s.Empty():
			out = append(out, name+": none")
		default:
			out = append(out, name+": "+strings.Join(s.Items(), ", "))
		}
	}
	set("tools", c.Tools)
	set("resources", c.Resources)
	set("categories", c.Categories)
	if c.MaxAmount != nil {
		out = append(out, "max amount: "+c.MaxAmount.String())
	}
	if c.Budget != nil {
		out = append(out, "budget: "+c.Budget.String())
	}
	if c.MaxCalls != nil {
		out = append(out, fmt.Sprintf("max calls: %d", *c.MaxCalls))
	}
	if c.Window != nil {
		out = append(out, fmt.Sprintf("window: %d interval(s) a week, %s", len(c.Window.Segments), c.Window.Zone))
	}
	if len(out) == 0 {
		out = append(out, "any (unrestricted)")
	}
	return out
}

// serveGraph draws the authority graph as nested lists: user → agent →
// sub-agent per delegation, with each hop's constraints, spending and
// expiry; revoked branches are drawn cut, and each live node has a Revoke
// form.
func (c *console) serveGraph(w http.ResponseWriter, r *http.Request, s consoleSession) {
	p := c.pageFor(s, "Authority graph", "graph")
	p.Notice = r.URL.Query().Get("notice")
	list, err := c.s.opts.Store.ListDelegations(r.Context(), maxGraphNodes)
	if err != nil {
		c.unavailable(w, s, p, err)
		return
	}
	p.Data = buildGraph(list, c.s.opts.Now())
	c.render(w, http.StatusOK, "graph", p)
}

// serveRevoke revokes a delegation (and its sub-tree) from the graph: the
// kill of a delegation, so what runs under it is cut too.
func (c *console) serveRevoke(w http.ResponseWriter, r *http.Request, s consoleSession) {
	r.PostForm.Set("kind", "delegation")
	r.PostForm.Set("back", "/console/graph")
	c.serveKill(w, r, s)
}

// nodeArgs is what the graph's recursive "node" template receives.
type nodeArgs struct {
	N    *graphNode
	CSRF string
}

func nodeArgsOf(n *graphNode, csrf string) nodeArgs { return nodeArgs{n, csrf} }

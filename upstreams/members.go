package upstreams

// Virtual servers: an upstream entry with members composes several upstream
// servers behind one slug. Each member is an upstream as any other (its own
// transport, endpoint, audience, auth and timeouts); its tool and prompt
// names are seen by callers with the member's prefix (by default
// "<name>__"), and the entry's tools and prompts are registered under those
// prefixed names, so policy, budgets, audit and kill govern them unchanged.
//
// Non-empty prefixes must be prefix-free (no member's prefix starts
// another's): every prefixed name then belongs to exactly one member, and
// two members' objects can never collide, whatever they list at run time.
// One member may have the empty prefix: it takes every name no other
// member's prefix starts (its own objects whose names start another
// member's prefix are not served: gateway/virtual drops them from lists).
// A registered tool or prompt whose name carries no member's prefix is
// refused.

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// TransportVirtual is the transport of an upstream with members: the gateway
// serves it in process and fans out to the members.
const TransportVirtual Transport = "virtual"

// Member is one upstream behind a virtual upstream. Its Upstream carries the
// member's transport, endpoint, downstream audience, headers, auth and
// timeouts; its Slug is "<virtual slug>.<name>" (never a registry slug,
// which has no '.'), and it has no tools of its own: the virtual upstream's
// registry entry governs them.
type Member struct {
	Name   string
	Prefix string
	*Upstream
}

// MemberOf returns the member whose prefix starts name, and name without
// it: the member with the empty prefix, if any, only when no other's does.
func (u *Upstream) MemberOf(name string) (*Member, string, bool) {
	var bare *Member
	for i := range u.Members {
		m := &u.Members[i]
		if m.Prefix == "" {
			bare = m
			continue
		}
		if strings.HasPrefix(name, m.Prefix) {
			return m, name[len(m.Prefix):], true
		}
	}
	if bare != nil {
		return bare, name, true
	}
	return nil, "", false
}

type memberSpec struct {
	node   *yaml.Node
	path   string
	name   field[string]
	prefix field[string]
	up     upstreamSpec // the member's own upstream fields
}

// members decodes the members list of an upstream entry.
func (d *decoder) members(e entry) field[[]memberSpec] {
	f := field[[]memberSpec]{node: e.val, path: e.path}
	if e.val.Kind != yaml.SequenceNode {
		d.errorf(e.val, e.path, "must be a list of members, got %s", kindName(e.val))
		f.bad = true
		return f
	}
	for i, item := range e.val.Content {
		n := d.resolve(item)
		path := fmt.Sprintf("%s[%d]", e.path, i)
		m := memberSpec{node: n, path: path, up: upstreamSpec{node: n, path: path}}
		u := &m.up
		d.fields(n, path, "a mapping with name and an upstream's transport fields", map[string]func(entry){
			"name":                func(e entry) { m.name = d.str(e) },
			"prefix":              func(e entry) { m.prefix = d.str(e) },
			"transport":           func(e entry) { u.transport = d.str(e) },
			"url":                 func(e entry) { u.url = d.str(e) },
			"command":             func(e entry) { u.command = d.strList(e) },
			"env":                 func(e entry) { u.env = d.strMap(e) },
			"downstream_audience": func(e entry) { u.downstream = d.str(e) },
			"timeouts":            func(e entry) { u.timeouts = d.timeouts(e) },
			"headers":             func(e entry) { u.headers = d.strMap(e) },
			"auth":                func(e entry) { u.auth = d.auth(e) },
		})
		f.v = append(f.v, m)
	}
	return f
}

var memberPrefixRE = regexp.MustCompile(`^[A-Za-z0-9_.-]*$`)

// virtualOf validates the members of an upstream entry (transport virtual):
// the entry itself has no endpoint, and its registered tools and prompts
// carry member prefixes.
func (d *decoder) virtualOf(s upstreamSpec, u *Upstream) {
	for _, f := range []struct {
		n    *yaml.Node
		path string
	}{{s.url.node, s.url.path}, {s.command.node, s.command.path}, {s.env.node, s.env.path},
		{s.headers.node, s.headers.path}, {s.downstream.node, s.downstream.path}, {s.auth.node, s.auth.path}} {
		if f.n != nil {
			d.errorf(f.n, f.path, "is not for an upstream with members: set it on the member")
		}
	}
	if !s.members.ok() {
		return
	}
	if len(s.members.v) == 0 {
		d.errorf(s.members.node, s.members.path, "must list at least one member")
		return
	}
	names := map[string]*memberSpec{}
	type placed struct {
		prefix string
		m      *memberSpec
	}
	var prefixes []placed
	for i := range s.members.v {
		ms := &s.members.v[i]
		if ms.node.Kind != yaml.MappingNode {
			continue // reported by fields
		}
		m := Member{Upstream: &Upstream{
			Pos:      Position{File: d.file, Line: ms.node.Line, Col: ms.node.Column},
			path:     ms.path,
			Timeouts: Timeouts{Connect: DefaultConnectTimeout, Call: DefaultCallTimeout, Idle: DefaultIdleTimeout},
		}}
		switch {
		case !ms.name.set():
			d.errorf(ms.node, ms.path+".name", "is required")
			continue
		case !ms.name.ok():
			continue
		case !slugRE.MatchString(ms.name.v):
			d.errorf(ms.name.node, ms.name.path, "%q must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit", ms.name.v)
			continue
		}
		if prev, dup := names[ms.name.v]; dup {
			d.errorf(ms.name.node, ms.name.path, "member name %q is already used by %s (line %d)", ms.name.v, prev.path, prev.node.Line)
			continue
		}
		names[ms.name.v] = ms
		m.Name = ms.name.v
		m.Prefix = m.Name + "__"
		if ms.prefix.set() {
			if !ms.prefix.ok() {
				continue
			}
			if !memberPrefixRE.MatchString(ms.prefix.v) {
				d.errorf(ms.prefix.node, ms.prefix.path, "%q must be letters, digits, '_', '-' and '.'", ms.prefix.v)
				continue
			}
			m.Prefix = ms.prefix.v
		}
		if u.Slug != "" {
			m.Slug = u.Slug + "." + m.Name
		}
		d.memberEndpoint(ms, m.Upstream)
		for _, p := range prefixes {
			if (m.Prefix == "") != (p.prefix == "") {
				continue // the empty prefix takes what no other prefix claims
			}
			if strings.HasPrefix(m.Prefix, p.prefix) || strings.HasPrefix(p.prefix, m.Prefix) {
				n, path := ms.prefix.node, ms.prefix.path
				if n == nil {
					n, path = ms.name.node, ms.name.path
				}
				d.errorf(n, path, "prefix %q of member %q collides with prefix %q of member %q (line %d): a tool or prompt name could belong to both",
					m.Prefix, m.Name, p.prefix, p.m.name.v, p.m.node.Line)
			}
		}
		prefixes = append(prefixes, placed{m.Prefix, ms})
		u.Members = append(u.Members, m)
	}
	owned := func(name string) bool { _, _, ok := u.MemberOf(name); return ok }
	for _, t := range s.tools.v {
		if t.name.ok() && !owned(t.name.v) {
			d.errorf(t.name.node, t.name.path, "tool %q has no member's prefix (%s)", t.name.v, prefixList(u))
		}
	}
	for _, p := range s.prompts.v {
		if p.name.ok() && !owned(p.name.v) {
			d.errorf(p.name.node, p.name.path, "prompt %q has no member's prefix (%s)", p.name.v, prefixList(u))
		}
	}
}

// memberEndpoint validates a member's transport, endpoint, auth, audience
// and timeouts exactly as those of an upstream entry.
func (d *decoder) memberEndpoint(ms *memberSpec, m *Upstream) {
	s := ms.up
	m.Transport = d.transportOf(s)
	var endpoint = d.endpointOf(s, m)
	d.authOf(s, m)
	d.audiencesOf(s, m, endpoint, "")
	d.timeoutsOf(s.timeouts, &m.Timeouts)
}

func prefixList(u *Upstream) string {
	ps := make([]string, len(u.Members))
	for i, m := range u.Members {
		ps[i] = fmt.Sprintf("%q", m.Prefix)
	}
	return "member prefixes: " + strings.Join(ps, ", ")
}

// endpointOf checks the endpoint fields of s's transport; the URL for HTTP.
func (d *decoder) endpointOf(s upstreamSpec, u *Upstream) *url.URL {
	switch u.Transport {
	case TransportStreamableHTTP, TransportSSE:
		return d.httpEndpoint(s, u)
	case TransportStdio:
		d.stdioEndpoint(s, u)
	}
	return nil
}

// virtualTransport reports whether s has members, which makes its transport
// virtual (a transport field beside members is an error).
func (d *decoder) virtualTransport(s upstreamSpec) bool {
	if !s.members.set() {
		return false
	}
	if s.transport.set() {
		d.errorf(s.transport.node, s.transport.path, "is not for an upstream with members: set it on each member")
	}
	return true
}

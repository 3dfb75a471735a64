package policy

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/openlegant/legant/authority"
)

// ResourceGrant is one entry of the registry's resources section for an
// upstream: an exact URI, the expansions of an RFC 6570 template, or every
// URI under a prefix, each with the scope a token needs. Exactly one of URI,
// Template and Prefix is set. A ResourceGrant is immutable once built.
type ResourceGrant struct {
	URI      string       // exact URI
	Template *URITemplate // the URIs the template expands to
	Prefix   string       // every URI starting with Prefix (no "." or ".." segments)
	Scope    string       // required scope; "" means holding a valid token
	// Kind, when set, holds the URI against the token's resources
	// constraint, canonicalized as that kind (url: the canonical URL; path:
	// the URI's path; name: the URI exactly). "" means the constraint does
	// not apply to this grant.
	Kind ResourceKind
}

// Covers reports whether the grant covers uri.
func (g *ResourceGrant) Covers(uri string) bool {
	switch {
	case g.URI != "":
		return uri == g.URI
	case g.Template != nil:
		return g.Template.Match(uri)
	case g.Prefix != "":
		return strings.HasPrefix(uri, g.Prefix) && !hasDotSegment(uri)
	}
	return false
}

// String names the grant for messages and the audit log.
func (g *ResourceGrant) String() string {
	switch {
	case g.URI != "":
		return g.URI
	case g.Template != nil:
		return g.Template.String()
	default:
		return g.Prefix + "*"
	}
}

// ResourceGrants are an upstream's resource grants. The nil value grants
// nothing: every resource is invisible and unreadable.
type ResourceGrants []*ResourceGrant

// For returns the grant that decides uri, nil when none covers it. The most
// specific grant wins: an exact URI, then a template, then the longest prefix.
func (gs ResourceGrants) For(uri string) *ResourceGrant {
	var tmpl, prefix *ResourceGrant
	for _, g := range gs {
		if !g.Covers(uri) {
			continue
		}
		switch {
		case g.URI != "":
			return g
		case g.Template != nil:
			if tmpl == nil {
				tmpl = g
			}
		case prefix == nil || len(g.Prefix) > len(prefix.Prefix):
			prefix = g
		}
	}
	if tmpl != nil {
		return tmpl
	}
	return prefix
}

// ForTemplate returns the grant that decides a resource template a server
// lists (resources/templates/list) or a completion refers to: a template grant
// written exactly the same, else a prefix grant covering the template's
// literal beginning (everything before its first expression). nil when none.
func (gs ResourceGrants) ForTemplate(template string) *ResourceGrant {
	literal, _, hasExpr := strings.Cut(template, "{")
	var prefix *ResourceGrant
	for _, g := range gs {
		switch {
		case g.Template != nil && g.Template.String() == template:
			return g
		case g.Prefix != "" && hasExpr && strings.HasPrefix(literal, g.Prefix) && !hasDotSegment(literal):
			if prefix == nil || len(g.Prefix) > len(prefix.Prefix) {
				prefix = g
			}
		}
	}
	return prefix
}

// DecideResource decides a resources/read, resources/subscribe or
// resources/unsubscribe of uri under grant g (ResourceGrants.For), and so
// whether uri may be listed. It checks, in order: a verified token
// (unauthenticated), a grant (resource_not_bound), its scope
// (insufficient_scope), and, when the grant has a Kind, the token's resources
// constraint (invalid_argument when uri cannot be read as that kind,
// resource). Time windows apply as to tools. Pure and safe for concurrent use.
func DecideResource(c *authority.Claims, g *ResourceGrant, uri string, call Call) Decision {
	var d Decision
	switch {
	case c == nil:
		return Deny(ReasonUnauthenticated, "no verified token")
	case g == nil || !g.Covers(uri):
		// Invisible is indistinguishable from nonexistent: MCP's
		// resource-not-found answer (SEP-2164), data.reason added.
		d = Decision{Reason: ReasonResourceNotBound, Message: "Resource not found", URI: uri, Value: shorten(uri)}
		return d
	case g.Scope != "" && !c.HasScope(g.Scope):
		d = Deny(ReasonInsufficientScope, "resource %s requires scope %s", shorten(uri), g.Scope)
		d.Constraint, d.Limit = "scope", g.Scope
		return d
	}
	if g.Kind != "" {
		res, err := resourceOfURI(g.Kind, uri)
		if err != nil {
			d = Deny(ReasonInvalidArgument, "%v", err)
			d.Constraint, d.Argument, d.Value = "arguments", "/uri", shorten(uri)
			return d
		}
		d.Resource = res
		if !resourceAllowed(c.Constraints.Resources, g.Kind, res) {
			deny(&d, ReasonResource, "resources", setLimit(c.Constraints.Resources), shorten(res),
				fmt.Sprintf("resource %s is not allowed", shorten(res)))
			return d
		}
	}
	if !checkWindow(&d, &c.Constraints, nil, call.At) {
		return d
	}
	d.Allow, d.Reason = true, ReasonAllowed
	return d
}

// ResourceVisible reports whether a resource may appear in the token's
// resources/list: DecideResource would allow reading it at some instant.
func ResourceVisible(c *authority.Claims, gs ResourceGrants, uri string) bool {
	d := DecideResource(c, gs.For(uri), uri, Call{})
	return d.Allow || d.Reason == ReasonWindow
}

// TemplateVisible reports whether a resource template may appear in the
// token's resources/templates/list (and be completed): a grant covers it and
// the token holds its scope. The resources constraint is checked per URI at read time.
func TemplateVisible(c *authority.Claims, gs ResourceGrants, template string) bool {
	g := gs.ForTemplate(template)
	return c != nil && g != nil && (g.Scope == "" || c.HasScope(g.Scope))
}

// resourceOfURI reads a resource URI as kind for the resources constraint.
func resourceOfURI(kind ResourceKind, uri string) (string, error) {
	if kind == ResourcePath {
		u, err := url.Parse(uri)
		if err != nil {
			return "", fmt.Errorf("resource URI %q is not a URI", shorten(uri))
		}
		if u.Scheme != "" {
			p := u.Path
			if u.Opaque != "" {
				p = u.Opaque
			}
			return canonicalPath(p)
		}
	}
	return canonicalResource(kind, uri)
}

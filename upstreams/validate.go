package upstreams

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/dpop"
)

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// registry validates the whole file and returns its upstreams; problems are
// collected in d.errs.
func (d *decoder) registry(f fileSpec, base string) []*Upstream {
	switch {
	case f.node.Kind != yaml.MappingNode:
		// already reported by d.document
	case !f.version.set():
		d.errorf(f.node, "version", "is required (version: %d)", SupportedVersion)
	case f.version.ok() && f.version.v != SupportedVersion:
		d.errorf(f.version.node, "version", "unsupported version %d: this legant reads version %d", f.version.v, SupportedVersion)
	}
	var ups []*Upstream
	slugs := map[string]*Upstream{}
	audiences := map[string]*Upstream{}
	for _, s := range f.upstreams {
		u := d.upstreamOf(s, base)
		if u == nil {
			continue
		}
		if prev, dup := slugs[u.Slug]; dup && u.Slug != "" {
			d.errorf(s.slug.node, s.slug.path, "slug %q is already used by %s (line %d)", u.Slug, prev.path, prev.Pos.Line)
			continue
		}
		slugs[u.Slug] = u
		if u.InboundAudience != "" {
			if prev, dup := audiences[u.InboundAudience]; dup {
				n, p := s.inbound.node, s.inbound.path
				if n == nil {
					n, p = s.node, s.path+".inbound_audience"
				}
				d.errorf(n, p, "inbound audience %q is already used by %s (line %d): a token for one would open the other", u.InboundAudience, prev.path, prev.Pos.Line)
			}
			audiences[u.InboundAudience] = u
		}
		ups = append(ups, u)
	}
	return ups
}

// upstreamOf validates one entry; nil when the entry is not even a mapping.
func (d *decoder) upstreamOf(s upstreamSpec, base string) *Upstream {
	if s.node.Kind != yaml.MappingNode {
		return nil
	}
	u := &Upstream{
		Pos:      Position{File: d.file, Line: s.node.Line, Col: s.node.Column},
		path:     s.path,
		Timeouts: Timeouts{Connect: DefaultConnectTimeout, Call: DefaultCallTimeout, Request: DefaultRequestTimeout, Idle: DefaultIdleTimeout},
	}
	switch {
	case !s.slug.set():
		d.errorf(s.node, s.path+".slug", "is required")
	case s.slug.ok() && !slugRE.MatchString(s.slug.v):
		d.errorf(s.slug.node, s.slug.path, "%q must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit", s.slug.v)
	case s.slug.ok():
		u.Slug = s.slug.v
	}
	u.Transport = d.transportOf(s)
	var endpoint *url.URL
	switch u.Transport {
	case TransportStreamableHTTP, TransportSSE:
		endpoint = d.httpEndpoint(s, u)
	case TransportStdio:
		d.stdioEndpoint(s, u)
	case TransportVirtual:
		d.virtualOf(s, u) // members.go
	}
	d.authOf(s, u)
	d.downstreamDPoPOf(s, u) // dpop.go
	d.h2cOf(s, u, endpoint)
	d.audiencesOf(s, u, endpoint, base)
	d.timeoutsOf(s.timeouts, &u.Timeouts)
	u.Tools, u.toolW = d.toolsOf(s)
	if s.dpop.ok() {
		if m, err := dpop.ParseMode(s.dpop.v); err != nil {
			d.errorf(s.dpop.node, s.dpop.path, "%q must be one of allow, require, bearer", s.dpop.v)
		} else {
			u.DPoP = m
		}
	}
	u.Resources = d.resourcesOf(s)
	u.Prompts = d.promptsOf(s)
	u.Methods = d.methodsOf(s)
	u.Pins = d.pinsOf(s)
	return u
}

// transportOf returns the upstream's transport, or "" when it is invalid.
func (d *decoder) transportOf(s upstreamSpec) Transport {
	if d.virtualTransport(s) { // members.go
		return TransportVirtual
	}
	if !s.transport.set() {
		return DefaultTransport
	}
	if !s.transport.ok() {
		return ""
	}
	switch t := Transport(s.transport.v); t {
	case TransportStreamableHTTP, TransportSSE, TransportStdio:
		return t
	}
	d.errorf(s.transport.node, s.transport.path, "%q must be one of %s, %s, %s",
		s.transport.v, TransportStreamableHTTP, TransportSSE, TransportStdio)
	return ""
}

// httpEndpoint checks the fields of an HTTP transport and returns its URL.
func (d *decoder) httpEndpoint(s upstreamSpec, u *Upstream) *url.URL {
	d.onlyFor(s.command.node, s.command.path, TransportStdio)
	d.onlyFor(s.env.node, s.env.path, TransportStdio)
	u.Headers = d.headersOf(s.headers)
	if !s.url.set() {
		d.errorf(s.node, s.path+".url", "is required for transport %s", u.Transport)
		return nil
	}
	if !s.url.ok() {
		return nil
	}
	parsed, problem := checkURL(s.url.v, true)
	if problem != "" {
		d.errorf(s.url.node, s.url.path, "%s", problem)
		return nil
	}
	u.URL = s.url.v
	return parsed
}

// stdioEndpoint checks the fields of the stdio transport.
func (d *decoder) stdioEndpoint(s upstreamSpec, u *Upstream) {
	d.onlyFor(s.url.node, s.url.path, TransportStreamableHTTP, TransportSSE)
	d.onlyFor(s.headers.node, s.headers.path, TransportStreamableHTTP, TransportSSE)
	switch {
	case !s.command.set():
		d.errorf(s.node, s.path+".command", "is required for transport stdio (the argv to run)")
	case s.command.ok() && len(s.command.v) == 0:
		d.errorf(s.command.node, s.command.path, "must name the program to run")
	}
	for _, arg := range s.command.v {
		switch {
		case arg.ok() && arg.v == "":
			d.errorf(arg.node, arg.path, "must not be empty")
		case arg.ok() && strings.ContainsRune(arg.v, 0):
			d.errorf(arg.node, arg.path, "must not contain NUL")
		case arg.ok():
			u.Command = append(u.Command, arg.v)
		}
	}
	u.Env = d.envOf(s.env)
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (d *decoder) envOf(f field[[]pair]) map[string]string {
	if !f.set() {
		return nil
	}
	env := make(map[string]string, len(f.v))
	for _, p := range f.v {
		switch {
		case !envNameRE.MatchString(p.key.v):
			d.errorf(p.key.node, p.key.path, "environment variable names are letters, digits and '_', not starting with a digit")
		case p.val.ok() && strings.ContainsRune(p.val.v, 0):
			d.errorf(p.val.node, p.val.path, "must not contain NUL")
		case p.val.ok():
			env[p.key.v] = p.val.v
		}
	}
	return env
}

// onlyFor reports a field that is set although the transport does not use it.
func (d *decoder) onlyFor(n *yaml.Node, path string, ts ...Transport) {
	if n == nil {
		return
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = string(t)
	}
	d.errorf(n, path, "is only for transport %s", strings.Join(names, " and "))
}

// audiencesOf sets the inbound and downstream audiences, explicit or
// default, in the canonical form tokens carry (authority.CanonicalResource),
// so that equal audiences compare equal.
func (d *decoder) audiencesOf(s upstreamSpec, u *Upstream, endpoint *url.URL, base string) {
	switch {
	case s.inbound.ok():
		u.InboundAudience = d.audience(s.inbound, "")
	case !s.inbound.set() && base != "" && u.Slug != "":
		u.InboundAudience, _ = authority.CanonicalResource(base + "/mcp/" + u.Slug)
	}
	stdioForm := ""
	if u.Transport == TransportStdio && u.Slug != "" {
		stdioForm = "stdio:" + u.Slug
	}
	switch {
	case s.downstream.ok():
		u.DownstreamAudience = d.audience(s.downstream, stdioForm)
	case s.downstream.set():
	case stdioForm != "":
		u.DownstreamAudience = stdioForm
	case endpoint != nil:
		u.DownstreamAudience, _ = authority.CanonicalResource(endpoint.Scheme + "://" + endpoint.Host + endpoint.EscapedPath())
	}
}

// audience checks an explicit audience and returns its canonical form, or
// "" after reporting the problem. alt, when set, is also accepted as is.
func (d *decoder) audience(f field[string], alt string) string {
	if alt != "" && f.v == alt {
		return alt
	}
	_, problem := checkURL(f.v, false)
	canon, err := "", error(nil)
	if problem == "" {
		if canon, err = authority.CanonicalResource(f.v); err != nil {
			problem = fmt.Sprintf("%q is not a resource identifier: %v", f.v, errors.Unwrap(err))
		}
	}
	if problem != "" {
		if alt != "" {
			problem += fmt.Sprintf(", or %q", alt)
		}
		d.errorf(f.node, f.path, "%s", problem)
		return ""
	}
	return canon
}

func (d *decoder) timeoutsOf(t timeoutsSpec, out *Timeouts) {
	positive := func(f field[time.Duration], dst *time.Duration, def string) {
		switch {
		case f.ok() && f.v <= 0:
			d.errorf(f.node, f.path, "must be positive (leave it out for the default %s)", def)
		case f.ok():
			*dst = f.v
		}
	}
	positive(t.connect, &out.Connect, DefaultConnectTimeout.String())
	positive(t.idle, &out.Idle, DefaultIdleTimeout.String())
	positive(t.request, &out.Request, DefaultRequestTimeout.String())
	switch {
	case t.call.ok() && t.call.v < 0:
		d.errorf(t.call.node, t.call.path, "must not be negative (0 means no per-call limit)")
	case t.call.ok():
		out.Call = t.call.v
	}
}

// publicBase validates Options.PublicURL and returns it without a trailing slash.
func publicBase(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	s = strings.TrimRight(s, "/")
	if _, problem := checkURL(s, false); problem != "" {
		return "", fmt.Errorf("upstreams: Options.PublicURL: %s", problem)
	}
	return s, nil
}

// checkURL reports what makes s unfit as an endpoint or audience: it must be
// an absolute http(s) URL with a host, without userinfo or fragment, and
// (unless allowQuery) without a query. It returns the parsed URL and "" when fine.
func checkURL(s string, allowQuery bool) (*url.URL, string) {
	q := strconv.Quote(s)
	if strings.Contains(s, "@") {
		q = "the URL" // may hold credentials: never echo it
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Sprintf("%s is not a URL: %v", q, unwrapURLError(err))
	case u.User != nil:
		return nil, "must not carry userinfo (credentials do not belong in the registry)"
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Sprintf("%s must be an absolute http or https URL", q)
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return nil, fmt.Sprintf("%s must name a host", q)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return nil, fmt.Sprintf("%s must not have a fragment", q)
	case !allowQuery && (u.RawQuery != "" || u.ForceQuery):
		return nil, fmt.Sprintf("%s must not have a query", q)
	}
	return u, ""
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

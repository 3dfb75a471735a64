package upstreams

import (
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// AuthKind says how the gateway authenticates to an upstream. The caller's
// own token is never forwarded, whatever the kind.
type AuthKind string

const (
	// AuthLegant sends a fresh audience-bound delegation token minted by the
	// gateway per caller token (the default: Legant-aware upstreams).
	AuthLegant AuthKind = "legant"
	// AuthStatic sends a secret header (HTTP) or sets secret environment
	// variables (stdio) whose values the registry names by reference.
	AuthStatic AuthKind = "static"
	// AuthOAuth makes the gateway an OAuth 2.1 client of the upstream's
	// authorization server, per user: each user connects the upstream once.
	AuthOAuth AuthKind = "oauth"
	// AuthExchange makes the gateway trade, per caller delegation, a token
	// it mints for the upstream's authorization server for an access token
	// of the upstream (RFC 8693 token exchange): for upstreams whose
	// authorization server trusts the gateway's issuer.
	AuthExchange AuthKind = "exchange"
)

// DefaultAuthKind is the kind of an upstream without an auth section.
const DefaultAuthKind = AuthLegant

// Auth is how the gateway authenticates to one upstream.
type Auth struct {
	Kind AuthKind
	// Header is the secret header of a static HTTP upstream; nil otherwise.
	Header *SecretHeader
	// Env are the secret environment variables of a static stdio upstream,
	// added to the child's environment; nil otherwise.
	Env map[string]Secret
	// OAuth are the client settings of an oauth upstream; nil otherwise.
	OAuth *OAuthClient
	// Exchange are the token exchange settings of an exchange upstream; nil
	// otherwise.
	Exchange *TokenExchange
}

// TokenExchange is how the gateway exchanges tokens at an upstream's
// authorization server (auth kind exchange). The client is always a
// pre-registered confidential one: the server makes it an actor of the
// delegation chain.
type TokenExchange struct {
	ClientID     string
	ClientSecret Secret
	// Scopes are requested for the upstream's token; nil asks for none (the
	// server's default).
	Scopes []string
	// AuthorizationServer is the issuer of the upstream's authorization
	// server (its RFC 8414 metadata names the token endpoint); "" means
	// discovered from the upstream's protected-resource metadata (RFC 9728).
	AuthorizationServer string
}

// SecretHeader is a header whose value is a secret: Scheme (e.g. "Bearer"),
// when set, is written before the secret with one space.
type SecretHeader struct {
	Name   string // canonical header name
	Scheme string
	Value  Secret
}

// HeaderValue is the header's value as sent: "<scheme> <secret>" or the secret.
func (h *SecretHeader) HeaderValue() string {
	if h.Scheme == "" {
		return h.Value.Reveal()
	}
	return h.Scheme + " " + h.Value.Reveal()
}

// OAuthClient is how the gateway identifies itself to an upstream's
// authorization server. An empty ClientID means dynamic client registration
// (RFC 7591) at the server's registration endpoint.
type OAuthClient struct {
	ClientID     string
	ClientSecret Secret // zero for a public client (PKCE only)
	// Scopes are requested at authorization; nil means the scopes_supported
	// of the upstream's protected-resource metadata.
	Scopes []string
}

// authSpec mirrors the auth section of an upstream.
type authSpec struct {
	node         *yaml.Node
	path         string
	kind         field[string]
	header       field[headerSpec]
	env          field[[]secretPair]
	clientID     field[string]
	clientSecret field[secretRef]
	scopes       field[[]field[string]]
	clientNode   *yaml.Node
	server       field[string] // authorization_server (kind exchange)
}

type headerSpec struct {
	name, scheme field[string]
	value        field[secretRef]
}

type secretPair struct {
	key field[string]
	val field[secretRef]
}

func (d *decoder) auth(e entry) authSpec {
	a := authSpec{node: e.val, path: e.path}
	d.fields(e.val, e.path, "a mapping with kind", map[string]func(entry){
		"kind":   func(e entry) { a.kind = d.str(e) },
		"header": func(e entry) { a.header = d.secretHeader(e) },
		"env": func(e entry) {
			a.env = field[[]secretPair]{node: e.val, path: e.path}
			es, ok := d.entries(e.val, e.path, "a mapping of variable names to {env: NAME} or {file: PATH}")
			a.env.bad = !ok
			for _, kv := range es {
				a.env.v = append(a.env.v, secretPair{key: field[string]{v: kv.key, node: kv.keyN, path: kv.path}, val: d.secretRef(kv)})
			}
		},
		"client": func(e entry) {
			a.clientNode = e.val
			d.fields(e.val, e.path, "a mapping with id and, for a confidential client, secret", map[string]func(entry){
				"id":     func(e entry) { a.clientID = d.str(e) },
				"secret": func(e entry) { a.clientSecret = d.secretRef(e) },
			})
		},
		"scopes":               func(e entry) { a.scopes = d.strList(e) },
		"authorization_server": func(e entry) { a.server = d.str(e) },
	})
	return a
}

func (d *decoder) secretHeader(e entry) field[headerSpec] {
	f := field[headerSpec]{node: e.val, path: e.path}
	f.bad = !d.fields(e.val, e.path, "a mapping with name and value", map[string]func(entry){
		"name":   func(e entry) { f.v.name = d.str(e) },
		"scheme": func(e entry) { f.v.scheme = d.str(e) },
		"value":  func(e entry) { f.v.value = d.secretRef(e) },
	})
	return f
}

// authOf validates the auth section against the upstream's transport.
func (d *decoder) authOf(s upstreamSpec, u *Upstream) {
	a := s.auth
	u.Auth = Auth{Kind: DefaultAuthKind}
	if a.node == nil {
		return
	}
	if a.node.Kind != yaml.MappingNode {
		return // reported by fields
	}
	kind := DefaultAuthKind
	switch {
	case a.kind.ok():
		switch k := AuthKind(a.kind.v); k {
		case AuthLegant, AuthStatic, AuthOAuth, AuthExchange:
			kind = k
		default:
			d.errorf(a.kind.node, a.kind.path, "%q must be one of %s, %s, %s, %s", a.kind.v, AuthLegant, AuthStatic, AuthOAuth, AuthExchange)
			return
		}
	case a.kind.set():
		return
	}
	u.Auth.Kind = kind
	only := func(n *yaml.Node, path, what string) {
		if n != nil {
			d.errorf(n, path, "is only for %s", what)
		}
	}
	if kind != AuthStatic {
		only(a.header.node, a.header.path, "kind static")
		only(a.env.node, a.env.path, "kind static")
	}
	if kind != AuthOAuth && kind != AuthExchange {
		only(a.clientNode, a.path+".client", "kinds oauth and exchange")
		only(a.scopes.node, a.scopes.path, "kinds oauth and exchange")
	}
	if kind != AuthExchange {
		only(a.server.node, a.server.path, "kind exchange")
	}
	switch kind {
	case AuthStatic:
		d.staticAuthOf(s, u)
	case AuthOAuth:
		d.oauthOf(s, u)
	case AuthExchange:
		d.exchangeOf(s, u)
	}
}

func (d *decoder) staticAuthOf(s upstreamSpec, u *Upstream) {
	a := s.auth
	if u.Transport == TransportStdio {
		only := a.header
		if only.set() {
			d.errorf(only.node, only.path, "is only for HTTP transports: a stdio upstream takes secrets in env")
		}
		if !a.env.set() {
			d.errorf(a.node, a.path+".env", "is required for kind static on transport stdio")
			return
		}
		u.Auth.Env = map[string]Secret{}
		for _, p := range a.env.v {
			switch {
			case !envNameRE.MatchString(p.key.v):
				d.errorf(p.key.node, p.key.path, "environment variable names are letters, digits and '_', not starting with a digit")
				continue
			case u.Env[p.key.v] != "":
				d.errorf(p.key.node, p.key.path, "%s is also set in the upstream's env", p.key.v)
				continue
			}
			if sec, ok := d.resolveSecret(p.val); ok {
				u.Auth.Env[p.key.v] = sec
			}
		}
		return
	}
	if a.env.set() {
		d.errorf(a.env.node, a.env.path, "is only for transport stdio: an HTTP upstream takes its secret in header")
	}
	if !a.header.set() {
		d.errorf(a.node, a.path+".header", "is required for kind static on an HTTP transport")
		return
	}
	if !a.header.ok() {
		return
	}
	h := a.header.v
	out := &SecretHeader{}
	switch name := textproto.CanonicalMIMEHeaderKey(h.name.v); {
	case !h.name.set():
		d.errorf(a.header.node, a.header.path+".name", "is required")
	case !h.name.ok():
	case !validHeaderName(h.name.v):
		d.errorf(h.name.node, h.name.path, "%q is not a valid header name", h.name.v)
	case name == "Proxy-Authorization" || gatewayHeaders[name]:
		d.errorf(h.name.node, h.name.path, "%s cannot carry the upstream's credential", name)
	case u.Headers[name] != "":
		d.errorf(h.name.node, h.name.path, "%s is also set in the upstream's headers", name)
	default:
		out.Name = name
	}
	if h.scheme.ok() && !validHeaderName(h.scheme.v) {
		d.errorf(h.scheme.node, h.scheme.path, "%q must be one word, such as Bearer", h.scheme.v)
	} else if h.scheme.ok() {
		out.Scheme = h.scheme.v
	}
	if !h.value.set() {
		d.errorf(a.header.node, a.header.path+".value", "is required: {env: NAME} or {file: PATH}")
		return
	}
	if sec, ok := d.resolveSecret(h.value); ok {
		if !validHeaderValue(sec.value) {
			d.errorf(h.value.node, h.value.path, "the secret %s holds control characters", sec.Ref)
			return
		}
		out.Value = sec
		u.Auth.Header = out
	}
}

func (d *decoder) oauthOf(s upstreamSpec, u *Upstream) {
	a := s.auth
	if u.Transport == TransportStdio {
		d.errorf(a.kind.node, a.kind.path, "kind oauth needs an HTTP transport (a stdio upstream has no authorization server)")
		return
	}
	c := &OAuthClient{}
	if a.clientNode != nil {
		switch {
		case !a.clientID.set():
			d.errorf(a.clientNode, a.path+".client.id", "is required (leave client out for dynamic client registration)")
		case a.clientID.ok() && strings.TrimSpace(a.clientID.v) == "":
			d.errorf(a.clientID.node, a.clientID.path, "must not be empty")
		case a.clientID.ok():
			c.ClientID = a.clientID.v
		}
		if a.clientSecret.set() {
			if sec, ok := d.resolveSecret(a.clientSecret); ok {
				c.ClientSecret = sec
			}
		}
	}
	c.Scopes = d.scopesOf(a)
	u.Auth.OAuth = c
}

// scopesOf validates the requested scopes of kinds oauth and exchange.
func (d *decoder) scopesOf(a authSpec) []string {
	var out []string
	for _, sc := range a.scopes.v {
		switch {
		case !sc.ok():
		case !validScope(sc.v):
			d.errorf(sc.node, sc.path, "%q is not an OAuth scope token", sc.v)
		case slices.Contains(out, sc.v):
			d.errorf(sc.node, sc.path, "duplicate scope %q", sc.v)
		default:
			out = append(out, sc.v)
		}
	}
	return out
}

// exchangeOf validates kind exchange: an HTTP upstream, a pre-registered
// confidential client (id and secret by reference), and optionally the
// authorization server's issuer (an https URL, or http on loopback).
func (d *decoder) exchangeOf(s upstreamSpec, u *Upstream) {
	a := s.auth
	if u.Transport == TransportStdio {
		d.errorf(a.kind.node, a.kind.path, "kind exchange needs an HTTP transport (a stdio upstream has no authorization server)")
		return
	}
	x := &TokenExchange{}
	switch {
	case a.clientNode == nil:
		d.errorf(a.node, a.path+".client", "is required for kind exchange: {id: ID, secret: {env: NAME} or {file: PATH}}, a client registered at the upstream's authorization server")
	case !a.clientID.set():
		d.errorf(a.clientNode, a.path+".client.id", "is required")
	case a.clientID.ok() && strings.TrimSpace(a.clientID.v) == "":
		d.errorf(a.clientID.node, a.clientID.path, "must not be empty")
	case a.clientID.ok():
		x.ClientID = a.clientID.v
	}
	if a.clientNode != nil {
		if !a.clientSecret.set() {
			d.errorf(a.clientNode, a.path+".client.secret", "is required for kind exchange (a confidential client): {env: NAME} or {file: PATH}")
		} else if sec, ok := d.resolveSecret(a.clientSecret); ok {
			x.ClientSecret = sec
		}
	}
	if a.server.ok() {
		if !validServerURL(a.server.v) {
			d.errorf(a.server.node, a.server.path, "%q must be an https URL (http only on a loopback host) without query or fragment", a.server.v)
		} else {
			x.AuthorizationServer = strings.TrimSuffix(a.server.v, "/")
		}
	}
	x.Scopes = d.scopesOf(a)
	u.Auth.Exchange = x
}

// validServerURL reports whether s may name an authorization server: https,
// or http on a loopback host; no user, query or fragment.
func validServerURL(s string) bool {
	p, err := url.Parse(s)
	if err != nil || p.Host == "" || p.User != nil || p.RawQuery != "" || p.Fragment != "" {
		return false
	}
	switch p.Scheme {
	case "https":
		return true
	case "http":
		h := p.Hostname()
		ip := net.ParseIP(h)
		return h == "localhost" || ip != nil && ip.IsLoopback()
	}
	return false
}

// validScope reports whether s is an RFC 6749 scope token.
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// String names the kind and, for static and oauth, what the credential is
// (never its value): what logs and the audit record show.
func (a Auth) String() string {
	switch {
	case a.Kind == AuthStatic && a.Header != nil:
		return fmt.Sprintf("static header %s from %s", a.Header.Name, a.Header.Value.Ref)
	case a.Kind == AuthStatic:
		return fmt.Sprintf("static env (%d variables)", len(a.Env))
	case a.Kind == AuthExchange && a.Exchange != nil:
		return fmt.Sprintf("exchange as client %s", a.Exchange.ClientID)
	case a.Kind == "":
		return string(DefaultAuthKind)
	}
	return string(a.Kind)
}

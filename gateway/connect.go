package gateway

// The connect flow: the gateway as a per-user OAuth 2.1 client of an
// upstream's authorization server (MCP authorization spec, client side).
//
//	GET /connect/<slug>?ticket=…   the page a connection_required error points
//	                               at: checks the ticket, discovers the
//	                               upstream's server, redirects there
//	GET /connect/callback          exchanges the code, stores the tokens
//
// Discovery: an unauthenticated request to the upstream → 401 with
// WWW-Authenticate (resource_metadata, scope) → RFC 9728 protected-resource
// metadata (the header's URL, then the path and root well-known URLs) → RFC
// 8414 / OIDC metadata of its first authorization server (path-insertion
// variants, go-sdk's auth.GetAuthServerMetadata). The client is the
// registry's pre-registered one, else one registered by RFC 7591 DCR (kept
// in this process). PKCE S256, RFC 8707 resource and RFC 9207 iss are used.
//
// Who connects: the ticket in the page's URL is an HMAC over (user,
// upstream, expiry) minted when the error was produced, so only the holder
// of a token of that user gets one. The state is a random single-use handle
// to a pending authorization held in this process (with the PKCE verifier),
// and is bound to the browser that opened the page by a cookie.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/openlegant/legant/upstreams"
)

const (
	connectPrefix   = "/connect/"
	connectCallback = "/connect/callback"
	stateCookie     = "legant_connect"
	// ConnectTicketTTL is how long a connect URL stays valid.
	ConnectTicketTTL = 10 * time.Minute
	// pendingTTL bounds the time between the redirect and the callback.
	pendingTTL     = 10 * time.Minute
	maxPending     = 10000
	discoveryLimit = 15 * time.Second
)

// connector runs the connect flow. Safe for concurrent use.
type connector struct {
	key    []byte // HMAC key of tickets
	client *http.Client
	now    func() time.Time
	connLocks

	mu      sync.Mutex
	servers map[string]*upstreamServer // by slug, URL, client id and scopes
	pending map[string]*pendingAuth    // by state
}

// upstreamServer is what discovery found for one upstream, and the client
// the gateway is there.
type upstreamServer struct {
	resource string
	meta     *oauthex.AuthServerMeta
	scopes   []string
	redirect string // the callback registered (DCR) or used
	config   oauth2.Config
}

// pendingAuth is an authorization sent to the upstream's server and not yet
// returned.
type pendingAuth struct {
	user, upstream string
	verifier       string
	server         *upstreamServer
	expires        time.Time
}

func newConnector(key []byte, client *http.Client, now func() time.Time) *connector {
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key)
	}
	return &connector{key: key, client: client, now: now, servers: map[string]*upstreamServer{}, pending: map[string]*pendingAuth{}}
}

// ticketClaims are what a connect ticket says.
type ticketClaims struct {
	User     string `json:"u"`
	Upstream string `json:"s"`
	Expires  int64  `json:"e"`
}

func (c *connector) mac(payload string) []byte {
	m := hmac.New(sha256.New, c.key)
	io.WriteString(m, "legant-connect-ticket\x00"+payload)
	return m.Sum(nil)
}

// ticket mints a connect ticket for user and upstream.
func (c *connector) ticket(user, upstream string) string {
	b, _ := json.Marshal(ticketClaims{User: user, Upstream: upstream, Expires: c.now().Add(ConnectTicketTTL).Unix()})
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(c.mac(p))
}

var errBadTicket = errors.New("the connect link is invalid or has expired: retry the call for a new one")

// checkTicket returns the user a ticket for upstream names.
func (c *connector) checkTicket(t, upstream string) (string, error) {
	p, sig, ok := strings.Cut(t, ".")
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(mac, c.mac(p)) {
		return "", errBadTicket
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	var tc ticketClaims
	if err != nil || json.Unmarshal(b, &tc) != nil || tc.Upstream != upstream || tc.User == "" || c.now().Unix() > tc.Expires {
		return "", errBadTicket
	}
	return tc.User, nil
}

// server returns the discovered server of up and the client the gateway is
// there, discovering and registering on first use.
func (c *connector) server(ctx context.Context, up *upstreams.Upstream, redirect string) (*upstreamServer, error) {
	// A reload that changes the upstream's URL, client or scopes discovers
	// and registers again.
	k := strings.Join([]string{up.Slug, up.URL, up.Auth.OAuth.ClientID, strings.Join(up.Auth.OAuth.Scopes, " ")}, "\x00")
	c.mu.Lock()
	s := c.servers[k]
	c.mu.Unlock()
	if s != nil && (redirect == "" || s.redirect == redirect) {
		return s, nil
	}
	if redirect == "" {
		return nil, errors.New("the upstream's authorization server is not known to this process")
	}
	ctx, cancel := context.WithTimeout(ctx, discoveryLimit)
	defer cancel()
	s, err := c.discover(ctx, up)
	if err != nil {
		return nil, err
	}
	if err := c.register(ctx, up, s, redirect); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.servers[k] = s
	c.mu.Unlock()
	return s, nil
}

// discover finds the upstream's authorization server as the MCP
// authorization spec says.
func (c *connector) discover(ctx context.Context, up *upstreams.Upstream) (*upstreamServer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, up.URL, strings.NewReader(`{"jsonrpc":"2.0","id":0,"method":"ping"}`))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("probe the upstream: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	var metaURL string
	var challenged []string
	if resp.StatusCode == http.StatusUnauthorized {
		cs, _ := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
		for _, ch := range cs {
			if ch.Scheme == "bearer" {
				metaURL = ch.Params["resource_metadata"]
				challenged = strings.Fields(ch.Params["scope"])
			}
		}
	}
	prm, err := c.resourceMetadata(ctx, metaURL, up.URL)
	if err != nil {
		return nil, err
	}
	asm, err := auth.GetAuthServerMetadata(ctx, prm.AuthorizationServers[0], c.client)
	if err != nil {
		return nil, fmt.Errorf("authorization server metadata: %w", err)
	}
	if asm == nil {
		return nil, fmt.Errorf("authorization server %s publishes no metadata", prm.AuthorizationServers[0])
	}
	s := &upstreamServer{resource: prm.Resource, meta: asm, scopes: up.Auth.OAuth.Scopes}
	if len(s.scopes) == 0 {
		s.scopes = challenged
	}
	if len(s.scopes) == 0 {
		s.scopes = prm.ScopesSupported
	}
	return s, nil
}

// resourceMetadata fetches RFC 9728 metadata for resource: at the URL the
// challenge named, else at the path and root well-known URLs.
func (c *connector) resourceMetadata(ctx context.Context, metaURL, resource string) (*oauthex.ProtectedResourceMetadata, error) {
	type try struct{ url, resource string }
	var tries []try
	if metaURL != "" {
		tries = append(tries, try{metaURL, resource})
	}
	if u, err := url.Parse(resource); err == nil {
		m := *u
		m.Path, m.RawQuery = "/.well-known/oauth-protected-resource/"+strings.TrimLeft(u.Path, "/"), ""
		tries = append(tries, try{m.String(), resource})
	}
	var errs []error
	for _, t := range tries {
		prm, err := oauthex.GetProtectedResourceMetadata(ctx, t.url, t.resource, c.client)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(prm.AuthorizationServers) == 0 {
			return nil, fmt.Errorf("protected resource metadata at %s names no authorization server", t.url)
		}
		return prm, nil
	}
	return nil, fmt.Errorf("no protected resource metadata for %s: %w", resource, errors.Join(errs...))
}

// register sets the client of s: the registry's, else one registered by DCR.
func (c *connector) register(ctx context.Context, up *upstreams.Upstream, s *upstreamServer, redirect string) error {
	s.redirect = redirect
	s.config = oauth2.Config{RedirectURL: redirect, Scopes: s.scopes, Endpoint: oauth2.Endpoint{
		AuthURL: s.meta.AuthorizationEndpoint, TokenURL: s.meta.TokenEndpoint}}
	if id := up.Auth.OAuth.ClientID; id != "" {
		s.config.ClientID, s.config.ClientSecret = id, up.Auth.OAuth.ClientSecret.Reveal()
		return nil
	}
	if s.meta.RegistrationEndpoint == "" {
		return errors.New("the upstream's authorization server offers no dynamic client registration: set auth.client in the registry")
	}
	reg, err := oauthex.RegisterClient(ctx, s.meta.RegistrationEndpoint, &oauthex.ClientRegistrationMetadata{
		ClientName: "Legant gateway", RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: "none",
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		Scope: strings.Join(s.scopes, " "),
	}, c.client)
	if err != nil {
		return fmt.Errorf("dynamic client registration: %w", err)
	}
	s.config.ClientID, s.config.ClientSecret = reg.ClientID, reg.ClientSecret
	return nil
}

// begin records a pending authorization and returns the URL to send the
// user to and the state.
func (c *connector) begin(s *upstreamServer, user, upstream string) (string, string) {
	state := rand.Text()
	verifier := oauth2.GenerateVerifier()
	now := c.now()
	c.mu.Lock()
	for k, p := range c.pending {
		if now.After(p.expires) {
			delete(c.pending, k)
		}
	}
	if len(c.pending) < maxPending {
		c.pending[state] = &pendingAuth{user: user, upstream: upstream, verifier: verifier, server: s, expires: now.Add(pendingTTL)}
	}
	c.mu.Unlock()
	u := s.config.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", s.resource))
	return u, state
}

// take removes and returns the pending authorization of state (single use).
func (c *connector) take(state string) *pendingAuth {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[state]
	delete(c.pending, state)
	if p == nil || c.now().After(p.expires) {
		return nil
	}
	return p
}

// exchange trades the code for tokens.
func (c *connector) exchange(ctx context.Context, p *pendingAuth, code string) (*UpstreamToken, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.client)
	t, err := p.server.config.Exchange(ctx, code, oauth2.VerifierOption(p.verifier), oauth2.SetAuthURLParam("resource", p.server.resource))
	if err != nil {
		return nil, err
	}
	return c.upstreamToken(t, p.user, p.upstream, p.server, "")
}

// refresh renews tok with its refresh token at the server that issued it,
// keeping the rotated refresh token (or the old one when none came back).
func (c *connector) refresh(ctx context.Context, up *upstreams.Upstream, tok *UpstreamToken) (*UpstreamToken, error) {
	if tok.RefreshToken == "" {
		return nil, errors.New("the token expired and has no refresh token")
	}
	s, err := c.server(ctx, up, "")
	if err != nil {
		return nil, err
	}
	if s.meta.Issuer != tok.Issuer || s.config.ClientID != tok.ClientID {
		return nil, errors.New("the token was issued to another client or by another server")
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.client)
	t, err := s.config.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		return nil, err
	}
	return c.upstreamToken(t, tok.User, tok.Upstream, s, tok.RefreshToken)
}

func (c *connector) upstreamToken(t *oauth2.Token, user, upstream string, s *upstreamServer, oldRefresh string) (*UpstreamToken, error) {
	if t.AccessToken == "" {
		return nil, errors.New("the token response has no access token")
	}
	if tt := t.Type(); !strings.EqualFold(tt, "Bearer") {
		return nil, fmt.Errorf("token type %q is not Bearer", tt)
	}
	out := &UpstreamToken{User: user, Upstream: upstream, AccessToken: t.AccessToken, RefreshToken: t.RefreshToken,
		TokenType: "Bearer", Issuer: s.meta.Issuer, ClientID: s.config.ClientID, ExpiresAt: t.Expiry}
	if out.RefreshToken == "" {
		out.RefreshToken = oldRefresh
	}
	if sc, ok := t.Extra("scope").(string); ok {
		out.Scope = sc
	} else {
		out.Scope = strings.Join(s.scopes, " ")
	}
	return out, nil
}

// ConnectHandler serves the connect pages: /connect/<slug> and
// /connect/callback. cmd/legant mounts it at /connect/.
func (g *Gateway) ConnectHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.hostAllowed(r.Host) {
			http.Error(w, "Forbidden: invalid Host header", http.StatusForbidden)
			return
		}
		if r.Method != http.MethodGet {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if r.URL.Path == connectCallback {
			g.connectCallback(w, r)
			return
		}
		g.connectStart(w, r, strings.TrimPrefix(r.URL.Path, connectPrefix))
	})
}

func (g *Gateway) connectStart(w http.ResponseWriter, r *http.Request, slug string) {
	up, ok := g.opts.Registry().Lookup(slug)
	if !ok || up.Auth.Kind != upstreams.AuthOAuth || g.opts.Connections == nil {
		connectPage(w, http.StatusNotFound, "Unknown upstream", "No upstream "+slug+" to connect here.")
		return
	}
	user, err := g.connect.checkTicket(r.URL.Query().Get("ticket"), slug)
	if err != nil {
		connectPage(w, http.StatusForbidden, "Link expired", err.Error())
		return
	}
	s, err := g.connect.server(r.Context(), up, g.publicURL(r)+connectCallback)
	if err != nil {
		g.log.Warn("upstream authorization server not usable", "upstream", slug, "err", err)
		connectPage(w, http.StatusBadGateway, "Upstream unavailable", "The upstream's authorization server could not be used. Try again later.")
		return
	}
	target, state := g.connect.begin(s, user, slug)
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: state, Path: connectCallback, MaxAge: int(pendingTTL / time.Second),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, target, http.StatusFound)
}

func (g *Gateway) connectCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	ck, err := r.Cookie(stateCookie)
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(state)) != 1 {
		connectPage(w, http.StatusForbidden, "Not connected", "This answer does not belong to a connection started in this browser.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Path: connectCallback, MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil})
	p := g.connect.take(state)
	if p == nil {
		connectPage(w, http.StatusForbidden, "Not connected", "This connection attempt expired or was already used: retry the call for a new link.")
		return
	}
	if e := q.Get("error"); e != "" {
		connectPage(w, http.StatusForbidden, "Not connected", "The upstream's authorization server answered: "+e)
		return
	}
	// RFC 9207: an iss that is present must be the server's; one the server
	// promised must be present.
	if iss := q.Get("iss"); (iss != "" && iss != p.server.meta.Issuer) || (iss == "" && p.server.meta.AuthorizationResponseIssParameterSupported) {
		g.log.Warn("connect callback with a wrong iss", "upstream", p.upstream)
		connectPage(w, http.StatusForbidden, "Not connected", "The answer came from another authorization server.")
		return
	}
	tok, err := g.connect.exchange(r.Context(), p, q.Get("code"))
	if err == nil {
		err = g.opts.Connections.SaveToken(r.Context(), *tok)
	}
	if err != nil {
		g.log.Warn("upstream connection not stored", "upstream", p.upstream, "user", p.user, "err", err)
		connectPage(w, http.StatusBadGateway, "Not connected", "The upstream's token could not be obtained or stored. Retry the call for a new link.")
		return
	}
	g.log.Info("upstream connected", "upstream", p.upstream, "user", p.user, "issuer", tok.Issuer)
	connectPage(w, http.StatusOK, "Connected", "Connected "+p.upstream+": retry your call.")
}

func connectPage(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>%s</title><h1>%s</h1><p>%s</p>\n", html.EscapeString(title), html.EscapeString(title), html.EscapeString(msg))
}

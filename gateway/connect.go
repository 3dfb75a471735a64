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
// variants, go-sdk's auth.GetAuthServerMetadata); the path, then the root
// protected-resource metadata; an upstream with none (2025-03-26 servers) is
// its own authorization server, with the default /authorize, /token and
// /register endpoints when it publishes no metadata either. Discovery runs
// again on every connect page, so an upstream that moved to another
// authorization server is followed (and registered at anew).
//
// The client identity, in the MCP spec's order: the registry's
// pre-registered client; else the gateway's own Client ID Metadata Document
// (served at <public URL>/client-metadata.json) when the server advertises
// client_id_metadata_document_supported and the gateway has an https public
// URL; else one registered by RFC 7591 DCR (kept in the ConnectState, per
// server: replicas on one store share it). The token endpoint is
// authenticated as the registration says (none, client_secret_basic or
// client_secret_post). PKCE S256, RFC 8707 resource
// and RFC 9207 iss (compared as a plain string) are used.
//
// Scopes: the registry's, else the challenge's scope, else the resource's
// scopes_supported; offline_access is added when the server lists it. A 403
// with error="insufficient_scope" (step-up) asks the user to connect again
// for the union of the granted and the challenged scopes; a challenge for
// scopes the stored token already has is refused instead of looping.
//
// Who connects: the ticket in the page's URL is an HMAC over (user,
// upstream, expiry) minted when the error was produced, so only the holder
// of a token of that user gets one. The state is a random single-use handle
// to a pending authorization (with the PKCE verifier, and the server and
// client it was sent to) kept in the ConnectState, so the callback may land
// on any replica on the same store; it is bound to the browser that opened
// the page by a cookie.

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
	"slices"
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

	state   ConnectState // pending authorizations and DCR registrations
	regs    connLocks    // one registration at a time per registration key
	watches elicitWatches
	mu      sync.Mutex
	servers map[string]*upstreamServer // the last discovered, by slug, URL, client id and scopes
}

// clientReg is the gateway's client at one authorization server.
type clientReg struct {
	id, secret string
	style      oauth2.AuthStyle
	identity   string // "cimd", "preregistered" or "dcr"
}

// upstreamServer is what discovery found for one upstream, and the client
// the gateway is there.
type upstreamServer struct {
	resource string
	meta     *oauthex.AuthServerMeta
	scopes   []string
	redirect string // the callback registered (DCR) or used
	identity string // how the client is known there: "cimd", "preregistered" or "dcr"
	regKey   string // dcr: the key of the registration in the ConnectState
	config   oauth2.Config
}

// serverSnapshot is an upstreamServer as a pending authorization keeps it
// (no secret: the client secret is looked up again on the callback).
type serverSnapshot struct {
	Resource     string                  `json:"resource"`
	Meta         *oauthex.AuthServerMeta `json:"meta"`
	Scopes       []string                `json:"scopes,omitempty"`
	Redirect     string                  `json:"redirect"`
	Identity     string                  `json:"identity"`
	Registration string                  `json:"registration,omitempty"`
	ClientID     string                  `json:"client_id"`
	AuthStyle    oauth2.AuthStyle        `json:"auth_style"`
}

// pendingAuth is an authorization sent to the upstream's server and not yet
// returned.
type pendingAuth struct {
	user, upstream string
	verifier       string
	scopes         []string // requested
	elicitation    string   // URL-mode elicitation to complete, and its session
	session        string
	server         *upstreamServer
	expires        time.Time
}

// newConnector returns a connector keeping its state in state (nil: in
// this process only).
func newConnector(key []byte, client *http.Client, now func() time.Time, state ConnectState) *connector {
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key)
	}
	if state == nil {
		state = newMemConnectState(now)
	}
	return &connector{key: key, client: client, now: now, state: state, servers: map[string]*upstreamServer{}}
}

// ticketClaims are what a connect ticket says.
type ticketClaims struct {
	User     string `json:"u"`
	Upstream string `json:"s"`
	Expires  int64  `json:"e"`
	Scope    string `json:"sc,omitempty"` // step-up: the scopes to ask for
	// URL-mode elicitation: its id and the session told when it completes.
	Elicitation string `json:"el,omitempty"`
	Session     string `json:"ss,omitempty"`
}

func (c *connector) mac(payload string) []byte {
	m := hmac.New(sha256.New, c.key)
	io.WriteString(m, "legant-connect-ticket\x00"+payload)
	return m.Sum(nil)
}

// ticket mints a connect ticket for user and upstream; scopes, when given,
// are what the connection must be asked for (step-up).
func (c *connector) ticket(user, upstream string, scopes ...string) string {
	return c.mintTicket(ticketClaims{User: user, Upstream: upstream, Scope: strings.Join(scopes, " ")})
}

// mintTicket signs tc, expiring ConnectTicketTTL from now.
func (c *connector) mintTicket(tc ticketClaims) string {
	tc.Expires = c.now().Add(ConnectTicketTTL).Unix()
	b, _ := json.Marshal(tc)
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(c.mac(p))
}

var errBadTicket = errors.New("the connect link is invalid or has expired: retry the call for a new one")

// checkTicket returns the user a ticket for upstream names.
func (c *connector) checkTicket(t, upstream string) (string, error) {
	tc, err := c.parseTicket(t, upstream)
	if err != nil {
		return "", err
	}
	return tc.User, nil
}

// parseTicket returns what a valid ticket for upstream says.
func (c *connector) parseTicket(t, upstream string) (*ticketClaims, error) {
	p, sig, ok := strings.Cut(t, ".")
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(mac, c.mac(p)) {
		return nil, errBadTicket
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	var tc ticketClaims
	if err != nil || json.Unmarshal(b, &tc) != nil || tc.Upstream != upstream || tc.User == "" || c.now().Unix() > tc.Expires {
		return nil, errBadTicket
	}
	return &tc, nil
}

// serverKey names an upstream's OAuth settings: a reload that changes the
// upstream's URL, client or scopes discovers and registers again.
func serverKey(up *upstreams.Upstream) string {
	return strings.Join([]string{up.Slug, up.URL, up.Auth.OAuth.ClientID, strings.Join(up.Auth.OAuth.Scopes, " ")}, "\x00")
}

// known returns the server last discovered for up (the one its stored
// tokens are refreshed at).
func (c *connector) known(up *upstreams.Upstream) (*upstreamServer, error) {
	c.mu.Lock()
	s := c.servers[serverKey(up)]
	c.mu.Unlock()
	if s == nil {
		return nil, errors.New("the upstream's authorization server is not known to this process")
	}
	return s, nil
}

// server discovers the upstream's authorization server and sets the client
// the gateway is there (registering on first use at that server). cimdURL is
// the gateway's Client ID Metadata Document, "" when it has none.
func (c *connector) server(ctx context.Context, up *upstreams.Upstream, redirect, cimdURL string) (*upstreamServer, error) {
	ctx, cancel := context.WithTimeout(ctx, discoveryLimit)
	defer cancel()
	s, err := c.discover(ctx, up)
	if err != nil {
		return nil, err
	}
	if err := c.register(ctx, up, s, redirect, cimdURL); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.servers[serverKey(up)] = s
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
		if metaURL != "" {
			return nil, err // the upstream named its metadata: no fallback
		}
		// 2025-03-26: no protected-resource metadata; the MCP server's
		// origin is the authorization server.
		o, perr := url.Parse(up.URL)
		if perr != nil {
			return nil, err
		}
		o.Path, o.RawQuery, o.Fragment = "", "", ""
		prm = &oauthex.ProtectedResourceMetadata{Resource: up.URL, AuthorizationServers: []string{o.String()}}
	}
	issuer := prm.AuthorizationServers[0]
	asm, err := auth.GetAuthServerMetadata(ctx, issuer, c.client)
	if err != nil {
		return nil, fmt.Errorf("authorization server metadata: %w", err)
	}
	if asm == nil {
		// 2025-03-26 fallback: the default endpoints at the server's root.
		root := strings.TrimSuffix(issuer, "/")
		asm = &oauthex.AuthServerMeta{Issuer: issuer, AuthorizationEndpoint: root + "/authorize",
			TokenEndpoint: root + "/token", RegistrationEndpoint: root + "/register"}
	}
	s := &upstreamServer{resource: prm.Resource, meta: asm, scopes: up.Auth.OAuth.Scopes}
	if len(s.scopes) == 0 {
		s.scopes = challenged
	}
	if len(s.scopes) == 0 {
		s.scopes = prm.ScopesSupported
	}
	// The gateway keeps connections alive with refresh tokens: ask for
	// offline_access where the server offers it, never where it does not.
	if slices.Contains(asm.ScopesSupported, "offline_access") && !slices.Contains(s.scopes, "offline_access") {
		s.scopes = append(slices.Clip(s.scopes), "offline_access")
	}
	return s, nil
}

// resourceMetadata fetches RFC 9728 metadata for resource: at the URL the
// challenge named, else at the path, then the root well-known URL (whose
// resource is the origin).
func (c *connector) resourceMetadata(ctx context.Context, metaURL, resource string) (*oauthex.ProtectedResourceMetadata, error) {
	type try struct{ url, resource string }
	var tries []try
	if metaURL != "" {
		tries = append(tries, try{metaURL, resource})
	}
	if u, err := url.Parse(resource); err == nil {
		m := *u
		m.Path, m.RawPath, m.RawQuery = "/.well-known/oauth-protected-resource/"+strings.TrimLeft(u.Path, "/"), "", ""
		tries = append(tries, try{m.String(), resource})
		root := *u
		root.Path, root.RawPath, root.RawQuery = "", "", ""
		m.Path = "/.well-known/oauth-protected-resource"
		tries = append(tries, try{m.String(), root.String()})
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

// register sets the client of s, in the MCP spec's order (Client
// Registration: "SHOULD use the following priority order"): the registry's
// pre-registered client, else the gateway's Client ID Metadata Document
// where the server takes one, else one registered by DCR.
func (c *connector) register(ctx context.Context, up *upstreams.Upstream, s *upstreamServer, redirect, cimdURL string) error {
	s.redirect = redirect
	s.config = oauth2.Config{RedirectURL: redirect, Scopes: s.scopes, Endpoint: oauth2.Endpoint{
		AuthURL: s.meta.AuthorizationEndpoint, TokenURL: s.meta.TokenEndpoint}}
	set := func(r clientReg) {
		s.identity = r.identity
		s.config.ClientID, s.config.ClientSecret, s.config.Endpoint.AuthStyle = r.id, r.secret, r.style
	}
	if id := up.Auth.OAuth.ClientID; id != "" {
		secret := up.Auth.OAuth.ClientSecret.Reveal()
		style := oauth2.AuthStyleInParams // a public client sends its id only
		if secret != "" {
			style = secretStyle(s.meta.TokenEndpointAuthMethodsSupported)
		}
		set(clientReg{id: id, secret: secret, style: style, identity: "preregistered"})
		return nil
	}
	if cimdURL != "" && s.meta.ClientIDMetadataDocumentSupported {
		set(clientReg{id: cimdURL, style: oauth2.AuthStyleInParams, identity: "cimd"})
		return nil
	}
	k := strings.Join([]string{serverKey(up), s.meta.Issuer, s.meta.RegistrationEndpoint, redirect}, "\x00")
	s.regKey = k
	// One registration per key in this process; across replicas the first
	// stored wins (SaveRegistration), so all use one.
	mu := c.regs.lock(k, "")
	mu.Lock()
	defer mu.Unlock()
	stored, err := c.state.Registration(ctx, k)
	if err == nil {
		set(clientReg{id: stored.ClientID, secret: stored.ClientSecret, style: methodStyle(stored.AuthMethod), identity: "dcr"})
		return nil
	}
	if !errors.Is(err, ErrNoRegistration) {
		return fmt.Errorf("stored client registration: %w", err)
	}
	if s.meta.RegistrationEndpoint == "" {
		return errors.New("the upstream's authorization server offers no dynamic client registration: set auth.client in the registry")
	}
	method := dcrMethod(s.meta.TokenEndpointAuthMethodsSupported)
	r, err := oauthex.RegisterClient(ctx, s.meta.RegistrationEndpoint, &oauthex.ClientRegistrationMetadata{
		ClientName: "Legant gateway", RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: method,
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		// No scope: a registered scope caps what the client may ask for
		// later, and step-up asks for more.
		ApplicationType: applicationType(redirect),
	}, c.client)
	if err != nil {
		return fmt.Errorf("dynamic client registration: %w", err)
	}
	if r.TokenEndpointAuthMethod != "" {
		method = r.TokenEndpointAuthMethod
	}
	secret := r.ClientSecret
	if method == "none" {
		secret = ""
	}
	stored, err = c.state.SaveRegistration(ctx, k, ClientRegistration{Upstream: up.Slug, Issuer: s.meta.Issuer,
		ClientID: r.ClientID, ClientSecret: secret, AuthMethod: method})
	if err != nil {
		return fmt.Errorf("store the client registration: %w", err)
	}
	set(clientReg{id: stored.ClientID, secret: stored.ClientSecret, style: methodStyle(stored.AuthMethod), identity: "dcr"})
	return nil
}

// dcrMethod is the token endpoint auth method the gateway registers with:
// none (PKCE is the proof) where the server takes it, else a secret.
func dcrMethod(supported []string) string {
	switch {
	case len(supported) == 0 || slices.Contains(supported, "none"):
		return "none"
	case slices.Contains(supported, "client_secret_basic"):
		return "client_secret_basic"
	case slices.Contains(supported, "client_secret_post"):
		return "client_secret_post"
	}
	return "none"
}

// secretStyle is how a client with a secret authenticates at a server that
// supports these methods (RFC 8414: none listed means client_secret_basic).
func secretStyle(supported []string) oauth2.AuthStyle {
	if !slices.Contains(supported, "client_secret_basic") && slices.Contains(supported, "client_secret_post") {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// methodStyle maps a registered token_endpoint_auth_method to oauth2's.
func methodStyle(method string) oauth2.AuthStyle {
	if method == "client_secret_post" || method == "none" {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader // client_secret_basic, RFC 7591's default
}

// applicationType is the RFC 7591 / OIDC application_type of a client whose
// callback is redirect: native on loopback, web elsewhere.
func applicationType(redirect string) string {
	if u, err := url.Parse(redirect); err == nil && isLoopback(u.Host) {
		return "native"
	}
	return "web"
}

// begin records a pending authorization for scopes (nil: the server's
// default) in the ConnectState and returns the URL to send the user to and
// the state.
func (c *connector) begin(ctx context.Context, s *upstreamServer, tc *ticketClaims, scopes []string) (string, string, error) {
	if scopes == nil {
		scopes = s.scopes
	}
	snap, err := json.Marshal(serverSnapshot{Resource: s.resource, Meta: s.meta, Scopes: s.scopes, Redirect: s.redirect,
		Identity: s.identity, Registration: s.regKey, ClientID: s.config.ClientID, AuthStyle: s.config.Endpoint.AuthStyle})
	if err != nil {
		return "", "", err
	}
	state := rand.Text()
	verifier := oauth2.GenerateVerifier()
	err = c.state.PutPending(ctx, PendingConnect{State: state, User: tc.User, Upstream: tc.Upstream, Verifier: verifier,
		Server: string(snap), Scopes: scopes, Elicitation: tc.Elicitation, Session: tc.Session, ExpiresAt: c.now().Add(pendingTTL)})
	if err != nil {
		return "", "", fmt.Errorf("store the pending authorization: %w", err)
	}
	cfg := s.config
	cfg.Scopes = scopes
	u := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", s.resource))
	return u, state, nil
}

// take removes and returns the pending authorization of state (single use,
// on whichever replica the callback lands), with the server and client it
// was sent to; lookup finds the upstream (for a pre-registered client's
// secret). ErrNoPending: unknown, used or expired.
func (c *connector) take(ctx context.Context, state string, lookup func(string) (*upstreams.Upstream, bool)) (*pendingAuth, error) {
	p, err := c.state.TakePending(ctx, state)
	if err != nil {
		return nil, err
	}
	if !c.now().Before(p.ExpiresAt) {
		return nil, ErrNoPending
	}
	var snap serverSnapshot
	if err := json.Unmarshal([]byte(p.Server), &snap); err != nil || snap.Meta == nil {
		return nil, fmt.Errorf("pending authorization of %s: corrupt server", p.Upstream)
	}
	s := &upstreamServer{resource: snap.Resource, meta: snap.Meta, scopes: snap.Scopes, redirect: snap.Redirect,
		identity: snap.Identity, regKey: snap.Registration, config: oauth2.Config{ClientID: snap.ClientID,
			RedirectURL: snap.Redirect, Scopes: snap.Scopes, Endpoint: oauth2.Endpoint{AuthURL: snap.Meta.AuthorizationEndpoint,
				TokenURL: snap.Meta.TokenEndpoint, AuthStyle: snap.AuthStyle}}}
	switch snap.Identity {
	case "preregistered":
		up, ok := lookup(p.Upstream)
		if !ok || up.Auth.OAuth.ClientID != snap.ClientID {
			return nil, fmt.Errorf("the pre-registered client of %s changed since the authorization began", p.Upstream)
		}
		s.config.ClientSecret = up.Auth.OAuth.ClientSecret.Reveal()
	case "dcr":
		reg, err := c.state.Registration(ctx, snap.Registration)
		if err != nil || reg.ClientID != snap.ClientID {
			return nil, fmt.Errorf("the registered client of %s is gone (%v)", p.Upstream, err)
		}
		s.config.ClientSecret = reg.ClientSecret
	}
	return &pendingAuth{user: p.User, upstream: p.Upstream, verifier: p.Verifier, scopes: p.Scopes,
		elicitation: p.Elicitation, session: p.Session, server: s, expires: p.ExpiresAt}, nil
}

// clientRefused forgets a registered (DCR) client that the token endpoint
// refused as invalid_client (deleted at the server, or its secret expired):
// the next connect registers anew, on every replica. up, when known, also
// loses its discovered server here.
func (c *connector) clientRefused(ctx context.Context, up *upstreams.Upstream, s *upstreamServer, err error) {
	var re *oauth2.RetrieveError
	if s.identity != "dcr" || s.regKey == "" || !errors.As(err, &re) ||
		(re.ErrorCode != "invalid_client" && (re.Response == nil || re.Response.StatusCode != http.StatusUnauthorized)) {
		return
	}
	if derr := c.state.DropRegistration(context.WithoutCancel(ctx), s.regKey, s.config.ClientID); derr != nil {
		return
	}
	if up != nil {
		c.mu.Lock()
		if c.servers[serverKey(up)] == s {
			delete(c.servers, serverKey(up))
		}
		c.mu.Unlock()
	}
}

// exchange trades the code for tokens.
func (c *connector) exchange(ctx context.Context, p *pendingAuth, code string) (*UpstreamToken, error) {
	hc := context.WithValue(ctx, oauth2.HTTPClient, c.client)
	t, err := p.server.config.Exchange(hc, code, oauth2.VerifierOption(p.verifier), oauth2.SetAuthURLParam("resource", p.server.resource))
	if err != nil {
		c.clientRefused(ctx, nil, p.server, err)
		return nil, err
	}
	return c.upstreamToken(t, p.user, p.upstream, p.server, p.scopes, "")
}

// refresh renews tok with its refresh token at the server that issued it,
// keeping the rotated refresh token (or the old one when none came back).
// A process that has not discovered the upstream's server yet (a replica
// other than the one that connected, or after a restart) discovers it when
// redirect, the gateway's callback URL, is known: with the registration in
// the ConnectState it is the same client.
func (c *connector) refresh(ctx context.Context, up *upstreams.Upstream, tok *UpstreamToken, redirect, cimdURL string) (*UpstreamToken, error) {
	if tok.RefreshToken == "" {
		return nil, errors.New("the token expired and has no refresh token")
	}
	s, err := c.known(up)
	// Another replica may have connected the user with a client this
	// process has not seen (a new registration): discover again.
	if (err != nil || s.meta.Issuer != tok.Issuer || s.config.ClientID != tok.ClientID) && redirect != "" {
		s, err = c.server(ctx, up, redirect, cimdURL)
	}
	if err != nil {
		return nil, err
	}
	if s.meta.Issuer != tok.Issuer || s.config.ClientID != tok.ClientID {
		return nil, errors.New("the token was issued to another client or by another server")
	}
	hc := context.WithValue(ctx, oauth2.HTTPClient, c.client)
	t, err := s.config.TokenSource(hc, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		c.clientRefused(ctx, up, s, err)
		return nil, err
	}
	return c.upstreamToken(t, tok.User, tok.Upstream, s, strings.Fields(tok.Scope), tok.RefreshToken)
}

func (c *connector) upstreamToken(t *oauth2.Token, user, upstream string, s *upstreamServer, scopes []string, oldRefresh string) (*UpstreamToken, error) {
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
		out.Scope = strings.Join(scopes, " ") // RFC 6749 5.1: as requested
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
	tc, err := g.connect.parseTicket(r.URL.Query().Get("ticket"), slug)
	if err != nil {
		connectPage(w, http.StatusForbidden, "Link expired", err.Error())
		return
	}
	s, err := g.connect.server(r.Context(), up, g.publicURL(r)+connectCallback, g.clientMetadataURL())
	if err != nil {
		g.log.Warn("upstream authorization server not usable", "upstream", slug, "err", err)
		connectPage(w, http.StatusBadGateway, "Upstream unavailable", "The upstream's authorization server could not be used. Try again later.")
		return
	}
	var scopes []string // step-up: the ticket says which
	if tc.Scope != "" {
		scopes = strings.Fields(tc.Scope)
		// Granted scopes need not name offline_access: keep asking for it.
		if slices.Contains(s.scopes, "offline_access") && !slices.Contains(scopes, "offline_access") {
			scopes = append(scopes, "offline_access")
		}
	}
	g.log.Info("connecting an upstream", "upstream", slug, "user", tc.User, "issuer", s.meta.Issuer, "client", s.identity,
		"scope", strings.Join(orDefault(scopes, s.scopes), " "))
	target, state, err := g.connect.begin(r.Context(), s, tc, scopes)
	if err != nil {
		g.log.Error("connect flow not started", "upstream", slug, "user", tc.User, "err", err)
		connectPage(w, http.StatusServiceUnavailable, "Not connected", "The connection could not be started. Try again later.")
		return
	}
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
	p, err := g.connect.take(r.Context(), state, g.opts.Registry().Lookup)
	if err != nil && !errors.Is(err, ErrNoPending) {
		g.log.Warn("connect callback: the pending authorization is not usable", "err", err)
	}
	if err != nil {
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
		// This replica tells the session itself (elicitationComplete) if it
		// is here: its own watch must not tell it again.
		g.connect.watches.drop(p.session, p.upstream, "")
		err = g.opts.Connections.SaveToken(r.Context(), *tok)
	}
	if err != nil {
		g.log.Warn("upstream connection not stored", "upstream", p.upstream, "user", p.user, "err", err)
		connectPage(w, http.StatusBadGateway, "Not connected", "The upstream's token could not be obtained or stored. Retry the call for a new link.")
		return
	}
	g.log.Info("upstream connected", "upstream", p.upstream, "user", p.user, "issuer", tok.Issuer)
	g.elicitationComplete(p)
	connectPage(w, http.StatusOK, "Connected", "Connected "+p.upstream+": retry your call.")
}

func connectPage(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>%s</title><h1>%s</h1><p>%s</p>\n", html.EscapeString(title), html.EscapeString(title), html.EscapeString(msg))
}

func orDefault(a, b []string) []string {
	if a != nil {
		return a
	}
	return b
}

// ClientMetadataPath is where the gateway serves its Client ID Metadata
// Document (draft-ietf-oauth-client-id-metadata-document): its URL,
// <public URL>/client-metadata.json, is the gateway's client_id at the
// authorization servers of oauth upstreams that take one.
const ClientMetadataPath = "/client-metadata.json"

// clientMetadataURL is the gateway's client id as a metadata document URL,
// or "" when it has none: the document must be reachable by the upstream's
// authorization server at an https URL, so only a configured https public
// URL gives one.
func (g *Gateway) clientMetadataURL() string {
	if !strings.HasPrefix(g.opts.PublicURL, "https://") {
		return ""
	}
	return strings.TrimSuffix(g.opts.PublicURL, "/") + ClientMetadataPath
}

// clientMetadata is the gateway's Client ID Metadata Document.
type clientMetadata struct {
	ClientID                string   `json:"client_id"`
	ClientName              string   `json:"client_name"`
	ClientURI               string   `json:"client_uri"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	ApplicationType         string   `json:"application_type"`
}

// ClientMetadataHandler serves the gateway's Client ID Metadata Document at
// ClientMetadataPath (404 when the gateway has no https public URL). It is a
// public client: PKCE proves the code's holder, no secret is involved.
func (g *Gateway) ClientMetadataHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := g.clientMetadataURL()
		if id == "" || r.URL.Path != ClientMetadataPath {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		base := strings.TrimSuffix(g.opts.PublicURL, "/")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		json.NewEncoder(w).Encode(clientMetadata{ClientID: id, ClientName: "Legant gateway", ClientURI: base,
			RedirectURIs: []string{base + connectCallback}, GrantTypes: []string{"authorization_code", "refresh_token"},
			ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none", ApplicationType: "web"})
	})
}

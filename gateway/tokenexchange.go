package gateway

// Token exchange: the credential of registry auth kind exchange. The
// upstream's authorization server trusts the gateway's issuer; on the path
// of an allowed call the gateway trades a token for an access token of the
// upstream (RFC 8693), and caches it per caller delegation until shortly
// before it expires.
//
// The subject token is not the caller's token: it is a fresh delegation
// token the gateway mints for the authorization server alone (aud = that
// server's issuer; the caller's user, scopes and constraints; act extended
// with the gateway; never outliving the caller's token). The caller's token
// is valid at the gateway, so handing it to a third party would let that
// party replay it here; the minted one is good only at the authorization
// server, which checks its audience, and proves the gateway vouched for the
// call. Neither reaches the upstream: the upstream gets only the token its
// own server issued.
//
// A kill or revocation stops the use at once: a revoked or killed caller
// never reaches setCredential (decide refuses it first), and Kill drops the
// cached tokens of what it kills; an upstream 401 drops the cached token too.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/upstreams"
)

const (
	grantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"
	maxExchangeSubjectLife = time.Hour
	// exchangeSkew is how long before its expiry a cached exchanged token
	// is replaced: a token used at that point might expire in flight.
	exchangeSkew = 30 * time.Second
	// exchangeNoExpiry bounds the cache of a token whose response named no
	// expiry (and whose subject token, hence, bounds nothing we know of).
	exchangeNoExpiry = 5 * time.Minute
	maxExchanged     = 50_000
	maxTokenResponse = 64 << 10
)

// exchanger holds the exchanged tokens and the authorization servers of
// exchange upstreams. Safe for concurrent use.
type exchanger struct {
	connLocks // one exchange at a time per cache key

	mu      sync.Mutex
	tokens  map[string]*exchangedToken // by exchangeKey
	servers map[string]*exchangeServer // by upstream config
}

// exchangedToken is an access token of an upstream, for one caller
// delegation. token is a secret: never logged or audited.
type exchangedToken struct {
	token            string
	useUntil         time.Time
	user, delegation string
	parent           string
	chain            authority.Chain
}

// exchangeServer is where an upstream's tokens are exchanged.
type exchangeServer struct {
	issuer        string // the authorization server: the subject token's aud
	tokenEndpoint string
	resource      string // RFC 8707 resource: the upstream's identifier
}

func newExchanger() *exchanger {
	return &exchanger{tokens: map[string]*exchangedToken{}, servers: map[string]*exchangeServer{}}
}

// exchangeRefusedError is a token exchange the upstream's authorization
// server refused, or one that could not be made. It names the server's
// error code only: never a token.
type exchangeRefusedError struct {
	upstream string
	code     string // the server's OAuth error code; "" when it could not be reached or read
}

func (e *exchangeRefusedError) Error() string {
	if e.code == "" {
		return "gateway: token exchange for upstream " + e.upstream + " failed"
	}
	return "gateway: the authorization server of upstream " + e.upstream + " refused the token exchange: " + e.code
}

// ReasonExchangeRefused is data.reason of the error answering a call whose
// upstream token could not be obtained by token exchange (auth kind exchange).
const ReasonExchangeRefused = "exchange_refused"

type exchangeRefusedData struct {
	Reason   string `json:"reason"`
	Upstream string `json:"upstream"`
	Error    string `json:"error,omitempty"` // the authorization server's error code
}

func (e *exchangeRefusedError) rpc() rpcError {
	return rpcError{Code: CodeUpstream, Message: "the upstream's authorization server did not issue a token for this call",
		Data: exchangeRefusedData{Reason: ReasonExchangeRefused, Upstream: e.upstream, Error: e.code}}
}

func exchangeConfigKey(up *upstreams.Upstream) string {
	x := up.Auth.Exchange
	return strings.Join([]string{up.Slug, up.URL, x.ClientID, x.AuthorizationServer, strings.Join(x.Scopes, " ")}, "\x00")
}

// exchangeKey names the cached token of one caller delegation for up.
func exchangeKey(up *upstreams.Upstream, c *authority.Claims) string {
	d := c.DelegationID
	if d == "" {
		d = "jti:" + c.ID
	}
	return exchangeConfigKey(up) + "\x00" + c.Subject + "\x00" + d
}

// exchangeCredential sets the upstream's access token for the caller of ex,
// exchanging one when none is cached.
func (g *Gateway) exchangeCredential(ctx context.Context, ex *exchange, req *http.Request) error {
	up, c := ex.up, ex.claims
	if up.Auth.Exchange == nil || up.Auth.Exchange.ClientSecret.Reveal() == "" {
		return errSecretUnresolved
	}
	if ex.sess != nil && ex.sess.killed.Load() {
		// A killed session's upstream session is ended without a credential
		// rather than with a token exchanged for a revoked authority.
		return errKilledNoExchange
	}
	k := exchangeKey(up, c)
	x := g.exchanged
	if t := x.cached(k, g.now()); t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
		return nil
	}
	mu := x.lock(k, "")
	mu.Lock()
	defer mu.Unlock()
	if t := x.cached(k, g.now()); t != "" { // exchanged meanwhile
		req.Header.Set("Authorization", "Bearer "+t)
		return nil
	}
	t, err := g.exchangeToken(ctx, up, c)
	if err != nil {
		return err
	}
	x.put(k, t)
	req.Header.Set("Authorization", "Bearer "+t.token)
	return nil
}

var errKilledNoExchange = errors.New("gateway: no token exchange for a killed session")

func (x *exchanger) cached(k string, now time.Time) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	if t := x.tokens[k]; t != nil && now.Before(t.useUntil) {
		return t.token
	}
	return ""
}

func (x *exchanger) put(k string, t *exchangedToken) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.tokens) >= maxExchanged {
		clear(x.tokens)
	}
	x.tokens[k] = t
}

// drop forgets the cached token of the caller of ex (the upstream refused it).
func (x *exchanger) drop(up *upstreams.Upstream, c *authority.Claims) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.tokens, exchangeKey(up, c))
}

// forget drops the cached tokens a kill selects: the tokens of the killed
// delegations (and their children), agents and users, and of the
// delegations of the killed sessions.
func (x *exchanger) forget(sel Selector, delegations []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for k, t := range x.tokens {
		byDelegation := false
		for _, d := range delegations {
			byDelegation = byDelegation || d != "" && d == t.delegation
		}
		if byDelegation || (sel.SessionID == "" && sel.TokenID == "" &&
			(sel.DelegationID == "" || sel.DelegationID == t.delegation || sel.DelegationID == t.parent) &&
			(sel.Agent == "" || t.chain.Contains(sel.Agent)) &&
			(sel.User == "" || sel.User == t.user)) {
			delete(x.tokens, k)
		}
	}
}

// exchangeToken mints the subject token for the upstream's authorization
// server and exchanges it there.
func (g *Gateway) exchangeToken(ctx context.Context, up *upstreams.Upstream, c *authority.Claims) (*exchangedToken, error) {
	ctx, cancel := context.WithTimeout(ctx, discoveryLimit)
	defer cancel()
	srv, err := g.exchangeServer(ctx, up)
	if err != nil {
		g.log.Warn("token exchange: the upstream's authorization server is not usable", "upstream", up.Slug, "err", err)
		return nil, &exchangeRefusedError{upstream: up.Slug}
	}
	now := g.now()
	subject, err := g.minter.subjectToken(c, srv.issuer, now)
	if err != nil {
		return nil, err
	}
	x := up.Auth.Exchange
	form := url.Values{
		"grant_type":           {grantTokenExchange},
		"subject_token":        {subject},
		"subject_token_type":   {tokenTypeAccessToken},
		"requested_token_type": {tokenTypeAccessToken},
		"resource":             {srv.resource},
	}
	if len(x.Scopes) > 0 {
		form.Set("scope", strings.Join(x.Scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.tokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: client_secret_basic with form-encoded id and secret.
	req.SetBasicAuth(url.QueryEscape(x.ClientID), url.QueryEscape(x.ClientSecret.Reveal()))
	resp, err := g.client.Do(req)
	if err != nil {
		g.log.Warn("token exchange: the authorization server is unreachable", "upstream", up.Slug, "err", err)
		return nil, &exchangeRefusedError{upstream: up.Slug}
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken     string `json:"access_token"`
		TokenType       string `json:"token_type"`
		ExpiresIn       int64  `json:"expires_in"`
		IssuedTokenType string `json:"issued_token_type"`
		Error           string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxTokenResponse)).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		code := oauthErrorCode(body.Error)
		g.log.Warn("token exchange refused", "upstream", up.Slug, "status", resp.StatusCode, "error", code)
		return nil, &exchangeRefusedError{upstream: up.Slug, code: code}
	}
	switch {
	case body.AccessToken == "":
		return nil, g.badExchange(up, "no access_token")
	case !strings.EqualFold(body.TokenType, "Bearer"):
		return nil, g.badExchange(up, fmt.Sprintf("token_type %q is not Bearer", body.TokenType))
	case body.IssuedTokenType != "" && body.IssuedTokenType != tokenTypeAccessToken:
		return nil, g.badExchange(up, fmt.Sprintf("issued_token_type %q is not an access token", body.IssuedTokenType))
	}
	exp := now.Add(exchangeNoExpiry)
	if body.ExpiresIn > 0 {
		exp = now.Add(time.Duration(body.ExpiresIn) * time.Second)
	}
	if c.ExpiresAt.Before(exp) {
		exp = c.ExpiresAt // never used past the caller's authority
	}
	g.log.Info("upstream token exchanged", "upstream", up.Slug, "user", c.Subject, "delegation", c.DelegationID, "expires", exp)
	return &exchangedToken{token: body.AccessToken, useUntil: exp.Add(-exchangeSkew), user: c.Subject,
		delegation: c.DelegationID, parent: c.ParentID, chain: c.Chain()}, nil
}

func (g *Gateway) badExchange(up *upstreams.Upstream, why string) error {
	g.log.Warn("token exchange: unusable response", "upstream", up.Slug, "why", why)
	return &exchangeRefusedError{upstream: up.Slug, code: "invalid_response"}
}

// oauthErrorCode keeps an error code that is an RFC 6749 error token (safe
// to relay), else "".
func oauthErrorCode(s string) string {
	if len(s) > 64 {
		return ""
	}
	for _, r := range s {
		if r != '_' && (r < 'a' || r > 'z') {
			return ""
		}
	}
	return s
}

// exchangeServer returns the authorization server of up: the registry's
// authorization_server, else the one its protected-resource metadata names
// (found as the oauth kind finds it: an unauthenticated probe's 401, then
// the well-known URLs).
func (g *Gateway) exchangeServer(ctx context.Context, up *upstreams.Upstream) (*exchangeServer, error) {
	ck := exchangeConfigKey(up)
	x := g.exchanged
	x.mu.Lock()
	s := x.servers[ck]
	x.mu.Unlock()
	if s != nil {
		return s, nil
	}
	issuer, resource := up.Auth.Exchange.AuthorizationServer, up.URL
	if issuer == "" {
		prm, err := g.connect.resourceMetadata(ctx, g.probeResourceMetadata(ctx, up), up.URL) // connect.go
		if err != nil {
			return nil, err
		}
		issuer, resource = prm.AuthorizationServers[0], prm.Resource
	}
	meta, err := auth.GetAuthServerMetadata(ctx, issuer, g.client)
	if err != nil {
		return nil, fmt.Errorf("authorization server metadata: %w", err)
	}
	if meta == nil || meta.TokenEndpoint == "" {
		return nil, fmt.Errorf("authorization server %s publishes no token endpoint", issuer)
	}
	if len(meta.GrantTypesSupported) > 0 && !slices.Contains(meta.GrantTypesSupported, grantTokenExchange) {
		return nil, fmt.Errorf("authorization server %s does not offer token exchange", issuer)
	}
	if resource == "" {
		resource = up.URL
	}
	s = &exchangeServer{issuer: meta.Issuer, tokenEndpoint: meta.TokenEndpoint, resource: resource}
	x.mu.Lock()
	x.servers[ck] = s
	x.mu.Unlock()
	return s, nil
}

// probeResourceMetadata asks the upstream without credentials and returns
// the resource_metadata URL of its 401 challenge, or "".
func (g *Gateway) probeResourceMetadata(ctx context.Context, up *upstreams.Upstream) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, up.URL, strings.NewReader(`{"jsonrpc":"2.0","id":0,"method":"ping"}`))
	if err != nil {
		return ""
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return ""
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return ""
	}
	cs, _ := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	for _, ch := range cs {
		if ch.Scheme == "bearer" {
			return ch.Params["resource_metadata"]
		}
	}
	return ""
}

// subjectToken mints the subject token of a token exchange: for the
// authorization server aud alone, carrying c's user, scopes and
// constraints, the gateway appended to the act chain, living no longer than
// c nor maxExchangeSubjectLife.
func (m *minter) subjectToken(c *authority.Claims, aud string, now time.Time) (string, error) {
	exp := now.Add(maxExchangeSubjectLife)
	if c.ExpiresAt.Before(exp) {
		exp = c.ExpiresAt
	}
	return authority.Sign(m.key, &authority.Claims{
		Issuer: m.issuer, Subject: c.Subject, Audience: []string{aud}, ExpiresAt: exp, IssuedAt: now,
		ID: authority.NewID(), ClientID: c.ClientID, Scopes: c.Scopes,
		Actor:        &authority.Actor{Subject: m.actor, Actor: c.Actor},
		DelegationID: c.DelegationID, ParentID: c.ParentID, Constraints: c.Constraints,
	})
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/examples/expenses"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
	"github.com/openlegant/legant/upstreams"
)

// hostedUpstream is a hosted MCP server behind its own OAuth: a go-sdk
// server behind go-sdk's auth.RequireBearerToken, whose authorization
// server is a second Legant issuer (its own store, keys and users). It
// records the access tokens it accepted.
type hostedUpstream struct {
	srv      *httptest.Server
	base     string // the issuer, and the server's origin
	resource string // the MCP endpoint: base + /mcp/hosted
	st       *store.Store
	keys     *authority.KeySet
	asOpts   oauth.Options
	as       atomic.Pointer[oauth.Server]
	// registrations counts RFC 7591 registrations at its server.
	registrations atomic.Int64
	// forgotten, when set, is a client id its token endpoint refuses as
	// invalid_client (a client the server deleted).
	forgotten atomic.Pointer[string]

	mu       sync.Mutex
	accepted []string // access tokens, in order
	// Step-up: callScope, when set, is a scope every tools/call needs
	// (else 403 insufficient_scope naming it); with refuseAll every
	// tools/call gets that 403. refused and executed count tools/calls.
	callScope         string
	refuseAll         bool
	refused, executed int
}

// requireCallScope makes every tools/call need scope (refuseAll: refused
// whatever the token has).
func (h *hostedUpstream) requireCallScope(scope string, refuseAll bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.callScope, h.refuseAll = scope, refuseAll
}

// calls returns how many tools/calls were refused and executed.
func (h *hostedUpstream) calls() (refused, executed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refused, h.executed
}

// stepUp answers a tools/call whose token lacks h.callScope with 403
// insufficient_scope, as the MCP authorization spec's step-up says.
func (h *hostedUpstream) stepUp(metaURL string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var m struct{ Method string }
		json.Unmarshal(body, &m)
		if m.Method != "tools/call" {
			next.ServeHTTP(w, r)
			return
		}
		h.mu.Lock()
		scope, all := h.callScope, h.refuseAll
		ti := auth.TokenInfoFromContext(r.Context())
		refuse := scope != "" && (all || ti == nil || !slices.Contains(ti.Scopes, scope))
		if refuse {
			h.refused++
		} else {
			h.executed++
		}
		h.mu.Unlock()
		if refuse {
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+scope+`", resource_metadata="`+metaURL+`"`)
			http.Error(w, `{"error":"insufficient_scope"}`, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// opts adjust the options of its authorization server.
func newHostedUpstream(t testing.TB, opts ...func(*oauth.Options)) *hostedUpstream {
	t.Helper()
	h := &hostedUpstream{srv: httptest.NewUnstartedServer(nil)}
	h.base = "http://" + h.srv.Listener.Addr().String()
	h.resource = h.base + "/mcp/hosted"
	h.st = storetest.Open(t, store.Options{DataDir: t.TempDir(), KeyEncryptionSecret: storetest.Secret, Issuer: h.base})
	reg, err := upstreams.Parse("hosted.yaml", []byte(`version: 1
upstreams:
  - slug: hosted
    url: http://127.0.0.1:9/unused
    tools:
      list_expenses: {scope: expenses:read}
      submit_expense: {scope: expenses:write}
`), upstreams.Options{PublicURL: h.base})
	if err != nil {
		t.Fatal(err)
	}
	key, err := authority.GenerateEd25519Key("hosted-k1")
	if err != nil {
		t.Fatal(err)
	}
	h.keys = authority.NewKeySet()
	h.keys.Add(key, time.Time{})
	h.asOpts = oauth.Options{Issuer: h.base, Store: h.st, Keys: h.keys, Registry: func() *upstreams.Registry { return reg }}
	for _, o := range opts {
		o(&h.asOpts)
	}
	as, err := oauth.New(h.asOpts)
	if err != nil {
		t.Fatal(err)
	}
	h.as.Store(as)
	hash, err := oauth.HashPassword(rigPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.st.CreateUser(context.Background(), store.User{Name: rigUser, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	verify := func(_ context.Context, tok string, _ *http.Request) (*auth.TokenInfo, error) {
		c, err := authority.Verify(tok, h.keys, authority.VerifyOptions{Issuer: h.base, Audience: h.resource, RequireActor: true}, time.Now())
		if err != nil {
			return nil, errors.Join(auth.ErrInvalidToken, err)
		}
		h.mu.Lock()
		h.accepted = append(h.accepted, tok)
		h.mu.Unlock()
		return &auth.TokenInfo{Scopes: c.Scopes, Expiration: c.ExpiresAt, UserID: c.Subject}, nil
	}
	metaURL := h.base + "/.well-known/oauth-protected-resource/mcp/hosted"
	mcpH := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return expenses.NewServer(&expenses.Ledger{}) }, nil)
	mux := http.NewServeMux()
	for _, p := range oauth.Paths {
		mux.Handle(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Path == "/oauth2/register" {
				h.registrations.Add(1)
			}
			if f := h.forgotten.Load(); f != nil && r.Method == http.MethodPost && r.URL.Path == "/oauth2/token" {
				id, _, _ := r.BasicAuth()
				if r.ParseForm() == nil && (r.PostForm.Get("client_id") == *f || id == *f) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusUnauthorized)
					io.WriteString(w, `{"error":"invalid_client"}`)
					return
				}
			}
			h.as.Load().ServeHTTP(w, r)
		}))
	}
	mux.Handle("/mcp/hosted", auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{ResourceMetadataURL: metaURL})(h.stepUp(metaURL, mcpH)))
	mux.Handle("GET /.well-known/oauth-protected-resource/mcp/hosted", auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource: h.resource, AuthorizationServers: []string{h.base}, ScopesSupported: []string{"expenses:read"}}))
	h.srv.Config.Handler = mux
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

// trust makes the hosted upstream's authorization server take the tokens
// of ti as token exchange subject tokens (same store: clients stay).
func (h *hostedUpstream) trust(t testing.TB, ti oauth.TrustedIssuer) {
	t.Helper()
	o := h.asOpts
	o.TrustedSubjectIssuers = []oauth.TrustedIssuer{ti}
	as, err := oauth.New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.as.Store(as)
}

func (h *hostedUpstream) tokens() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.accepted...)
}

// newOAuthUpstreamRig is `legant gateway` as wire() assembles it, with the
// hosted upstream in its registry as auth kind oauth: with authYAML's auth
// section (given the gateway's public URL), else {kind: oauth} (client by DCR).
func newOAuthUpstreamRig(t testing.TB, hosted *hostedUpstream, authYAML ...func(publicURL string) string) (*authRig, *syncBuffer) {
	t.Helper()
	return oauthUpstreamRig(t, hosted, false, authYAML...)
}

// oauthUpstreamRig is newOAuthUpstreamRig, served over TLS (httptest's
// certificate, public URL https://127.0.0.1:port) when tls is set.
func oauthUpstreamRig(t testing.TB, hosted *hostedUpstream, tls bool, authYAML ...func(publicURL string) string) (*authRig, *syncBuffer) {
	t.Helper()
	r := &authRig{}
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	logs := &syncBuffer{}
	dir := t.TempDir()
	reg := filepath.Join(dir, "legant.yaml")
	r.srv = httptest.NewUnstartedServer(nil)
	authSection := "{kind: oauth}"
	if len(authYAML) > 0 {
		authSection = authYAML[0](scheme + r.srv.Listener.Addr().String())
	}
	yaml := `version: 1
upstreams:
  - slug: hosted
    transport: streamable-http
    url: ` + hosted.resource + `
    auth: ` + authSection + `
    tools:
      list_expenses: {scope: expenses:read}
    prompts:
      summarize: {scope: expenses:read}
`
	if err := os.WriteFile(reg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := serveConfig{upstreams: reg, publicURL: scheme + r.srv.Listener.Addr().String(),
		logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	cfg.store.dataDir = filepath.Join(dir, "data")
	w, err := wire(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r.w = w
	r.srv.Config.Handler = w.handler
	if tls {
		r.srv.StartTLS()
	} else {
		r.srv.Start()
	}
	t.Cleanup(func() { r.srv.Close(); w.close() })
	r.mcpURL = r.srv.URL + "/mcp/hosted"
	hash, err := oauth.HashPassword(rigPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.st.CreateUser(context.Background(), store.User{Name: rigUser, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	return r, logs
}

// userBrowserAt is newUserBrowser for a benchmark (the browser keeps no t).
func userBrowserAt(base string, limits url.Values) *userBrowser {
	jar, _ := cookiejar.New(nil)
	return &userBrowser{base: base, limits: limits, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// connectionURL returns data.url of a connection_required error, or fails.
func connectionURL(t testing.TB, err error, base string) string {
	t.Helper()
	var we *jsonrpc.Error
	if !errors.As(err, &we) || we.Code != gateway.CodeUpstream {
		t.Fatalf("want a JSON-RPC error %d, got %v", gateway.CodeUpstream, err)
	}
	var d struct{ Reason, Upstream, URL string }
	if err := json.Unmarshal(we.Data, &d); err != nil || d.Reason != gateway.ReasonConnectionRequired || d.Upstream != "hosted" ||
		!strings.HasPrefix(d.URL, base+"/connect/hosted?ticket=") {
		t.Fatalf("error data = %s (%v)", we.Data, err)
	}
	return d.URL
}

// connect follows a connect URL in the user's browser: the gateway's page
// redirects to the hosted upstream's authorization server, the user logs in
// and consents there, and the server's redirect lands on the gateway's
// callback, which answers "connected".
// The scope asked for is the upstream's (its challenge or scopes_supported) plus
// offline_access, which its server lists.
// wantScope, when given, is the scope asked for instead.
func connect(t testing.TB, connectURL string, hosted *hostedUpstream, wantScope ...string) {
	t.Helper()
	scope := "expenses:read offline_access"
	if len(wantScope) > 0 {
		scope = wantScope[0]
	}
	tools := []string{"list_expenses"}
	if strings.Contains(scope, "expenses:write") {
		tools = append(tools, "submit_expense") // step-up: the user consents to the wider scope
	}
	b := userBrowserAt(hosted.base, url.Values{"tool": tools, "ttl": {"8h"}})
	resp, body, err := b.get(connectURL)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("connect page = %v %v %s", resp.StatusCode, err, body)
	}
	authz, _ := url.Parse(resp.Header.Get("Location"))
	q := authz.Query()
	if !strings.HasPrefix(authz.String(), hosted.base+"/oauth2/authorize?") || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("resource") != hosted.resource || q.Get("scope") != scope {
		t.Fatalf("redirect to the upstream's server = %s", authz)
	}
	res, err := b.authorize(context.Background(), &auth.AuthorizationArgs{URL: authz.String()})
	if err != nil {
		t.Fatal(err)
	}
	cb := q.Get("redirect_uri") + "?" + url.Values{"code": {res.Code}, "state": {res.State}, "iss": {res.Iss}}.Encode()
	resp, body, err = b.get(cb)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(body, "retry your call") {
		t.Fatalf("callback = %v %v %s", resp.StatusCode, err, body)
	}
	// The state is single use.
	if resp, _, _ = b.get(cb); resp.StatusCode == http.StatusOK {
		t.Error("the callback accepted the same state twice")
	}
}

// TestOAuthUpstreamConnect: an agent of alice calls, through the gateway, a
// hosted MCP server behind its own OAuth (a second Legant issuer). The first
// call gets connection_required with the gateway's connect URL; alice
// follows it (login and consent at the upstream's server); the retried call
// reaches the upstream with the upstream's own token for alice. An expired
// token is refreshed; a disconnect makes the next call ask again; revoking
// alice deletes her connections and no call reaches the upstream after.
func TestOAuthUpstreamConnect(t *testing.T) {
	ctx := context.Background()
	hosted := newHostedUpstream(t)
	r, logs := newOAuthUpstreamRig(t, hosted)
	var secrets []string // every upstream token alice held

	b := newUserBrowser(t, r.srv.URL, url.Values{"tool": {"list_expenses"}, "ttl": {"8h"}})
	h := agentOAuth(t, "agent", b.authorize)
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	transport := func() *mcp.StreamableClientTransport {
		return &mcp.StreamableClientTransport{Endpoint: r.mcpURL, OAuthHandler: h}
	}

	// 1. No connection yet: the first request (initialize) asks for one.
	_, err := client.Connect(ctx, transport(), nil)
	u := connectionURL(t, err, r.srv.URL)
	if n := len(hosted.tokens()); n != 0 {
		t.Fatalf("the upstream accepted %d tokens before alice connected", n)
	}
	// A forged or foreign ticket opens nothing.
	if resp, _, _ := newUserBrowser(t, r.srv.URL, nil).get(strings.Replace(u, "ticket=", "ticket=x", 1)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("forged ticket: %d", resp.StatusCode)
	}

	// 2. Alice connects; the retried call goes through with the upstream's token.
	connect(t, u, hosted)
	c, err := r.w.st.GetConnection(ctx, rigUser, "hosted")
	if err != nil || c.Issuer != hosted.base || c.AccessToken == "" {
		t.Fatalf("stored connection = %v, %v", c, err)
	}
	secrets = append(secrets, c.AccessToken, c.RefreshToken)
	session, err := client.Connect(ctx, transport(), nil)
	if err != nil {
		t.Fatalf("connect after connecting the upstream: %v", err)
	}
	defer session.Close()
	if err := callTool(ctx, session, "list_expenses", map[string]any{}); err != nil {
		t.Fatalf("call after connecting: %v", err)
	}
	toks := hosted.tokens()
	if len(toks) == 0 || toks[len(toks)-1] != c.AccessToken {
		t.Fatalf("the upstream did not get alice's stored token (%d tokens)", len(toks))
	}
	claims, err := authority.Verify(toks[len(toks)-1], hosted.keys, authority.VerifyOptions{Issuer: hosted.base, Audience: hosted.resource}, time.Now())
	if err != nil || claims.Subject != rigUser {
		t.Fatalf("upstream token: %v %v", claims, err)
	}

	// 3. An access token about to expire is refreshed (the refresh token rotates).
	if c.RefreshToken != "" {
		old := *c
		c.ExpiresAt = time.Now().Add(10 * time.Second)
		if err := r.w.st.PutConnection(ctx, *c); err != nil {
			t.Fatal(err)
		}
		if err := callTool(ctx, session, "list_expenses", map[string]any{}); err != nil {
			t.Fatalf("call with a token to refresh: %v", err)
		}
		nc, err := r.w.st.GetConnection(ctx, rigUser, "hosted")
		if err != nil || nc.AccessToken == old.AccessToken || !nc.ExpiresAt.After(time.Now().Add(time.Minute)) {
			t.Fatalf("after refresh: %v %v", nc, err)
		}
		if toks := hosted.tokens(); toks[len(toks)-1] != nc.AccessToken {
			t.Error("the upstream did not get the refreshed token")
		}
		if nc.RefreshToken == old.RefreshToken {
			t.Error("the rotated refresh token was not stored")
		}
		secrets = append(secrets, nc.AccessToken, nc.RefreshToken)
	} else {
		t.Error("the upstream's server issued no refresh token")
	}

	// 4. Disconnect: the next call asks again, and nothing reaches the upstream.
	before := len(hosted.tokens())
	if _, err := r.w.st.DeleteConnection(ctx, rigUser, "hosted"); err != nil {
		t.Fatal(err)
	}
	_, err = session.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}})
	u = connectionURL(t, err, r.srv.URL)
	if n := len(hosted.tokens()); n != before {
		t.Errorf("the upstream got %d requests after the disconnect", n-before)
	}
	connect(t, u, hosted)
	if err := callTool(ctx, session, "list_expenses", map[string]any{}); err != nil {
		t.Fatalf("call after reconnecting: %v", err)
	}

	// 5. Revoking alice deletes her connections; no call reaches the upstream.
	if _, err := r.w.st.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindUser, Value: rigUser, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.w.st.GetConnection(ctx, rigUser, "hosted"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("connection after revoking alice: %v", err)
	}
	before = len(hosted.tokens())
	if err := callTool(ctx, session, "list_expenses", map[string]any{}); err == nil {
		t.Error("a call succeeded after alice was revoked")
	}
	if n := len(hosted.tokens()); n != before {
		t.Errorf("the upstream got %d requests after alice was revoked", n-before)
	}

	// The audit records the credential kind of each allowed call, never the token.
	session.Close()
	r.w.gw.Close()
	evs, err := r.w.st.Audit().Query(ctx, store.AuditFilter{Tool: "list_expenses"})
	if err != nil {
		t.Fatal(err)
	}
	var oauthAllows int
	for _, e := range evs {
		if e.Decision == "allow" && e.Constraint == "upstream_credential" && e.Value == "oauth" {
			oauthAllows++
		}
		b, _ := json.Marshal(e)
		for _, sec := range secrets {
			if sec != "" && strings.Contains(string(b), sec) {
				t.Error("an audit record holds an upstream token")
			}
		}
	}
	for _, sec := range secrets {
		if sec != "" && strings.Contains(logs.String(), sec) {
			t.Error("the gateway's log holds an upstream token")
		}
	}
	if !strings.Contains(logs.String(), "upstream connected") {
		t.Error("the log does not show the connection (is the logger captured?)")
	}
	if oauthAllows < 3 {
		t.Errorf("audit: %d allowed calls marked upstream_credential=oauth, want ≥ 3 (%+v)", oauthAllows, evs)
	}
}

// TestOAuthUpstreamConnectRefusals: the callback takes an answer only in the
// browser that started the flow, only once, and only with the upstream's
// server's iss; a stored token the upstream refuses (401) is dropped and the
// call answered connection_required.
func TestOAuthUpstreamConnectRefusals(t *testing.T) {
	ctx := context.Background()
	hosted := newHostedUpstream(t)
	r, _ := newOAuthUpstreamRig(t, hosted)
	session, u, _ := connectAgentNoUpstream(t, r)

	// One flow at the upstream's server, its answer replayed three ways.
	b := newUserBrowser(t, hosted.base, url.Values{"tool": {"list_expenses"}, "ttl": {"8h"}})
	resp, _, err := b.get(u)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("connect page = %v %v", resp, err)
	}
	authz, _ := url.Parse(resp.Header.Get("Location"))
	res, err := b.authorize(ctx, &auth.AuthorizationArgs{URL: authz.String()})
	if err != nil {
		t.Fatal(err)
	}
	cb := func(iss string) string {
		return authz.Query().Get("redirect_uri") + "?" + url.Values{"code": {res.Code}, "state": {res.State}, "iss": {iss}}.Encode()
	}
	if resp, _, _ := newUserBrowser(t, r.srv.URL, nil).get(cb(res.Iss)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("callback in another browser = %d", resp.StatusCode)
	}
	if resp, _, _ := b.get(cb("http://127.0.0.1:1")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("callback with another iss = %d", resp.StatusCode)
	}
	if resp, _, _ := b.get(cb(res.Iss)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("callback after its state was used = %d", resp.StatusCode)
	}
	if _, err := r.w.st.GetConnection(ctx, rigUser, "hosted"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused callback stored a connection: %v", err)
	}

	// A token the upstream refuses is dropped and the user asked again.
	connect(t, u, hosted)
	c, err := r.w.st.GetConnection(ctx, rigUser, "hosted")
	if err != nil {
		t.Fatal(err)
	}
	c.AccessToken = "not-a-token-the-upstream-knows"
	if err := r.w.st.PutConnection(ctx, *c); err != nil {
		t.Fatal(err)
	}
	_, err = session.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}})
	connectionURL(t, err, r.srv.URL)
	if _, err := r.w.st.GetConnection(ctx, rigUser, "hosted"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused token was kept: %v", err)
	}
}

// connectAgentNoUpstream authorizes an agent of alice at the gateway and
// opens its session before alice has connected the upstream: the session
// is opened with a connection made for the initialize and dropped after,
// so the test starts with a live session and no connection. It returns the
// session and a fresh connect URL.
func connectAgentNoUpstream(t *testing.T, r *authRig) (*mcp.ClientSession, string, *auth.AuthorizationCodeHandler) {
	t.Helper()
	ctx := context.Background()
	b := newUserBrowser(t, r.srv.URL, url.Values{"tool": {"list_expenses"}, "ttl": {"8h"}})
	h := agentOAuth(t, "agent", b.authorize)
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	tr := func() *mcp.StreamableClientTransport {
		return &mcp.StreamableClientTransport{Endpoint: r.mcpURL, OAuthHandler: h}
	}
	_, err := client.Connect(ctx, tr(), nil)
	hostedBase := strings.TrimSuffix(r.w.watcher.Current().Upstreams()[0].URL, "/mcp/hosted")
	connect(t, connectionURL(t, err, r.srv.URL), &hostedUpstream{base: hostedBase, resource: hostedBase + "/mcp/hosted"})
	s, err := client.Connect(ctx, tr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := r.w.st.DeleteConnection(ctx, rigUser, "hosted"); err != nil {
		t.Fatal(err)
	}
	_, err = s.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}})
	return s, connectionURL(t, err, r.srv.URL), h
}

// TestOAuthUpstreamPreregisteredClient: with auth.client in the registry
// (a confidential client registered at the upstream's server beforehand, its
// secret in a file), the gateway uses that client and registers none.
func TestOAuthUpstreamPreregisteredClient(t *testing.T) {
	ctx := context.Background()
	hosted := newHostedUpstream(t)
	secretFile := filepath.Join(t.TempDir(), "client.secret")
	var clientID string
	r, _ := newOAuthUpstreamRig(t, hosted, func(pub string) string {
		body, _ := json.Marshal(map[string]any{"client_name": "Legant gateway (pre-registered)",
			"redirect_uris": []string{pub + "/connect/callback"}, "token_endpoint_auth_method": "client_secret_basic",
			"grant_types": []string{"authorization_code", "refresh_token"}})
		resp, err := http.Post(hosted.base+"/oauth2/register", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var reg struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil || reg.ClientSecret == "" {
			t.Fatalf("register = %d %v", resp.StatusCode, err)
		}
		if err := os.WriteFile(secretFile, []byte(reg.ClientSecret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		clientID = reg.ClientID
		return "{kind: oauth, client: {id: " + reg.ClientID + ", secret: {file: " + secretFile + "}}}"
	})
	session, u, _ := connectAgentNoUpstream(t, r)
	connect(t, u, hosted)
	c, err := r.w.st.GetConnection(ctx, rigUser, "hosted")
	if err != nil || c.ClientID != clientID {
		t.Fatalf("connection = %v, %v; want client %s", c, err, clientID)
	}
	if err := callTool(ctx, session, "list_expenses", map[string]any{}); err != nil {
		t.Fatalf("call with the pre-registered client's token: %v", err)
	}
	if toks := hosted.tokens(); len(toks) == 0 || toks[len(toks)-1] != c.AccessToken {
		t.Error("the upstream did not get the stored token")
	}
}

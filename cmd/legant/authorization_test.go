package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/examples/expenses"
	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store"
)

// authRig is `legant gateway` as wire() assembles it (gateway, store,
// keys, authorization server) in front of the demo expenses server, with a
// user who can log in.
type authRig struct {
	srv    *httptest.Server
	w      *wiring
	ledger *expenses.Ledger
	mcpURL string
}

const (
	rigUser     = "alice"
	rigPassword = "alice's long password"
)

func newAuthRig(t *testing.T) *authRig {
	t.Helper()
	r := &authRig{ledger: &expenses.Ledger{}}
	up := httptest.NewServer(expenses.Handler(r.ledger, false))
	t.Cleanup(up.Close)
	dir := t.TempDir()
	reg := filepath.Join(dir, "legant.yaml")
	if err := os.WriteFile(reg, []byte(demoRegistry(up.URL+"/mcp")), 0o600); err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewUnstartedServer(nil)
	cfg := serveConfig{upstreams: reg, publicURL: "http://" + r.srv.Listener.Addr().String(),
		logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg.store.dataDir = filepath.Join(dir, "data")
	w, err := wire(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r.w = w
	r.srv.Config.Handler = w.handler
	r.srv.Start()
	t.Cleanup(func() { r.srv.Close(); w.close() })
	r.mcpURL = r.srv.URL + "/mcp/expenses"
	hash, err := oauth.HashPassword(rigPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.st.CreateUser(context.Background(), store.User{Name: rigUser, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	return r
}

var (
	csrfInput   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// userBrowser acts as the user's browser: it follows the authorization URL to
// the login page, logs in, sets the limits on the consent page and
// approves, and returns where the server redirected (the client's
// redirect URI with the code). Redirects are followed by hand so that the
// last one, to the client, is not.
type userBrowser struct {
	t      *testing.T
	base   string
	client *http.Client
	limits url.Values // consent form fields
}

func newUserBrowser(t *testing.T, base string, limits url.Values) *userBrowser {
	jar, _ := cookiejar.New(nil)
	return &userBrowser{t: t, base: base, limits: limits, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *userBrowser) fetch(req *http.Request) (*http.Response, string, error) {
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

func (b *userBrowser) get(u string) (*http.Response, string, error) {
	if strings.HasPrefix(u, "/") {
		u = b.base + u
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.fetch(req)
}

func (b *userBrowser) post(path string, form url.Values) (*http.Response, string, error) {
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.fetch(req)
}

// authorize is an auth.AuthorizationCodeFetcher.
func (b *userBrowser) authorize(_ context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	resp, _, err := b.get(args.URL)
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("authorize: %v %v", resp.StatusCode, err)
	}
	_, page, err := b.get(resp.Header.Get("Location")) // the login page
	if err != nil {
		return nil, err
	}
	loginReturn := resp.Header.Get("Location")
	ret, _ := url.Parse(loginReturn)
	resp, _, err = b.post("/login", url.Values{"csrf": {csrfInput.FindStringSubmatch(page)[1]},
		"username": {rigUser}, "password": {rigPassword}, "return_to": {ret.Query().Get("return_to")}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("login: %v %v", resp.StatusCode, err)
	}
	resp, page, err = b.get(resp.Header.Get("Location")) // back to authorize: the consent page
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("consent page: %v %v %s", resp.StatusCode, err, page)
	}
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		form.Add(m[1], html.UnescapeString(m[2]))
	}
	for k, v := range b.limits {
		form[k] = v
	}
	form.Set("decision", "approve")
	resp, page, err = b.post("/oauth2/authorize", form)
	if err != nil || resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("approve: %v %v %s", resp.StatusCode, err, page)
	}
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, err
	}
	q := cb.Query()
	if q.Get("error") != "" {
		return nil, fmt.Errorf("authorization refused: %s: %s", q.Get("error"), q.Get("error_description"))
	}
	return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
}

// callTool calls a tool and returns the error the gateway answered, if any.
func callTool(ctx context.Context, s *mcp.ClientSession, tool string, args map[string]any) error {
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return err
	}
	if res.IsError {
		b, _ := json.Marshal(res.Content)
		return errors.New(string(b))
	}
	return nil
}

// TestGoSDKClientAuthorizes: an MCP client built on the official go-sdk,
// with its OAuth support, pointed at the gateway, gets a 401, discovers the
// authorization server (RFC 9728 → RFC 8414), registers (RFC 7591), sends
// the user through login and consent (max amount 200), exchanges the code
// with PKCE and resource, and calls tools; the audit log shows the user,
// the agent and the tool of each call.
func TestGoSDKClientAuthorizes(t *testing.T) {
	ctx := context.Background()
	r := newAuthRig(t)
	b := newUserBrowser(t, r.srv.URL, url.Values{"tool": {"list_expenses", "submit_expense"},
		"max_amount": {"200"}, "currency": {"USD"}, "ttl": {"8h"}})
	h := agentOAuth(t, "go-sdk agent", b.authorize)
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: r.mcpURL, OAuthHandler: h}, nil)
	if err != nil {
		t.Fatalf("connect through the OAuth flow: %v", err)
	}
	defer session.Close()

	tools, err := session.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	if strings.Join(names, ",") != "list_expenses,submit_expense" {
		t.Errorf("tools/list = %v (delete_all was not approved)", names)
	}
	if err := callTool(ctx, session, "submit_expense", map[string]any{"amount": 120, "category": "travel"}); err != nil {
		t.Fatalf("120 within the consented 200: %v", err)
	}
	err = callTool(ctx, session, "submit_expense", map[string]any{"amount": 300, "category": "travel"})
	if err == nil || !strings.Contains(err.Error(), "max_amount 200") {
		t.Fatalf("300 over the consented 200: %v", err)
	}

	ts, _ := h.TokenSource(ctx)
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	claims, err := r.verify(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	session.Close()
	r.w.gw.Close() // flushes the gateway's audit queue
	evs, err := r.w.st.Audit().Query(ctx, store.AuditFilter{Tool: "submit_expense"})
	if err != nil || len(evs) != 2 {
		t.Fatalf("audit = %+v, %v", evs, err)
	}
	for i, want := range []string{"allow", "deny"} {
		e := evs[i]
		if e.User != rigUser || len(e.Agents) != 1 || e.Agents[0] != claims.ClientID || e.Decision != want || e.Upstream != "expenses" {
			t.Errorf("audit event %d = user %q agents %v tool %q decision %q", i, e.User, e.Agents, e.Tool, e.Decision)
		}
	}
	t.Logf("audit: %s → %s: %s %s / %s", evs[0].User, strings.Join(evs[0].Agents, " → "), evs[0].Tool, evs[0].Decision, evs[1].Decision)
}

// verify verifies a token as the gateway does.
func (r *authRig) verify(tok string) (*authority.Claims, error) {
	return authority.Verify(tok, r.w.keys, authority.VerifyOptions{Issuer: r.w.issuer, Audience: r.mcpURL, RequireActor: true}, time.Now())
}

// authorizeAgent runs the go-sdk OAuth flow for a new agent whose user sets
// limits on the consent page, and returns its session and handler.
func authorizeAgent(t *testing.T, r *authRig, name string, limits url.Values) (*mcp.ClientSession, *auth.AuthorizationCodeHandler) {
	t.Helper()
	b := newUserBrowser(t, r.srv.URL, limits)
	h := agentOAuth(t, name, b.authorize)
	s, err := mcp.NewClient(&mcp.Implementation{Name: name, Version: "1"}, nil).
		Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: r.mcpURL, OAuthHandler: h}, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s, h
}

// staticBearer adds a fixed access token to requests.
type staticBearer struct{ token string }

func (b staticBearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(req)
}

// postJSON posts to the issuer and decodes the JSON answer.
func (r *authRig) post(t *testing.T, path string, body io.Reader, contentType, id, secret string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+path, body)
	req.Header.Set("Content-Type", contentType)
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestTokenExchangeForSubAgent: agent A, authorized by alice up to 200 per
// call, exchanges its token (RFC 8693) for a narrower one for sub-agent B
// (submit_expense only, up to 50); B's token works at the gateway for that
// slice only; asking wider is refused with the documented errors; and
// revoking A's grant stops B at once.
func TestTokenExchangeForSubAgent(t *testing.T) {
	ctx := context.Background()
	r := newAuthRig(t)
	_, hA := authorizeAgent(t, r, "agent A", url.Values{"tool": {"list_expenses", "submit_expense"},
		"max_amount": {"200"}, "currency": {"USD"}, "ttl": {"8h"}})
	ts, _ := hA.TokenSource(ctx)
	tokA, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	status, reg := r.post(t, "/oauth2/register", strings.NewReader(`{"client_name":"sub-agent B",
		"redirect_uris":["http://127.0.0.1:1/cb"],"grant_types":["urn:ietf:params:oauth:grant-type:token-exchange"],
		"response_types":[]}`), "application/json", "", "")
	if status != http.StatusCreated {
		t.Fatalf("register B = %d %v", status, reg)
	}
	bID, bSecret := reg["client_id"].(string), reg["client_secret"].(string)
	exchange := func(scope, details string) (int, map[string]any) {
		f := url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {tokA.AccessToken},
			"subject_token_type": {oauth.TokenTypeAccessToken}, "resource": {r.mcpURL}, "scope": {scope},
			"authorization_details": {details}}
		return r.post(t, "/oauth2/token", strings.NewReader(f.Encode()), "application/x-www-form-urlencoded", bID, bSecret)
	}

	status, out := exchange("expenses:write", `[{"type":"legant_delegation","actions":["submit_expense"],"max_amount":{"value":"50","currency":"USD"}}]`)
	if status != http.StatusOK {
		t.Fatalf("exchange = %d %v", status, out)
	}
	tokB := out["access_token"].(string)
	claimsB, err := r.verify(tokB)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("B's token: %s, %s", claimsB.Provenance(), describeLimits(out))

	sB, err := mcp.NewClient(&mcp.Implementation{Name: "sub-agent B", Version: "1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: r.mcpURL, HTTPClient: &http.Client{Transport: staticBearer{tokB}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sB.Close()
	if err := callTool(ctx, sB, "submit_expense", map[string]any{"amount": 40, "category": "meals"}); err != nil {
		t.Fatalf("B within its slice: %v", err)
	}
	if err := callTool(ctx, sB, "submit_expense", map[string]any{"amount": 100, "category": "meals"}); err == nil || !strings.Contains(err.Error(), "max_amount 50") {
		t.Fatalf("B over its 50 (A may spend 200): %v", err)
	}
	if err := callTool(ctx, sB, "list_expenses", map[string]any{}); err == nil {
		t.Fatal("B called list_expenses, which A did not pass on")
	}

	wider := []struct{ scope, details, code, mention string }{
		{"expenses:write", `[{"type":"legant_delegation","max_amount":{"value":"500","currency":"USD"}}]`, "invalid_authorization_details", "max_amount"},
		{"expenses:write", `[{"type":"legant_delegation","actions":["delete_all"]}]`, "invalid_authorization_details", "delete_all"},
		{"expenses:admin", `[{"type":"legant_delegation"}]`, "invalid_scope", "expenses:admin"},
	}
	for _, w := range wider {
		status, out := exchange(w.scope, w.details)
		if status != http.StatusBadRequest || out["error"] != w.code || !strings.Contains(fmt.Sprint(out["error_description"]), w.mention) {
			t.Errorf("wider %s %s = %d %v, want %s naming %s", w.scope, w.details, status, out, w.code, w.mention)
		}
	}

	// A's user revokes A's delegation: B's token dies with it at the gateway.
	if _, err := r.w.st.Revoke(ctx, store.RevokeRequest{Kind: "delegation", Value: claimsB.ParentID, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := callTool(ctx, sB, "submit_expense", map[string]any{"amount": 1, "category": "meals"}); err == nil {
		t.Fatal("B's call succeeded after the parent delegation was revoked")
	}
}

func describeLimits(out map[string]any) string {
	b, _ := json.Marshal(out["authorization_details"])
	return string(b)
}

// agentOAuth is go-sdk's authorization code handler for a test agent named
// name: a public client registered by DCR, its browser played by fetch.
func agentOAuth(tb testing.TB, name string, fetch auth.AuthorizationCodeFetcher) *auth.AuthorizationCodeHandler {
	tb.Helper()
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName: name, RedirectURIs: []string{"http://127.0.0.1:45678/callback"},
			TokenEndpointAuthMethod: "none", GrantTypes: []string{"authorization_code", "refresh_token"}}},
		AuthorizationCodeFetcher: fetch,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

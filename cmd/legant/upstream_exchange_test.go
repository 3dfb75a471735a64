package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store"
)

// registerExchangeClient registers, at the hosted upstream's authorization
// server, the confidential client the gateway exchanges tokens as, and
// writes its secret to a file. It returns the client id and the file.
func registerExchangeClient(t testing.TB, hosted *hostedUpstream) (string, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"client_name": "Legant gateway (token exchange)",
		"token_endpoint_auth_method": "client_secret_basic", "grant_types": []string{oauth.GrantTokenExchange}, "response_types": []string{}})
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
	f := filepath.Join(t.TempDir(), "exchange.secret")
	if err := os.WriteFile(f, []byte(reg.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return reg.ClientID, f
}

// gatewayIdentity is the issuer and published keys of the tokens the
// gateway mints itself (its subject tokens), as another server learns them.
func gatewayIdentity(t testing.TB, r *authRig) (string, *authority.KeySet) {
	t.Helper()
	iss := r.srv.URL + downstreamIssuerPath
	resp, err := http.Get(iss + "/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	ks, err := authority.ParseJWKS(b)
	if err != nil {
		t.Fatalf("gateway JWKS: %v", err)
	}
	return iss, ks
}

// exchangesAt counts the tokens the hosted upstream's server minted by
// token exchange (its audit log).
func exchangesAt(t testing.TB, hosted *hostedUpstream) int {
	t.Helper()
	evs, err := hosted.st.Audit().Query(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Kind == "mint" && e.Reason == oauth.GrantTokenExchange {
			n++
		}
	}
	return n
}

// TestExchangeUpstream: a hosted MCP server behind its own OAuth (a go-sdk
// server behind auth.RequireBearerToken whose authorization server is a
// second Legant issuer) trusts the gateway's issuer for token exchange. An
// agent of alice calls it through the gateway (registry auth kind exchange,
// server discovered from the upstream's protected-resource metadata): the
// upstream gets a token its own server issued for alice, exchanged once per
// delegation; revoking the delegation stops the use; the upstream never
// sees the caller's token, and no exchanged token is in the gateway's logs
// or audit.
func TestExchangeUpstream(t *testing.T) {
	ctx := context.Background()
	hosted := newHostedUpstream(t)
	clientID, secretFile := registerExchangeClient(t, hosted)
	r, logs := newOAuthUpstreamRig(t, hosted, func(string) string {
		return "{kind: exchange, client: {id: " + clientID + ", secret: {file: " + secretFile + "}}, scopes: [expenses:read]}"
	})
	iss, keys := gatewayIdentity(t, r)
	hosted.trust(t, oauth.TrustedIssuer{Issuer: iss, Keys: keys, Clients: []string{clientID}})

	limits := url.Values{"tool": {"list_expenses"}, "ttl": {"8h"}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	s1, h1 := authorizeAgent(t, r, "agent-one", limits)
	for range 3 {
		if err := callTool(ctx, s1, "list_expenses", map[string]any{}); err != nil {
			t.Fatalf("call through the exchange upstream: %v", err)
		}
	}
	if n := exchangesAt(t, hosted); n != 1 {
		t.Errorf("exchanges at the upstream's server after one agent's calls = %d, want 1 (cached per delegation)", n)
	}
	toks := hosted.tokens()
	if len(toks) < 4 { // initialize, initialized, 3 calls (and list)
		t.Fatalf("the upstream accepted %d requests", len(toks))
	}
	up, err := authority.Verify(toks[len(toks)-1], hosted.keys, authority.VerifyOptions{Issuer: hosted.base, Audience: hosted.resource, RequireActor: true}, time.Now())
	if err != nil || up.Subject != rigUser || !up.Chain().Contains(clientID) || !up.Chain().Contains(gateway.DefaultActor) ||
		!slices.Equal(up.Scopes, []string{"expenses:read"}) {
		t.Fatalf("the upstream's token = %+v, %v", up, err)
	}
	ts, _ := h1.TokenSource(ctx)
	callerTok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if tok == callerTok.AccessToken {
			t.Fatal("the upstream got the caller's token")
		}
	}

	// A second delegation has its own exchange.
	s2, _ := authorizeAgent(t, r, "agent-two", limits)
	if err := callTool(ctx, s2, "list_expenses", map[string]any{}); err != nil {
		t.Fatalf("second agent: %v", err)
	}
	if n := exchangesAt(t, hosted); n != 2 {
		t.Errorf("exchanges after a second delegation = %d, want 2", n)
	}

	// Revoking the first delegation stops its use at once: nothing reaches
	// the upstream; the other delegation goes on without a new exchange.
	c1, err := r.verify(callerTok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.w.st.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindDelegation, Value: c1.DelegationID, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	before := len(hosted.tokens())
	if err := callTool(ctx, s1, "list_expenses", map[string]any{}); err == nil {
		t.Error("a call of the revoked delegation succeeded")
	}
	if n := len(hosted.tokens()); n != before {
		t.Errorf("the upstream got %d requests after the revocation", n-before)
	}
	if err := callTool(ctx, s2, "list_expenses", map[string]any{}); err != nil {
		t.Fatalf("the other delegation after the revocation: %v", err)
	}
	if n := exchangesAt(t, hosted); n != 2 {
		t.Errorf("exchanges = %d, want still 2", n)
	}

	// Neither the gateway's log nor its audit holds an exchanged token; the
	// audit names the credential kind.
	s1.Close()
	s2.Close()
	r.w.gw.Close()
	evs, err := r.w.st.Audit().Query(ctx, store.AuditFilter{Tool: "list_expenses"})
	if err != nil {
		t.Fatal(err)
	}
	allows := 0
	for _, e := range evs {
		if e.Decision == "allow" && e.Constraint == "upstream_credential" && e.Value == "exchange" {
			allows++
		}
		b, _ := json.Marshal(e)
		for _, tok := range hosted.tokens() {
			if strings.Contains(string(b), tok) {
				t.Fatal("an audit record holds an exchanged token")
			}
		}
	}
	if allows != 5 {
		t.Errorf("allowed calls marked upstream_credential=exchange = %d, want 5", allows)
	}
	if n := exchangesAt(t, hosted); n != 2 {
		t.Errorf("exchanges in all = %d, want 2 (none for the revoked delegation)", n)
	}
	for _, tok := range append(hosted.tokens(), callerTok.AccessToken) {
		if strings.Contains(logs.String(), tok) {
			t.Fatal("the gateway's log holds a token")
		}
	}
	if n := strings.Count(logs.String(), "upstream token exchanged"); n != 2 {
		t.Errorf("the gateway logged %d exchanges, want 2", n)
	}
}

// TestExchangeUpstreamRefused: an authorization server that does not trust
// the gateway refuses the exchange; the call gets a clear error naming the
// server's error, and nothing reaches the upstream.
func TestExchangeUpstreamRefused(t *testing.T) {
	hosted := newHostedUpstream(t)
	clientID, secretFile := registerExchangeClient(t, hosted)
	r, _ := newOAuthUpstreamRig(t, hosted, func(string) string {
		return "{kind: exchange, client: {id: " + clientID + ", secret: {file: " + secretFile + "}}, authorization_server: " + hosted.base + "}"
	})
	_, err := connectExchangeAgent(t, r, "agent")
	var we *jsonrpc.Error
	if !errors.As(err, &we) || we.Code != gateway.CodeUpstream {
		t.Fatalf("want a JSON-RPC error %d, got %v", gateway.CodeUpstream, err)
	}
	var d struct{ Reason, Upstream, Error string }
	if json.Unmarshal(we.Data, &d) != nil || d.Reason != gateway.ReasonExchangeRefused || d.Upstream != "hosted" || d.Error != "invalid_grant" {
		t.Errorf("error data = %s", we.Data)
	}
	if n := len(hosted.tokens()); n != 0 {
		t.Errorf("the upstream accepted %d requests", n)
	}
}

// connectExchangeAgent authorizes an agent of alice and connects it, returning the
// connect error as is.
func connectExchangeAgent(t *testing.T, r *authRig, name string) (*mcp.ClientSession, error) {
	t.Helper()
	b := newUserBrowser(t, r.srv.URL, url.Values{"tool": {"list_expenses"}, "ttl": {"8h"}})
	h := agentOAuth(t, name, b.authorize)
	return mcp.NewClient(&mcp.Implementation{Name: name, Version: "1"}, nil).
		Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: r.mcpURL, OAuthHandler: h}, nil)
}

// TestOAuthUpstreamStreamNeedsConnection: the standalone GET stream of a
// session whose user has no connection to the oauth upstream is refused
// with 403 and the JSON-RPC error a call gets (connection_required and the
// connect URL), not a 502; nothing reaches the upstream.
func TestOAuthUpstreamStreamNeedsConnection(t *testing.T) {
	ctx := context.Background()
	hosted := newHostedUpstream(t)
	r, _ := newOAuthUpstreamRig(t, hosted)
	session, _, h := connectAgentNoUpstream(t, r)
	ts, err := h.TokenSource(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	before := len(hosted.tokens())
	req, _ := http.NewRequest(http.MethodGet, r.mcpURL, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", session.ID())
	req.Header.Set("MCP-Protocol-Version", session.InitializeResult().ProtocolVersion)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct {
			Code int
			Data struct{ Reason, Upstream, URL string }
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Type") != "application/json" || err != nil ||
		body.Error.Code != gateway.CodeUpstream || body.Error.Data.Reason != gateway.ReasonConnectionRequired ||
		body.Error.Data.Upstream != "hosted" || !strings.HasPrefix(body.Error.Data.URL, r.srv.URL+"/connect/hosted?ticket=") {
		t.Fatalf("GET stream without a connection = %d %s %+v (%v)", resp.StatusCode, resp.Header.Get("Content-Type"), body, err)
	}
	if n := len(hosted.tokens()); n != before {
		t.Errorf("the upstream got %d requests", n-before)
	}
}

// TestOAuthUpstreamDelegationRevoked: revoking one of alice's delegations
// that used her connection to the oauth upstream deletes the connection:
// her other agent's next call asks her to connect again, and nothing
// reaches the upstream with the old token.
func TestOAuthUpstreamDelegationRevoked(t *testing.T) {
	ctx := context.Background()
	hosted := newHostedUpstream(t)
	r, _ := newOAuthUpstreamRig(t, hosted)
	sA, u, _ := connectAgentNoUpstream(t, r)
	connect(t, u, hosted)
	if err := callTool(ctx, sA, "list_expenses", map[string]any{}); err != nil {
		t.Fatalf("agent A after connecting: %v", err)
	}
	sB, hB := authorizeAgent(t, r, "agent-b", url.Values{"tool": {"list_expenses"}, "ttl": {"8h"}})
	if err := callTool(ctx, sB, "list_expenses", map[string]any{}); err != nil {
		t.Fatalf("agent B: %v", err)
	}
	ts, _ := hB.TokenSource(ctx)
	tokB, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	cB, err := r.verify(tokB.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.w.st.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindDelegation, Value: cB.DelegationID, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.w.st.GetConnection(ctx, rigUser, "hosted"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the connection B used survived B's revocation: %v", err)
	}
	before := len(hosted.tokens())
	_, err = sA.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}})
	connectionURL(t, err, r.srv.URL)
	if n := len(hosted.tokens()); n != before {
		t.Errorf("the upstream got %d requests after the revocation", n-before)
	}
}

// agentSession authorizes an agent of alice (consent: list_expenses) and
// opens its session; for benchmarks, where authorizeAgent's *testing.T is
// not at hand.
func agentSession(tb testing.TB, r *authRig, name string) *mcp.ClientSession {
	tb.Helper()
	b := userBrowserAt(r.srv.URL, url.Values{"tool": {"list_expenses"}, "ttl": {"8h"}})
	h := agentOAuth(tb, name, b.authorize)
	s, err := mcp.NewClient(&mcp.Implementation{Name: name, Version: "1"}, nil).
		Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: r.mcpURL, OAuthHandler: h}, nil)
	if err != nil {
		tb.Fatalf("connect %s: %v", name, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkUpstreamCredentialCall: one tools/call through the wired gateway
// to the hosted upstream (a second Legant issuer as its authorization
// server), by credential kind: exchange (the token cached in memory per
// delegation, exchanged once) and oauth (the user's connection read from
// the store and opened per call). Reports the exchanges made.
func BenchmarkUpstreamCredentialCall(b *testing.B) {
	ctx := context.Background()
	b.Run("exchange", func(b *testing.B) {
		hosted := newHostedUpstream(b)
		clientID, secretFile := registerExchangeClient(b, hosted)
		r, _ := newOAuthUpstreamRig(b, hosted, func(string) string {
			return "{kind: exchange, client: {id: " + clientID + ", secret: {file: " + secretFile + "}}, scopes: [expenses:read]}"
		})
		iss, keys := gatewayIdentity(b, r)
		hosted.trust(b, oauth.TrustedIssuer{Issuer: iss, Keys: keys, Clients: []string{clientID}})
		s := agentSession(b, r, "bench")
		b.ResetTimer()
		for b.Loop() {
			if err := callTool(ctx, s, "list_expenses", map[string]any{}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(exchangesAt(b, hosted)), "exchanges")
	})
	b.Run("oauth", func(b *testing.B) {
		hosted := newHostedUpstream(b)
		r, _ := newOAuthUpstreamRig(b, hosted)
		b0 := userBrowserAt(r.srv.URL, url.Values{"tool": {"list_expenses"}, "ttl": {"8h"}})
		h := agentOAuth(b, "bench", b0.authorize)
		client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
		tr := &mcp.StreamableClientTransport{Endpoint: r.mcpURL, OAuthHandler: h}
		_, err := client.Connect(ctx, tr, nil)
		connect(b, connectionURL(b, err, r.srv.URL), hosted)
		s, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: r.mcpURL, OAuthHandler: h}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		b.ResetTimer()
		for b.Loop() {
			if err := callTool(ctx, s, "list_expenses", map[string]any{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestOAuthUpstreamUnconnectedIsRefused: a tools/call and a prompts/get of a
// user without a connection to the oauth upstream are answered
// connection_required, reach nothing, and are audited as refused
// (connection_required), never as allowed.
func TestOAuthUpstreamUnconnectedIsRefused(t *testing.T) {
	ctx := context.Background()
	hosted := newHostedUpstream(t)
	r, _ := newOAuthUpstreamRig(t, hosted)
	session, _, _ := connectAgentNoUpstream(t, r)
	before := len(hosted.tokens())
	if err := callTool(ctx, session, "list_expenses", map[string]any{}); err == nil || !strings.Contains(err.Error(), "connect the upstream hosted") {
		t.Fatalf("tools/call without a connection: %v", err)
	}
	if _, err := session.GetPrompt(ctx, &mcp.GetPromptParams{Name: "summarize"}); err == nil || !strings.Contains(err.Error(), "connect the upstream hosted") {
		t.Fatalf("prompts/get without a connection: %v", err)
	}
	if n := len(hosted.tokens()); n != before {
		t.Errorf("the upstream got %d requests", n-before)
	}
	// Refusals are recorded asynchronously: wait for both records.
	last := map[string]string{}
	eventually(t, "both refusals in the audit log", func() bool {
		evs, err := r.w.st.Audit().Query(ctx, store.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Method == "tools/call" || ev.Method == "prompts/get" {
				last[ev.Method] = string(ev.Kind) + " " + ev.Reason
			}
		}
		return len(last) == 2
	})
	for _, method := range []string{"tools/call", "prompts/get"} {
		if last[method] != "deny connection_required" {
			t.Errorf("%s last audited as %q, want deny connection_required", method, last[method])
		}
	}
}

package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/issuer/oauth"
)

// agentSession connects an agent of alice (login and consent at the
// gateway's own issuer, list_expenses allowed) to the rig's hosted
// upstream; the first attempt gets connection_required, whose URL is
// returned with the client (connect, then call client.Connect again).
func agentClient(t *testing.T, r *authRig) (*mcp.Client, func() *mcp.StreamableClientTransport) {
	t.Helper()
	b := newUserBrowser(t, r.srv.URL, url.Values{"tool": {"list_expenses"}, "ttl": {"8h"}})
	b.client.Transport = r.srv.Client().Transport
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName: "agent", RedirectURIs: []string{"http://127.0.0.1:45678/callback"},
			TokenEndpointAuthMethod: "none", GrantTypes: []string{"authorization_code", "refresh_token"}}},
		AuthorizationCodeFetcher: b.authorize,
		Client:                   r.srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil), func() *mcp.StreamableClientTransport {
		return &mcp.StreamableClientTransport{Endpoint: r.mcpURL, OAuthHandler: h, HTTPClient: r.srv.Client()}
	}
}

// TestOAuthUpstreamClientMetadataDocument: a gateway with an https public
// URL serves its Client ID Metadata Document, and is known by it at an
// upstream's authorization server that takes such documents: the connect
// redirect names the document's URL as client_id (no registration), the
// server fetches the document and checks the callback against it, and the
// token is issued to that client. A gateway with a plain http public URL
// serves none (and registers by DCR: TestOAuthUpstreamConnect).
func TestOAuthUpstreamClientMetadataDocument(t *testing.T) {
	ctx := context.Background()
	// httptest's servers share one certificate: the hosted authorization
	// server trusts the gateway's through it, and may fetch from loopback.
	probe := httptest.NewTLSServer(nil)
	roots := x509.NewCertPool()
	roots.AddCert(probe.Certificate())
	probe.Close()
	hosted := newHostedUpstream(t, func(o *oauth.Options) {
		o.MetadataDocuments = oauth.MetadataDocumentOptions{AllowPrivateAddresses: true, RootCAs: roots}
	})
	r, _ := oauthUpstreamRig(t, hosted, true)
	docURL := r.srv.URL + gateway.ClientMetadataPath

	// The document: the gateway as a public web client whose only callback
	// is its connect callback.
	resp, err := r.srv.Client().Get(docURL)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ClientID                string   `json:"client_id"`
		RedirectURIs            []string `json:"redirect_uris"`
		GrantTypes              []string `json:"grant_types"`
		TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || doc.ClientID != docURL || len(doc.RedirectURIs) != 1 ||
		doc.RedirectURIs[0] != r.srv.URL+"/connect/callback" || doc.TokenEndpointAuthMethod != "none" ||
		strings.Join(doc.GrantTypes, " ") != "authorization_code refresh_token" {
		t.Fatalf("client metadata document = %d %+v %v", resp.StatusCode, doc, err)
	}

	client, transport := agentClient(t, r)
	_, err = client.Connect(ctx, transport(), nil)
	u := connectionURL(t, err, r.srv.URL)
	b := newUserBrowser(t, hosted.base, url.Values{"tool": {"list_expenses"}, "ttl": {"8h"}})
	b.client.Transport = r.srv.Client().Transport
	resp, body, err := b.get(u)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("connect page = %v %v %s", resp.StatusCode, err, body)
	}
	authz, _ := url.Parse(resp.Header.Get("Location"))
	q := authz.Query()
	if q.Get("client_id") != docURL || q.Get("redirect_uri") != r.srv.URL+"/connect/callback" {
		t.Fatalf("the gateway is not known by its document at the upstream's server: %s", authz)
	}
	res, err := b.authorize(ctx, &auth.AuthorizationArgs{URL: authz.String()})
	if err != nil {
		t.Fatalf("the upstream's server refused the document client: %v", err)
	}
	cb := q.Get("redirect_uri") + "?" + url.Values{"code": {res.Code}, "state": {res.State}, "iss": {res.Iss}}.Encode()
	if resp, body, err = b.get(cb); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("callback = %v %v %s", resp.StatusCode, err, body)
	}
	c, err := r.w.st.GetConnection(ctx, rigUser, "hosted")
	if err != nil || c.ClientID != docURL {
		t.Fatalf("stored connection = %v, %v: want client %s", c, err, docURL)
	}
	session, err := client.Connect(ctx, transport(), nil)
	if err != nil {
		t.Fatalf("connect after connecting the upstream: %v", err)
	}
	defer session.Close()
	if err := callTool(ctx, session, "list_expenses", map[string]any{}); err != nil {
		t.Fatalf("call after connecting: %v", err)
	}
	if toks := hosted.tokens(); len(toks) == 0 || toks[len(toks)-1] != c.AccessToken {
		t.Fatal("the upstream did not get the token issued to the document client")
	}

	// A gateway with an http public URL has no document to serve.
	plain, _ := newOAuthUpstreamRig(t, newHostedUpstream(t))
	if resp, err := http.Get(plain.srv.URL + gateway.ClientMetadataPath); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("document of an http gateway: %v %v", resp.StatusCode, err)
	}
}

// stepUpData is data of a connection_required error.
func stepUpData(t *testing.T, err error) (u, scope string) {
	t.Helper()
	var we *jsonrpc.Error
	if !errors.As(err, &we) || we.Code != gateway.CodeUpstream {
		t.Fatalf("want a JSON-RPC error %d, got %v", gateway.CodeUpstream, err)
	}
	var d struct{ Reason, URL, Scope string }
	if err := json.Unmarshal(we.Data, &d); err != nil || d.Reason != gateway.ReasonConnectionRequired {
		t.Fatalf("error data = %s (%v)", we.Data, err)
	}
	return d.URL, d.Scope
}

// TestOAuthUpstreamStepUp: the upstream answers a call with 403
// insufficient_scope naming a scope the connection lacks. The call is not
// retried: the client gets connection_required whose URL asks the upstream's
// server for the union of the granted and the challenged scopes; the stored
// connection stays until the user grants them. After the user connects
// again, the retried call reaches the tool with a token carrying the wider
// scope. A challenge for a scope the token already has is refused at once
// (no authorization loop), and nothing reaches the tool.
func TestOAuthUpstreamStepUp(t *testing.T) {
	ctx := context.Background()
	hosted := newHostedUpstream(t)
	r, _ := newOAuthUpstreamRig(t, hosted)
	client, transport := agentClient(t, r)
	_, err := client.Connect(ctx, transport(), nil)
	connect(t, connectionURL(t, err, r.srv.URL), hosted)
	first, err := r.w.st.GetConnection(ctx, rigUser, "hosted")
	if err != nil {
		t.Fatal(err)
	}
	session, err := client.Connect(ctx, transport(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()

	// 1. The upstream now wants expenses:write for every call.
	hosted.requireCallScope("expenses:write", false)
	_, err = session.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}})
	u, scope := stepUpData(t, err)
	if want := "expenses:read expenses:write"; scope != want { // granted ∪ challenged
		t.Errorf("step-up scope = %q, want %q", scope, want)
	}
	if refused, executed := hosted.calls(); refused != 1 || executed != 0 {
		t.Errorf("upstream tools/calls: %d refused, %d executed; want 1, 0 (no silent retry)", refused, executed)
	}
	if c, err := r.w.st.GetConnection(ctx, rigUser, "hosted"); err != nil || c.AccessToken != first.AccessToken {
		t.Errorf("the connection was not kept until the user steps up: %v %v", c, err)
	}

	// 2. The user grants the wider scopes; the retried call goes through.
	connect(t, u, hosted, "expenses:read expenses:write offline_access")
	c, err := r.w.st.GetConnection(ctx, rigUser, "hosted")
	if err != nil || c.AccessToken == first.AccessToken || !strings.Contains(" "+c.Scope+" ", " expenses:write ") {
		t.Fatalf("after step-up: %v %v", c, err)
	}
	if err := callTool(ctx, session, "list_expenses", map[string]any{}); err != nil {
		t.Fatalf("call after stepping up: %v", err)
	}
	if refused, executed := hosted.calls(); refused != 1 || executed != 1 {
		t.Errorf("upstream tools/calls: %d refused, %d executed; want 1, 1", refused, executed)
	}
	toks := hosted.tokens()
	claims, err := authority.Verify(toks[len(toks)-1], hosted.keys, authority.VerifyOptions{Issuer: hosted.base, Audience: hosted.resource}, time.Now())
	if err != nil || toks[len(toks)-1] != c.AccessToken || !strings.Contains(strings.Join(claims.Scopes, " "), "expenses:write") {
		t.Fatalf("the upstream did not get the stepped-up token: %v %v", claims, err)
	}

	// 3. A challenge the token already meets: refused, no new connection.
	hosted.requireCallScope("expenses:write", true)
	_, err = session.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}})
	var we *jsonrpc.Error
	if !errors.As(err, &we) || we.Code != gateway.CodeUpstream || len(we.Data) != 0 || !strings.Contains(we.Message, "insufficient scope") {
		t.Fatalf("a challenge for granted scopes: %v (data %s)", err, func() []byte {
			if we != nil {
				return we.Data
			}
			return nil
		}())
	}
	if refused, executed := hosted.calls(); refused != 2 || executed != 1 {
		t.Errorf("upstream tools/calls: %d refused, %d executed; want 2, 1", refused, executed)
	}
	if c2, err := r.w.st.GetConnection(ctx, rigUser, "hosted"); err != nil || c2.AccessToken != c.AccessToken {
		t.Errorf("the connection changed on a refused challenge: %v", err)
	}
}

// TestOAuthUpstreamURLElicitation: a session whose client declared
// elicitation.url gets a missing connection as the MCP spec's
// URLElicitationRequiredError (-32042, one URL-mode elicitation pointing at
// the gateway's connect page, nothing sent upstream); when the user's
// connection lands, the client receives notifications/elicitation/complete
// with that elicitationId on its stream, and the retried call succeeds.
// Before a session exists (initialize) it is connection_required.
func TestOAuthUpstreamURLElicitation(t *testing.T) {
	ctx := context.Background()
	hosted := newHostedUpstream(t)
	r, _ := newOAuthUpstreamRig(t, hosted)
	completed := make(chan string, 4)
	b := newUserBrowser(t, r.srv.URL, url.Values{"tool": {"list_expenses"}, "ttl": {"8h"}})
	h := agentOAuth(t, "agent", b.authorize)
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{URL: &mcp.URLElicitationCapabilities{}}},
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept"}, nil
		},
		ElicitationCompleteHandler: func(_ context.Context, req *mcp.ElicitationCompleteNotificationRequest) {
			completed <- req.Params.ElicitationID
		},
	})
	transport := func() *mcp.StreamableClientTransport {
		return &mcp.StreamableClientTransport{Endpoint: r.mcpURL, OAuthHandler: h}
	}
	_, err := client.Connect(ctx, transport(), nil)
	connect(t, connectionURL(t, err, r.srv.URL), hosted) // no session yet: connection_required
	session, err := client.Connect(ctx, transport(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	if err := callTool(ctx, session, "list_expenses", map[string]any{}); err != nil {
		t.Fatal(err)
	}

	// The user disconnects: the next call is a URL-mode elicitation.
	if _, err := r.w.st.DeleteConnection(ctx, rigUser, "hosted"); err != nil {
		t.Fatal(err)
	}
	before := len(hosted.tokens())
	_, err = session.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}})
	var we *jsonrpc.Error
	if !errors.As(err, &we) || we.Code != gateway.CodeURLElicitationRequired {
		t.Fatalf("want a JSON-RPC error %d, got %v", gateway.CodeURLElicitationRequired, err)
	}
	var d struct {
		Elicitations []mcp.ElicitParams `json:"elicitations"`
		Reason       string             `json:"reason"`
	}
	if err := json.Unmarshal(we.Data, &d); err != nil || len(d.Elicitations) != 1 || d.Reason != gateway.ReasonConnectionRequired {
		t.Fatalf("error data = %s (%v)", we.Data, err)
	}
	el := d.Elicitations[0]
	if el.Mode != "url" || el.ElicitationID == "" || el.Message == "" || !strings.HasPrefix(el.URL, r.srv.URL+"/connect/hosted?ticket=") {
		t.Fatalf("elicitation = %+v", el)
	}
	if n := len(hosted.tokens()); n != before {
		t.Errorf("the upstream got %d requests without a connection", n-before)
	}

	// The user follows the URL; the client is told, and retries.
	connect(t, el.URL, hosted)
	select {
	case id := <-completed:
		if id != el.ElicitationID {
			t.Fatalf("completed elicitation %q, want %q", id, el.ElicitationID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notifications/elicitation/complete after the connection landed")
	}
	if err := callTool(ctx, session, "list_expenses", map[string]any{}); err != nil {
		t.Fatalf("call after the elicitation completed: %v", err)
	}
}

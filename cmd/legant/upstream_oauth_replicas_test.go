package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// oauthReplicas is two `legant gateway` replicas, as wire() assembles
// them, on one PostgreSQL store with the hosted upstream in their registry
// as {kind: oauth} (client by DCR). Both have A's address as their public
// URL, as replicas behind one load balancer share one: the upstream's
// server redirects to A's address, and the test delivers the callback to
// B's instead (the browser's cookie, set for host 127.0.0.1, goes along).
func oauthReplicas(t *testing.T, hosted *hostedUpstream) (a, b *authRig, dbURL string) {
	t.Helper()
	pg := postgresBackend(t)
	dbURL = pg.Options(t).DatabaseURL
	dir := t.TempDir()
	reg, secret, keys := filepath.Join(dir, "legant.yaml"), filepath.Join(dir, "secret"), filepath.Join(dir, "keys")
	yaml := `version: 1
upstreams:
  - slug: hosted
    transport: streamable-http
    url: ` + hosted.resource + `
    auth: {kind: oauth}
    tools:
      list_expenses: {scope: expenses:read}
`
	for path, data := range map[string][]byte{reg: []byte(yaml), secret: append(storetest.Secret, '\n')} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srvA := httptest.NewUnstartedServer(nil)
	public := "http://" + srvA.Listener.Addr().String()
	replica := func(srv *httptest.Server) *authRig {
		cfg := serveConfig{upstreams: reg, publicURL: public, keysDir: keys,
			store:  storeFlags{databaseURL: dbURL, dataDir: t.TempDir(), keySecretFile: secret, issuer: public},
			logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		w, err := wire(context.Background(), cfg, io.Discard)
		if err != nil {
			t.Fatalf("wire: %v", err)
		}
		srv.Config.Handler = w.handler
		srv.Start()
		t.Cleanup(func() { srv.Close(); w.close() })
		return &authRig{srv: srv, w: w, mcpURL: srv.URL + "/mcp/hosted"}
	}
	a = replica(srvA)
	b = replica(httptest.NewUnstartedServer(nil))
	hash, err := oauth.HashPassword(rigPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.w.st.CreateUser(context.Background(), store.User{Name: rigUser, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	return a, b, dbURL
}

// TestOAuthUpstreamConnectAcrossReplicas: the connect flow's state is in
// the store. A flow started on replica A completes with its callback on
// replica B, and the retried call on A goes through with the new token; the
// used state is refused on either replica; both replicas use the one client
// A registered at the upstream's server (one DCR registration in all); a
// pending authorization that expired is refused; a client the upstream's
// server refuses is forgotten by every replica and registered anew.
func TestOAuthUpstreamConnectAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	hosted := newHostedUpstream(t)
	a, b, dbURL := oauthReplicas(t, hosted)
	// alice's agent on A, whose call needs a connection (A connected and
	// disconnected once to open the session: A registered the client).
	session, u, agentAuth := connectAgentNoUpstream(t, a)
	if n := hosted.registrations.Load(); n != 1 {
		t.Fatalf("%d registrations at the upstream's server after A's first flow, want 1", n)
	}
	before := len(hosted.tokens())

	// The flow starts on A and its callback lands on B.
	browser := userBrowserAt(hosted.base, url.Values{"tool": {"list_expenses"}, "ttl": {"8h"}})
	authz, clientA := connectPage(t, browser, u)
	res, err := browser.authorize(ctx, &auth.AuthorizationArgs{URL: authz.String()})
	if err != nil {
		t.Fatal(err)
	}
	onB := callbackAt(t, authz, b.srv.URL, res)
	resp, body, err := browser.get(onB)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(body, "retry your call") {
		t.Fatalf("callback on B = %v %v %s", resp.StatusCode, err, body)
	}
	c, err := a.w.st.GetConnection(ctx, rigUser, "hosted")
	if err != nil || c.Issuer != hosted.base || c.ClientID != clientA {
		t.Fatalf("connection stored by B = %v, %v (client %s)", c, err, clientA)
	}
	if n := len(hosted.tokens()); n != before {
		t.Fatalf("the upstream got %d calls before the retry", n-before)
	}
	// The retried call on A goes through with the token B obtained.
	if err := callTool(ctx, session, "list_expenses", map[string]any{}); err != nil {
		t.Fatalf("call on A after the callback on B: %v", err)
	}
	if toks := hosted.tokens(); len(toks) != before+1 || toks[len(toks)-1] != c.AccessToken {
		t.Fatalf("the upstream got %d calls after the retry, want 1 with the stored token", len(toks)-before)
	}

	// The used state is refused on either replica, the connection unchanged.
	for _, base := range []string{b.srv.URL, a.srv.URL} {
		if resp, _, _ := browser.get(callbackAt(t, authz, base, res)); resp.StatusCode != http.StatusForbidden {
			t.Errorf("replayed state at %s = %d, want 403", base, resp.StatusCode)
		}
	}
	if c2, err := a.w.st.GetConnection(ctx, rigUser, "hosted"); err != nil || c2.AccessToken != c.AccessToken {
		t.Errorf("a replayed callback changed the connection: %v", err)
	}

	// B, which has never discovered the upstream's server (it only took a
	// callback), refreshes an expiring token with the client A registered.
	c.ExpiresAt = time.Now().Add(10 * time.Second)
	if err := a.w.st.PutConnection(ctx, *c); err != nil {
		t.Fatal(err)
	}
	sessionB, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: b.mcpURL, OAuthHandler: agentAuth}, nil)
	if err != nil {
		t.Fatalf("session on B: %v", err)
	}
	defer sessionB.Close()
	if err := callTool(ctx, sessionB, "list_expenses", map[string]any{}); err != nil {
		t.Fatalf("call on B with a token to refresh: %v", err)
	}
	refreshed, err := a.w.st.GetConnection(ctx, rigUser, "hosted")
	if err != nil || refreshed.AccessToken == c.AccessToken || refreshed.ClientID != clientA || !refreshed.ExpiresAt.After(time.Now().Add(time.Minute)) {
		t.Fatalf("after the refresh on B: %v, %v", refreshed, err)
	}
	if toks := hosted.tokens(); toks[len(toks)-1] != refreshed.AccessToken {
		t.Error("the upstream did not get the token B refreshed")
	}
	c = refreshed

	// A flow started on B uses the client A registered: still one
	// registration. Its pending authorization expires before the callback
	// (on A): refused, nothing stored.
	browser2 := userBrowserAt(hosted.base, url.Values{"tool": {"list_expenses"}, "ttl": {"8h"}}) // logs in afresh
	authz2, clientB := connectPage(t, browser2, strings.Replace(u, a.srv.URL, b.srv.URL, 1))
	if clientB != clientA {
		t.Errorf("B's client at the upstream's server = %s, A's = %s", clientB, clientA)
	}
	if n := hosted.registrations.Load(); n != 1 {
		t.Errorf("%d registrations at the upstream's server, want 1 shared by both replicas", n)
	}
	res2, err := browser2.authorize(ctx, &auth.AuthorizationArgs{URL: authz2.String()})
	if err != nil {
		t.Fatal(err)
	}
	expirePending(t, dbURL)
	resp, body, err = browser2.get(callbackAt(t, authz2, a.srv.URL, res2))
	if err != nil || resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "expired or was already used") {
		t.Errorf("callback of an expired pending authorization = %v %v %s", resp.StatusCode, err, body)
	}
	if c3, err := a.w.st.GetConnection(ctx, rigUser, "hosted"); err != nil || c3.AccessToken != c.AccessToken {
		t.Errorf("an expired pending authorization changed the connection: %v", err)
	}

	// The upstream's server forgets the client: the refresh on A is
	// refused (invalid_client), the registration is dropped from the store,
	// and the next connect (started on B, completed on A) registers anew;
	// the call on A then goes through.
	hosted.forgotten.Store(&clientA)
	c.ExpiresAt = time.Now().Add(10 * time.Second)
	if err := a.w.st.PutConnection(ctx, *c); err != nil {
		t.Fatal(err)
	}
	_, err = session.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}})
	u = connectionURL(t, err, a.srv.URL)
	if n := countRows(t, dbURL, "upstream_client_registrations"); n != 0 {
		t.Fatalf("%d registrations in the store after the server refused the client, want 0", n)
	}
	browser3 := userBrowserAt(hosted.base, url.Values{"tool": {"list_expenses"}, "ttl": {"8h"}})
	authz3, client3 := connectPage(t, browser3, strings.Replace(u, a.srv.URL, b.srv.URL, 1))
	if client3 == clientA || hosted.registrations.Load() != 2 {
		t.Fatalf("after the client was refused: client %s (was %s), %d registrations", client3, clientA, hosted.registrations.Load())
	}
	res3, err := browser3.authorize(ctx, &auth.AuthorizationArgs{URL: authz3.String()})
	if err != nil {
		t.Fatal(err)
	}
	if resp, body, err := browser3.get(callbackAt(t, authz3, a.srv.URL, res3)); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("callback on A = %v %v %s", resp.StatusCode, err, body)
	}
	if err := callTool(ctx, session, "list_expenses", map[string]any{}); err != nil {
		t.Fatalf("call on A with the new client's token: %v", err)
	}
}

// countRows counts the rows of table in the store at dbURL.
func countRows(t *testing.T, dbURL, table string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT COUNT(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// connectPage opens a connect URL in browser and returns the redirect to
// the upstream's authorization server and the client id in it.
func connectPage(t *testing.T, browser *userBrowser, connectURL string) (*url.URL, string) {
	t.Helper()
	resp, body, err := browser.get(connectURL)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("connect page %s = %v %v %s", connectURL, resp.StatusCode, err, body)
	}
	authz, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || authz.Query().Get("client_id") == "" || authz.Query().Get("state") == "" {
		t.Fatalf("redirect to the upstream's server = %s (%v)", authz, err)
	}
	return authz, authz.Query().Get("client_id")
}

// callbackAt is the callback of the authorization authz answered by res,
// delivered to the replica at base instead of the registered redirect URI's.
func callbackAt(t *testing.T, authz *url.URL, base string, res *auth.AuthorizationResult) string {
	t.Helper()
	redirect, err := url.Parse(authz.Query().Get("redirect_uri"))
	if err != nil || redirect.Path != "/connect/callback" {
		t.Fatalf("redirect_uri = %q", authz.Query().Get("redirect_uri"))
	}
	return base + redirect.Path + "?" + url.Values{"code": {res.Code}, "state": {res.State}, "iss": {res.Iss}}.Encode()
}

// expirePending makes every pending authorization in the store expired.
func expirePending(t *testing.T, dbURL string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tag, err := conn.Exec(context.Background(), `UPDATE upstream_connect_pending SET expires_ns = 1`)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("expire the pending authorization: %v rows, %v", tag.RowsAffected(), err)
	}
}

// TestOAuthUpstreamURLElicitationAcrossReplicas: a session on replica A
// whose client takes URL-mode elicitations gets -32042; the user's callback
// lands on replica B; A learns of the connection from the store and sends
// notifications/elicitation/complete with that elicitationId on the
// session's stream; the retried call on A succeeds.
func TestOAuthUpstreamURLElicitationAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	hosted := newHostedUpstream(t)
	a, b, _ := oauthReplicas(t, hosted)
	completed := make(chan string, 4)
	ub := newUserBrowser(t, a.srv.URL, url.Values{"tool": {"list_expenses"}, "ttl": {"8h"}})
	h := agentOAuth(t, "agent", ub.authorize)
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{URL: &mcp.URLElicitationCapabilities{}}},
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept"}, nil
		},
		ElicitationCompleteHandler: func(_ context.Context, req *mcp.ElicitationCompleteNotificationRequest) {
			completed <- req.Params.ElicitationID
		},
	})
	transport := &mcp.StreamableClientTransport{Endpoint: a.mcpURL, OAuthHandler: h}
	_, err := client.Connect(ctx, transport, nil)
	connect(t, connectionURL(t, err, a.srv.URL), hosted) // no session yet: connection_required, connected on A
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: a.mcpURL, OAuthHandler: h}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	if _, err := a.w.st.DeleteConnection(ctx, rigUser, "hosted"); err != nil {
		t.Fatal(err)
	}
	_, err = session.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}})
	var we *jsonrpc.Error
	if !errors.As(err, &we) || we.Code != gateway.CodeURLElicitationRequired {
		t.Fatalf("want a JSON-RPC error %d, got %v", gateway.CodeURLElicitationRequired, err)
	}
	var d struct {
		Elicitations []mcp.ElicitParams `json:"elicitations"`
	}
	if err := json.Unmarshal(we.Data, &d); err != nil || len(d.Elicitations) != 1 {
		t.Fatalf("error data = %s (%v)", we.Data, err)
	}
	el := d.Elicitations[0]

	// The flow starts on A; its callback lands on B.
	browser := userBrowserAt(hosted.base, url.Values{"tool": {"list_expenses"}, "ttl": {"8h"}})
	authz, _ := connectPage(t, browser, el.URL)
	res, err := browser.authorize(ctx, &auth.AuthorizationArgs{URL: authz.String()})
	if err != nil {
		t.Fatal(err)
	}
	resp, body, err := browser.get(callbackAt(t, authz, b.srv.URL, res))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("callback on B = %v %v %s", resp.StatusCode, err, body)
	}
	select {
	case id := <-completed:
		if id != el.ElicitationID {
			t.Fatalf("completed elicitation %q, want %q", id, el.ElicitationID)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no notifications/elicitation/complete on A after the callback on B")
	}
	if err := callTool(ctx, session, "list_expenses", map[string]any{}); err != nil {
		t.Fatalf("call on A after the elicitation completed: %v", err)
	}
}

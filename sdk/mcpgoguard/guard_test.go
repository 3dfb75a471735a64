package mcpgoguard_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/sdk"
	"github.com/openlegant/legant/sdk/mcpgoguard"
)

const audience = "https://api.example/mcp"

// issuer publishes a JWKS and a signed revocation feed, the two documents an
// sdk.Verifier reads, and mints tokens.
type issuer struct {
	*httptest.Server
	key *authority.Key

	mu      sync.Mutex
	version int64
	revoked []revfeed.Entry
}

func newIssuer(t testing.TB) *issuer {
	key, err := authority.GenerateEd25519Key("k1")
	if err != nil {
		t.Fatal(err)
	}
	ks := authority.NewKeySet()
	ks.Add(key, time.Time{})
	is := &issuer{key: key}
	is.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/jwks.json":
			b, _ := ks.JWKS(time.Now())
			w.Write(b)
		case "/.well-known/revoked":
			is.mu.Lock()
			defer is.mu.Unlock()
			tok, _ := revfeed.Sign(key, revfeed.NewFeed(is.URL, is.version, time.Now(), time.Now().Add(time.Minute), is.revoked))
			io.WriteString(w, tok)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(is.Close)
	return is
}

func (is *issuer) token(t testing.TB, mod func(*authority.Claims)) string {
	t.Helper()
	now := time.Now()
	c := &authority.Claims{Issuer: is.URL, Subject: "alice", Audience: []string{audience},
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), ID: fmt.Sprint("tok-", now.UnixNano()), DelegationID: "dlg-1",
		Scopes: []string{"expenses:read", "expenses:write"}, Actor: authority.NewActor("planner", "executor"),
		Constraints: authority.Constraints{
			Tools: authority.AnyOf(), Resources: authority.AnyOf(), Categories: authority.AnyOf(),
			MaxAmount: &authority.Money{Value: authority.MustDecimal("500"), Currency: "USD"},
		}}
	if mod != nil {
		mod(c)
	}
	tok, err := authority.Sign(is.key, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (is *issuer) revoke(kind revfeed.Kind, value string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.version++
	is.revoked = append(is.revoked, revfeed.Entry{Kind: kind, Value: value})
}

var bindings = map[string]*policy.Binding{
	"list_expenses": {Scope: "expenses:read"},
	"submit_expense": {Scope: "expenses:write",
		Amount: &policy.AmountBinding{Value: policy.MustPointer("/amount"), Currency: "USD"}},
	// delete_all is served but not bound: refused and hidden.
}

// mcpServer is an mcp-go server protected by the guard; calls counts the
// tool handler runs.
func mcpServer(g *mcpgoguard.Guard, calls *atomic.Int64) *server.MCPServer {
	s := server.NewMCPServer("expenses", "1.0.0",
		server.WithToolHandlerMiddleware(g.ToolMiddleware), server.WithToolFilter(g.ToolFilter))
	s.AddTool(mcp.NewTool("submit_expense"), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		calls.Add(1)
		c, ok := sdk.ClaimsFrom(ctx)
		if !ok {
			return nil, errors.New("no claims in context")
		}
		res := mcp.NewToolResultText(fmt.Sprintf("%s submitted %v", c.Provenance(), req.GetFloat("amount", -1)))
		res.IsError = req.GetBool("fail", false)
		return res, nil
	})
	for _, name := range []string{"list_expenses", "delete_all"} {
		s.AddTool(mcp.NewTool(name), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			calls.Add(1)
			return mcp.NewToolResultText("ok"), nil
		})
	}
	return s
}

type fixture struct {
	is    *issuer
	v     *sdk.Verifier
	url   string
	calls *atomic.Int64
}

func setup(t *testing.T) *fixture {
	is := newIssuer(t)
	v, err := sdk.NewVerifier(context.Background(), is.URL, audience, &sdk.VerifierOptions{AllowHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	g := mcpgoguard.New(v, bindings, nil)
	calls := new(atomic.Int64)
	srv := httptest.NewServer(g.Handler(server.NewStreamableHTTPServer(mcpServer(g, calls))))
	t.Cleanup(srv.Close)
	return &fixture{is, v, srv.URL, calls}
}

func connect(t *testing.T, url, token string) *client.Client {
	t.Helper()
	c, err := client.NewStreamableHttpClient(url, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = "2025-06-18"
	req.Params.ClientInfo = mcp.Implementation{Name: "agent", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		t.Fatal(err)
	}
	return c
}

func callTool(c *client.Client, name string, args map[string]any) (*mcp.CallToolResult, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	return c.CallTool(context.Background(), req)
}

func TestGuard(t *testing.T) {
	f := setup(t)
	c := connect(t, f.url, f.is.token(t, nil))

	list, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	if want := []string{"list_expenses", "submit_expense"}; !slices.Equal(names, want) {
		t.Errorf("tools/list = %v, want %v (delete_all is not bound)", names, want)
	}

	res, err := callTool(c, "submit_expense", map[string]any{"amount": 300})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(mcp.TextContent).Text; got != "user:alice → agent:planner → agent:executor submitted 300" {
		t.Errorf("result = %q", got)
	}
	tests := []struct {
		name string
		tool string
		args map[string]any
		msg  string
	}{
		{"amount", "submit_expense", map[string]any{"amount": 700}, "denied: amount 700 exceeds max_amount 500"},
		{"amount as a string", "submit_expense", map[string]any{"amount": "300"}, "denied: argument /amount"},
		{"unbound tool", "delete_all", map[string]any{}, "denied: tool delete_all is not registered for this upstream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.calls.Load()
			_, err := callTool(c, tt.tool, tt.args)
			if err == nil || !strings.HasPrefix(err.Error(), tt.msg) {
				t.Fatalf("CallTool = %v, want %q", err, tt.msg)
			}
			if f.calls.Load() != before {
				t.Error("the tool handler ran for a denied call")
			}
		})
	}
}

// TestGuardWireShape checks the JSON-RPC error bytes a client receives
// against policy.Decision.RPCError, the gateway's shape.
func TestGuardWireShape(t *testing.T) {
	f := setup(t)
	tok := f.is.token(t, nil)
	post := func(session, body string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, f.url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", "2025-06-18")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, _ := post("", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`)
	session := resp.Header.Get("Mcp-Session-Id")
	_, body := post(session, `{"jsonrpc":"2.0","id":"call-2","method":"tools/call","params":{"name":"submit_expense","arguments":{"amount":700}}}`)
	e := policy.Decision{Reason: policy.ReasonMaxAmount, Limit: "500", Value: "700",
		Message: "denied: amount 700 exceeds max_amount 500"}.RPCError()
	want, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "call-2", "error": e})
	var got, wantV any
	json.Unmarshal([]byte(body), &got)
	json.Unmarshal(want, &wantV)
	if fmt.Sprint(got) != fmt.Sprint(wantV) {
		t.Fatalf("response %s\nwant %s", body, want)
	}
}

func TestGuardRefusals(t *testing.T) {
	f := setup(t)
	t.Run("no token", func(t *testing.T) {
		resp, err := http.Post(f.url, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata=") {
			t.Fatalf("status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, f.url, strings.NewReader(`[{"method":"tools/call"}]`))
		req.Header.Set("Authorization", "Bearer "+f.is.token(t, nil))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a batch: status %d, want 400", resp.StatusCode)
		}
	})
	t.Run("revoked mid-session", func(t *testing.T) {
		c := connect(t, f.url, f.is.token(t, nil))
		if _, err := callTool(c, "list_expenses", nil); err != nil {
			t.Fatal(err)
		}
		f.is.revoke(revfeed.KindUser, "alice")
		if err := f.v.RefreshFeed(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := callTool(c, "list_expenses", nil); err == nil {
			t.Fatal("a call with a revoked token succeeded")
		}
	})
}

// TestToolMiddlewareAlone: a server reachable without Handler runs no tool.
func TestToolMiddlewareAlone(t *testing.T) {
	f := setup(t)
	g := mcpgoguard.New(f.v, bindings, nil)
	calls := new(atomic.Int64)
	s := mcpServer(g, calls)
	srv := httptest.NewServer(server.NewStreamableHTTPServer(s)) // no g.Handler
	defer srv.Close()
	c := connect(t, srv.URL, "")
	if _, err := callTool(c, "list_expenses", nil); err == nil || calls.Load() != 0 {
		t.Fatalf("CallTool without Handler = %v (tool ran %d times), want a refusal", err, calls.Load())
	}
}

func TestGuardBudget(t *testing.T) {
	f := setup(t)
	c := connect(t, f.url, f.is.token(t, func(c *authority.Claims) {
		c.Constraints.Budget = &authority.Money{Value: authority.MustDecimal("1000"), Currency: "USD"}
	}))
	steps := []struct {
		amount  int
		fail    bool
		allowed bool
	}{
		{400, false, true}, {400, false, true}, {150, true, true}, {300, false, false}, {200, false, true},
	}
	for i, s := range steps {
		_, err := callTool(c, "submit_expense", map[string]any{"amount": s.amount, "fail": s.fail})
		if (err == nil) != s.allowed {
			t.Fatalf("step %d (%d, fail %v): err %v, want allowed %v", i, s.amount, s.fail, err, s.allowed)
		}
	}
}

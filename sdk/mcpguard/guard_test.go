package mcpguard_test

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

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/sdk"
	"github.com/openlegant/legant/sdk/mcpguard"
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

func newIssuer(t *testing.T) *issuer {
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

func (is *issuer) token(t *testing.T, mod func(*authority.Claims)) string {
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

type expense struct {
	Amount float64 `json:"amount"`
	Fail   bool    `json:"fail,omitempty"`
}

// server is a go-sdk MCP server protected by the guard; calls counts the
// tool handler runs.
func server(t *testing.T, v *sdk.Verifier, calls *atomic.Int64) string {
	s := mcp.NewServer(&mcp.Implementation{Name: "expenses", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "submit_expense"}, func(ctx context.Context, _ *mcp.CallToolRequest, in expense) (*mcp.CallToolResult, any, error) {
		calls.Add(1)
		c, ok := sdk.ClaimsFrom(ctx)
		if !ok {
			return nil, nil, errors.New("no claims in context")
		}
		return &mcp.CallToolResult{IsError: in.Fail, Content: []mcp.Content{&mcp.TextContent{
			Text: fmt.Sprintf("%s submitted %v", c.Provenance(), in.Amount)}}}, nil, nil
	})
	for _, name := range []string{"list_expenses", "delete_all"} {
		mcp.AddTool(s, &mcp.Tool{Name: name}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			calls.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
		})
	}
	s.AddReceivingMiddleware(mcpguard.Middleware(v, bindings))
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	srv := httptest.NewServer(mcpguard.RequireBearerToken(v, nil)(h))
	t.Cleanup(srv.Close)
	return srv.URL
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func connect(t *testing.T, url, token string) (*mcp.ClientSession, error) {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	return client.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url,
		HTTPClient: &http.Client{Transport: bearer{token}}, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
}

func setup(t *testing.T) (*issuer, *sdk.Verifier, string, *atomic.Int64) {
	is := newIssuer(t)
	v, err := sdk.NewVerifier(context.Background(), is.URL, audience, &sdk.VerifierOptions{AllowHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	calls := new(atomic.Int64)
	return is, v, server(t, v, calls), calls
}

func TestGuard(t *testing.T) {
	is, _, url, calls := setup(t)
	cs, err := connect(t, url, is.token(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	ctx := context.Background()

	list, err := cs.ListTools(ctx, nil)
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

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense", Arguments: map[string]any{"amount": 300}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "user:alice → agent:planner → agent:executor submitted 300" {
		t.Errorf("result = %q", got)
	}

	tests := []struct {
		name   string
		tool   string
		args   any
		reason string
		msg    string
	}{
		{"amount", "submit_expense", map[string]any{"amount": 700}, "max_amount", "denied: amount 700 exceeds max_amount 500"},
		{"amount as a string", "submit_expense", map[string]any{"amount": "300"}, "invalid_argument", ""},
		{"unbound tool", "delete_all", map[string]any{}, "tool_not_bound", "denied: tool delete_all is not registered for this upstream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := calls.Load()
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tt.tool, Arguments: tt.args})
			var we *jsonrpc.Error
			if !errors.As(err, &we) {
				t.Fatalf("CallTool = %v, want a JSON-RPC error", err)
			}
			var data policy.RPCErrorData
			json.Unmarshal(we.Data, &data)
			if we.Code != policy.CodeDenied || string(data.Reason) != tt.reason {
				t.Fatalf("error %d %q %s, want %d with reason %s", we.Code, we.Message, we.Data, policy.CodeDenied, tt.reason)
			}
			if tt.msg != "" && we.Message != tt.msg {
				t.Errorf("message = %q, want %q", we.Message, tt.msg)
			}
			if calls.Load() != before {
				t.Error("the tool handler ran for a denied call")
			}
		})
	}
}

// TestGuardWireShape checks the JSON-RPC error bytes a client receives
// against policy.Decision.RPCError, the gateway's shape.
func TestGuardWireShape(t *testing.T) {
	is, _, url, _ := setup(t)
	tok := is.token(t, nil)
	post := func(session, body string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
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
	post(session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	_, body := post(session, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"submit_expense","arguments":{"amount":700}}}`)
	want, _ := json.Marshal(policy.Decision{Reason: policy.ReasonMaxAmount, Limit: "500", Value: "700",
		Message: "denied: amount 700 exceeds max_amount 500"}.RPCError())
	if !strings.Contains(body, `"error":`+string(want)) {
		t.Fatalf("response %s\nwant the error %s", body, want)
	}
}

func TestGuardRefusesTokens(t *testing.T) {
	is, v, url, _ := setup(t)
	tests := []struct {
		name  string
		token string
	}{
		{"no token", ""},
		{"wrong audience", is.token(t, func(c *authority.Claims) { c.Audience = []string{"https://other.example"} })},
		{"no actor", is.token(t, func(c *authority.Claims) { c.Actor = nil })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{}`))
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata=") {
				t.Fatalf("status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("revoked mid-session", func(t *testing.T) {
		cs, err := connect(t, url, is.token(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		ctx := context.Background()
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}}); err != nil {
			t.Fatal(err)
		}
		is.revoke(revfeed.KindAgent, "executor")
		if err := v.RefreshFeed(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}}); err == nil {
			t.Fatal("a call with a revoked token succeeded")
		}
	})
}

// TestGuardBudget: a failed tool releases its hold, a successful one spends.
func TestGuardBudget(t *testing.T) {
	is, _, url, _ := setup(t)
	cs, err := connect(t, url, is.token(t, func(c *authority.Claims) {
		c.Constraints.Budget = &authority.Money{Value: authority.MustDecimal("1000"), Currency: "USD"}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	ctx := context.Background()
	steps := []struct {
		amount  int
		fail    bool
		allowed bool
	}{
		{400, false, true}, {400, false, true}, {150, true, true}, {300, false, false}, {200, false, true},
	}
	for i, s := range steps {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense",
			Arguments: map[string]any{"amount": s.amount, "fail": s.fail}})
		if (err == nil) != s.allowed {
			t.Fatalf("step %d (%d, fail %v): err %v, want allowed %v", i, s.amount, s.fail, err, s.allowed)
		}
	}
}

package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/gateway"
)

// TestHoneytool calls a bait tool through the real gateway: it is listed,
// the call is refused as killed with reason honeytool and never reaches the
// upstream, the session is killed (404), the kill is audited under the
// caller, and OnHoneytool gets the caller's claims.
func TestHoneytool(t *testing.T) {
	var upstreamCalls atomic.Int64
	type hooked struct {
		c    *authority.Claims
		tool string
	}
	var mu sync.Mutex
	var hooks []hooked
	r := newRig(t, rigOptions{
		extraYAML: "      export_all_customer_data:\n        scope: expenses:read\n        honeytool: true\n",
		server: func(s *mcp.Server) {
			mcp.AddTool(s, &mcp.Tool{Name: "export_all_customer_data"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
				upstreamCalls.Add(1)
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "all the data"}}}, nil, nil
			})
		},
		gwOpts: func(o *gateway.Options) {
			o.OnHoneytool = func(_ context.Context, c *authority.Claims, tool string) {
				mu.Lock()
				hooks = append(hooks, hooked{c, tool})
				mu.Unlock()
			}
		},
	})
	tok := r.token(tokenOptions{id: "jti-bait", agents: []string{"planner", "researcher"}})
	cs := r.connect(tok, "", nil)
	ctx := context.Background()

	list, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(list.Tools, func(tl *mcp.Tool) bool { return tl.Name == "export_all_customer_data" }) {
		t.Fatalf("the bait must be listed like any tool the token may see")
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}}); err != nil {
		t.Fatalf("an ordinary call before the bait: %v", err)
	}

	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "export_all_customer_data", Arguments: map[string]any{}})
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) {
		t.Fatalf("want the killed JSON-RPC error, got %v", err)
	}
	var data struct{ Reason string }
	json.Unmarshal(werr.Data, &data)
	if werr.Code != gateway.CodeKilled || data.Reason != "honeytool" {
		t.Fatalf("error = %d %q reason %q, want %d reason honeytool", werr.Code, werr.Message, data.Reason, gateway.CodeKilled)
	}

	call := r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindKill && e.Tool == "export_all_customer_data" })
	if call.Reason != "honeytool: export_all_customer_data" || call.User != "alice" || call.TokenID != "jti-bait" ||
		!slices.Equal(call.Agents, []string{"planner", "researcher"}) || call.SessionID != cs.ID() || call.Decision != "deny" {
		t.Fatalf("honeytool audit event = %+v", call)
	}
	// Kill marks the session killed before it records the session's end.
	r.events.waitFor(t, func(e audit.Event) bool {
		return e.Kind == audit.KindKill && e.Tool == "" && e.SessionID == cs.ID() && e.Reason == call.Reason
	})
	// The token is refused at once (held on this replica until the store's
	// revocation takes over), on its session and on any other.
	h := map[string]string{"Mcp-Session-Id": cs.ID(), "Mcp-Protocol-Version": cs.InitializeResult().ProtocolVersion}
	if got := rawPost(t, r.endpoint(), tok, h, `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`); got.status != http.StatusUnauthorized {
		t.Fatalf("a request with the token on the killed session: %d %s, want 401", got.status, got.body)
	}
	if got := rawPost(t, r.endpoint(), tok, nil, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`); got.status != http.StatusUnauthorized {
		t.Fatalf("a new session with the token: %d %s, want 401", got.status, got.body)
	}
	if n := upstreamCalls.Load(); n != 0 {
		t.Fatalf("the upstream ran the bait %d times, want 0", n)
	}
	if n := r.seenMethods.containing("export_all_customer_data"); n != 0 {
		t.Fatalf("%d upstream POSTs named the bait, want 0", n)
	}
	if n := r.seenMethods.count("tools/call"); n != 1 {
		t.Fatalf("the upstream saw %d tools/call, want 1 (list_expenses)", n)
	}

	r.gw.Close() // waits for the hook's task
	mu.Lock()
	defer mu.Unlock()
	if len(hooks) != 1 || hooks[0].tool != "export_all_customer_data" || hooks[0].c.ID != "jti-bait" || hooks[0].c.Subject != "alice" {
		t.Fatalf("OnHoneytool calls = %+v, want one for jti-bait / export_all_customer_data", hooks)
	}
}

package mcpgoguard_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/openlegant/legant/sdk"
	"github.com/openlegant/legant/sdk/mcpgoguard"
)

// FuzzHandler: whatever the body, a message that mcp-go would dispatch as a
// tools/call (decoded with mcp-go's own request type, as its server does)
// reaches the tool only with the guard's decision for that same tool name.
func FuzzHandler(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"submit_expense","arguments":{"amount":300}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"submit_expense","arguments":{"amount":700}}}`,
		`{"jsonrpc":"2.0","id":1,"METHOD":"tools/call","method":"ping","params":{"name":"delete_all"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_expenses","NAME":"delete_all"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"submit_expense","arguments":{"amount":1,"amount":900}}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"tools/call"}]`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
	} {
		f.Add(seed)
	}
	is := newIssuer(f)
	v, err := sdk.NewVerifier(context.Background(), is.URL, audience, &sdk.VerifierOptions{AllowHTTP: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { v.Close() })
	g := mcpgoguard.New(v, bindings, nil)
	token := is.token(f, nil)
	f.Fuzz(func(t *testing.T, body string) {
		var reached bool
		var tool string
		var guarded server.ToolHandlerFunc = func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			tool = req.Params.Name
			return mcp.NewToolResultText("ok"), nil
		}
		guarded = g.ToolMiddleware(guarded)
		next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var base struct {
				Method string `json:"method"`
			}
			var req mcp.CallToolRequest
			raw := []byte(body)
			if json.Unmarshal(raw, &base) != nil || base.Method != "tools/call" || json.Unmarshal(raw, &req) != nil {
				return
			}
			reached = true
			res, err := guarded(r.Context(), req) // what mcp-go's server would run
			if err == nil && res != nil && tool != req.Params.Name {
				t.Errorf("ran tool %q for a call to %q", tool, req.Params.Name)
			}
		})
		r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		g.Handler(next).ServeHTTP(rec, r)
		if reached && tool == "delete_all" {
			t.Errorf("the unbound tool delete_all ran: %s", body)
		}
		if reached && tool == "submit_expense" {
			var req mcp.CallToolRequest
			json.Unmarshal([]byte(body), &req)
			if a, ok := req.GetArguments()["amount"].(float64); !ok || a > 500 {
				t.Errorf("submit_expense ran with amount %v (max_amount 500): %s", req.GetArguments()["amount"], body)
			}
		}
	})
}

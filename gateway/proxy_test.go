package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/gateway"
)

// eras are the protocol revisions every relay test runs in: the last
// session-based one and the stateless one.
var eras = []struct {
	name      string
	version   string
	stateless bool // upstream mode able to serve the era
}{
	{"2025-11-25", "2025-11-25", false},
	{"2025-06-18", "2025-06-18", false},
	{"2025-03-26", "2025-03-26", false},
	{"2026-07-28", "2026-07-28", true},
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

func TestToolsListFiltered(t *testing.T) {
	for _, era := range eras {
		t.Run(era.name, func(t *testing.T) {
			r := newRig(t, rigOptions{stateless: era.stateless})
			only := authority.Unrestricted()
			only.Tools = authority.Only("list_expenses", "submit_expense", "delete_all", "not_registered")
			tok := r.token(tokenOptions{scopes: []string{"expenses:read", "expenses:write"}, c: &only})
			cs := r.connect(tok, era.version, nil)
			got := toolNames(t, cs)
			// delete_all: listed by the token but its scope is missing; count,
			// ask_model, confirm: not in the token's tools; upstream-only tools:
			// never registered.
			want := []string{"list_expenses", "submit_expense"}
			if !slices.Equal(got, want) {
				t.Fatalf("tools = %v, want %v", got, want)
			}
			if v := cs.InitializeResult().ProtocolVersion; v != era.version {
				t.Errorf("negotiated %s, want %s", v, era.version)
			}
		})
	}
}

func TestToolsCallAuthorized(t *testing.T) {
	for _, era := range eras {
		t.Run(era.name, func(t *testing.T) {
			r := newRig(t, rigOptions{stateless: era.stateless})
			c := authority.Unrestricted()
			c.MaxAmount = &authority.Money{Value: authority.MustDecimal("500"), Currency: "USD"}
			c.Categories = authority.Only("travel", "meals")
			tok := r.token(tokenOptions{c: &c})
			cs := r.connect(tok, era.version, nil)
			ctx := context.Background()

			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense",
				Arguments: map[string]any{"amount": 499.99, "category": "Travel"}})
			if err != nil || res.IsError {
				t.Fatalf("allowed call failed: %v %+v", err, res)
			}
			_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense",
				Arguments: map[string]any{"amount": 700, "category": "travel"}})
			assertDenied(t, err, "max_amount")
			_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "delete_all", Arguments: map[string]any{}})
			assertDenied(t, err, "")
			if n := len(r.ledger.Expenses()); n != 1 {
				t.Fatalf("upstream recorded %d expenses, want 1 (denied calls must not reach it)", n)
			}
			r.events.waitFor(t, func(e audit.Event) bool {
				return e.Kind == audit.KindDeny && e.Tool == "submit_expense" && e.Reason == "max_amount" && e.User == "alice"
			})
			r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindAllow && e.Tool == "submit_expense" })
		})
	}
}

func assertDenied(t *testing.T, err error, reason string) {
	t.Helper()
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) {
		t.Fatalf("want a JSON-RPC error, got %v", err)
	}
	if werr.Code != gateway.CodeDenied {
		t.Fatalf("code = %d, want %d (%s)", werr.Code, gateway.CodeDenied, werr.Message)
	}
	var data struct{ Reason string }
	json.Unmarshal(werr.Data, &data)
	if reason != "" && data.Reason != reason {
		t.Fatalf("reason = %q, want %q (%s)", data.Reason, reason, werr.Message)
	}
	if !strings.HasPrefix(werr.Message, "denied") {
		t.Errorf("message %q does not start with denied", werr.Message)
	}
}

func TestDownstreamTokenNeverTheCallers(t *testing.T) {
	r := newRig(t, rigOptions{})
	tok := r.token(tokenOptions{})
	cs := r.connect(tok, "2025-11-25", nil)
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	seen := r.seenAuth.all()
	if len(seen) == 0 {
		t.Fatal("upstream saw no requests")
	}
	downKeys := authority.NewKeySet()
	downKeys.Add(r.gwKey, time.Time{})
	for _, h := range seen {
		got := strings.TrimPrefix(h, "Bearer ")
		if got == tok {
			t.Fatal("the caller's token reached the upstream")
		}
		c, err := authority.Verify(got, downKeys, authority.VerifyOptions{Issuer: r.server.URL,
			Audience: "https://expenses.internal", RequireActor: true}, time.Now())
		if err != nil {
			t.Fatalf("downstream token does not verify for the upstream's audience: %v", err)
		}
		if c.Subject != "alice" || c.Chain().String() != "agent:planner → agent:legant-gateway" {
			t.Fatalf("downstream provenance = %s", c.Provenance())
		}
	}
}

// TestToolsListPaginatedJSON: a 200-tool upstream answering in JSON, 30 tools
// a page; the token may call 20 of them, spread over the pages.
func TestToolsListPaginatedJSON(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "big", Version: "1"}, &mcp.ServerOptions{PageSize: 30})
	var reg strings.Builder
	var allowed []string
	for i := range 200 {
		name := fmt.Sprintf("t%03d", i)
		srv.AddTool(&mcp.Tool{Name: name, InputSchema: &jsonschema.Schema{Type: "object"}},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{}, nil
			})
		fmt.Fprintf(&reg, "      %s:\n        scope: big\n", name)
		if i%10 == 3 {
			allowed = append(allowed, name)
		}
	}
	r := newRig(t, rigOptions{upstream: srv, registry: reg.String(), jsonResponse: true})
	c := authority.Unrestricted()
	c.Tools = authority.Only(allowed...)
	cs := r.connect(r.token(tokenOptions{scopes: []string{"big"}, c: &c}), "2025-11-25", nil)
	var got []string
	pages := 0
	var cursor string
	for {
		res, err := cs.ListTools(context.Background(), &mcp.ListToolsParams{Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tool := range res.Tools {
			got = append(got, tool.Name)
		}
		if cursor = res.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(got, allowed) || pages != 7 {
		t.Fatalf("got %d tools over %d pages, want %v over 7", len(got), pages, allowed)
	}
}

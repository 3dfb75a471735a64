package mcpguard_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/sdk"
	"github.com/openlegant/legant/sdk/mcpguard"
)

func ExampleMiddleware() {
	// An issuer publishing its JWKS (its revocation feed is left out here).
	key, _ := authority.GenerateEd25519Key("k1")
	ks := authority.NewKeySet()
	ks.Add(key, time.Time{})
	iss := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		b, _ := ks.JWKS(time.Now())
		w.Write(b)
	}))
	defer iss.Close()

	ctx := context.Background()
	v, err := sdk.NewVerifier(ctx, iss.URL, "https://api.example/mcp", &sdk.VerifierOptions{AllowHTTP: true})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	// The MCP server: one tool, bound like a gateway registry entry.
	type expense struct {
		Amount float64 `json:"amount"`
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "expenses", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "submit_expense"}, func(ctx context.Context, _ *mcp.CallToolRequest, in expense) (*mcp.CallToolResult, any, error) {
		claims, _ := sdk.ClaimsFrom(ctx)
		text := fmt.Sprintf("%v submitted for %s", in.Amount, claims.Provenance())
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
	})
	server.AddReceivingMiddleware(mcpguard.Middleware(v, map[string]*policy.Binding{
		"submit_expense": {Scope: "expenses:write",
			Amount: &policy.AmountBinding{Value: policy.MustPointer("/amount"), Currency: "USD"}},
	}))
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	srv := httptest.NewServer(mcpguard.RequireBearerToken(v, nil)(handler))
	defer srv.Close()

	// An agent with alice's delegation: submit_expense up to 500 USD.
	now := time.Now()
	token, _ := authority.Sign(key, &authority.Claims{Issuer: iss.URL, Subject: "alice",
		Audience: []string{"https://api.example/mcp"}, IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		ID: "tok-1", Scopes: []string{"expenses:write"}, Actor: authority.NewActor("planner"),
		Constraints: authority.Constraints{Tools: authority.Only("submit_expense"), Resources: authority.AnyOf(),
			Categories: authority.AnyOf(), MaxAmount: &authority.Money{Value: authority.MustDecimal("500"), Currency: "USD"}}})
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL,
		HTTPClient: &http.Client{Transport: bearer{token}}, DisableStandaloneSSE: true}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cs.Close()

	for _, amount := range []int{300, 700} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense", Arguments: map[string]any{"amount": amount}})
		var denied *jsonrpc.Error
		if errors.As(err, &denied) {
			fmt.Println(denied.Code, denied.Message, string(denied.Data))
			continue
		}
		fmt.Println(res.Content[0].(*mcp.TextContent).Text)
	}
	// Output:
	// 300 submitted for user:alice → agent:planner
	// -32030 denied: amount 700 exceeds max_amount 500 {"reason":"max_amount","limit":"500","value":"700"}
}

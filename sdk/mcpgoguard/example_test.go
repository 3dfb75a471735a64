package mcpgoguard_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/sdk"
	"github.com/openlegant/legant/sdk/mcpgoguard"
)

func ExampleNew() {
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

	// The mcp-go server: one tool, bound like a gateway registry entry.
	g := mcpgoguard.New(v, map[string]*policy.Binding{
		"submit_expense": {Scope: "expenses:write",
			Amount: &policy.AmountBinding{Value: policy.MustPointer("/amount"), Currency: "USD"}},
	}, nil)
	s := server.NewMCPServer("expenses", "1.0.0",
		server.WithToolHandlerMiddleware(g.ToolMiddleware), server.WithToolFilter(g.ToolFilter))
	s.AddTool(mcp.NewTool("submit_expense"), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		claims, _ := sdk.ClaimsFrom(ctx)
		return mcp.NewToolResultText(fmt.Sprintf("%v submitted for %s", req.GetFloat("amount", 0), claims.Provenance())), nil
	})
	srv := httptest.NewServer(g.Handler(server.NewStreamableHTTPServer(s)))
	defer srv.Close()

	// An agent with alice's delegation: submit_expense up to 500 USD.
	now := time.Now()
	token, _ := authority.Sign(key, &authority.Claims{Issuer: iss.URL, Subject: "alice",
		Audience: []string{"https://api.example/mcp"}, IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		ID: "tok-1", Scopes: []string{"expenses:write"}, Actor: authority.NewActor("planner"),
		Constraints: authority.Constraints{Tools: authority.Only("submit_expense"), Resources: authority.AnyOf(),
			Categories: authority.AnyOf(), MaxAmount: &authority.Money{Value: authority.MustDecimal("500"), Currency: "USD"}}})
	c, err := client.NewStreamableHttpClient(srv.URL, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-06-18"
	init.Params.ClientInfo = mcp.Implementation{Name: "agent", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		log.Fatal(err)
	}

	for _, amount := range []int{300, 700} {
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = "submit_expense", map[string]any{"amount": amount}
		res, err := c.CallTool(ctx, req)
		if err != nil {
			fmt.Println(err) // the JSON-RPC error -32030 with data.reason "max_amount"
			continue
		}
		fmt.Println(res.Content[0].(mcp.TextContent).Text)
	}
	// Output:
	// 300 submitted for user:alice → agent:planner
	// denied: amount 700 exceeds max_amount 500
}

//go:build snippet

// Command mcpserver is an MCP server (mcp-go) that enforces Legant
// delegation tokens itself, offline: every tools/call is decided with the
// gateway's policy before the tool runs.
// (Starter printed by `legant snippet mcp-go`; docs/SDK.md explains it.)
//
//	go get github.com/openlegant/legant/sdk github.com/mark3labs/mcp-go
//	LEGANT_ISSUER=https://legant.example RESOURCE=https://api.example/mcp go run .
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/sdk"
	"github.com/openlegant/legant/sdk/mcpgoguard"
)

func main() {
	ctx := context.Background()
	v, err := sdk.NewVerifier(ctx, os.Getenv("LEGANT_ISSUER"), os.Getenv("RESOURCE"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	// Each tool's binding says which scope it needs and which arguments
	// policy checks against the token's constraints (as in legant.yaml).
	guard := mcpgoguard.New(v, map[string]*policy.Binding{
		"submit_expense": {
			Scope:    "expenses:write",
			Amount:   &policy.AmountBinding{Value: policy.MustPointer("/amount"), Currency: "USD"},
			Category: policy.MustPointer("/category"),
		},
	}, nil)
	s := server.NewMCPServer("expenses", "1.0.0",
		server.WithToolHandlerMiddleware(guard.ToolMiddleware), server.WithToolFilter(guard.ToolFilter))
	s.AddTool(mcp.NewTool("submit_expense", mcp.WithDescription("Submit an expense"),
		mcp.WithNumber("amount", mcp.Required(), mcp.Description("amount in USD")),
		mcp.WithString("category", mcp.Required())), submitExpense)

	srv := &http.Server{Addr: "127.0.0.1:8083", Handler: guard.Handler(server.NewStreamableHTTPServer(s)),
		ReadHeaderTimeout: 10 * time.Second}
	log.Printf("MCP server on http://%s/mcp", srv.Addr)
	log.Fatal(srv.ListenAndServe())
}

func submitExpense(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	claims, _ := sdk.ClaimsFrom(ctx)
	amount, category := req.GetFloat("amount", 0), req.GetString("category", "")
	log.Printf("%s submits %v USD (%s)", claims.Provenance(), amount, category)
	return mcp.NewToolResultText(fmt.Sprintf("expense of %v USD accepted for %s", amount, claims.Subject)), nil
}

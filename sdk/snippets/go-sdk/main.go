//go:build snippet

// Command mcpserver is an MCP server (official Go SDK) that enforces Legant
// delegation tokens itself, offline: every tools/call is decided with the
// gateway's policy before the tool runs.
// (Starter printed by `legant snippet go-sdk`; docs/SDK.md explains it.)
//
//	go get github.com/openlegant/legant/sdk github.com/modelcontextprotocol/go-sdk
//	LEGANT_ISSUER=https://legant.example RESOURCE=https://api.example/mcp go run .
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/sdk"
	"github.com/openlegant/legant/sdk/mcpguard"
)

type expense struct {
	Amount   float64 `json:"amount" jsonschema:"amount in USD"`
	Category string  `json:"category" jsonschema:"expense category"`
}

func main() {
	ctx := context.Background()
	v, err := sdk.NewVerifier(ctx, os.Getenv("LEGANT_ISSUER"), os.Getenv("RESOURCE"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	server := mcp.NewServer(&mcp.Implementation{Name: "expenses", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "submit_expense", Description: "Submit an expense"}, submitExpense)
	// Each tool's binding says which scope it needs and which arguments
	// policy checks against the token's constraints (as in legant.yaml).
	server.AddReceivingMiddleware(mcpguard.Middleware(v, map[string]*policy.Binding{
		"submit_expense": {
			Scope:    "expenses:write",
			Amount:   &policy.AmountBinding{Value: policy.MustPointer("/amount"), Currency: "USD"},
			Category: policy.MustPointer("/category"),
		},
	}))
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)

	srv := &http.Server{Addr: "127.0.0.1:8082", Handler: mcpguard.RequireBearerToken(v, nil)(handler),
		ReadHeaderTimeout: 10 * time.Second}
	log.Printf("MCP server on http://%s", srv.Addr)
	log.Fatal(srv.ListenAndServe())
}

func submitExpense(ctx context.Context, _ *mcp.CallToolRequest, in expense) (*mcp.CallToolResult, any, error) {
	claims, _ := sdk.ClaimsFrom(ctx)
	log.Printf("%s submits %v USD (%s)", claims.Provenance(), in.Amount, in.Category)
	text := fmt.Sprintf("expense of %v USD accepted for %s", in.Amount, claims.Subject)
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
}

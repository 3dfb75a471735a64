package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/sdk"
	"github.com/openlegant/legant/sdk/mcpguard"
)

// The resources this example serves: the audiences tokens are minted for.
const (
	apiAudience = "https://api.example/expenses"
	mcpAudience = "https://api.example/mcp"
)

// appConfig says where the issuer's documents are. In this offline example
// they are files (written by the jwks and feed commands); with a running
// Legant issuer, drop JWKSFile and FeedFile and the SDK fetches
// <issuer>/.well-known/jwks.json and <issuer>/.well-known/revoked itself.
type appConfig struct {
	issuer       string
	jwksFile     string
	feedFile     string
	feedInterval time.Duration
	onFeed       func(sdk.FeedStatus) // nil: none
}

// app is the protected service: a net/http API at /expenses and a go-sdk MCP
// server at /mcp, each with its own Verifier (one audience each).
type app struct {
	api, mcp *sdk.Verifier
	handler  http.Handler
}

func newApp(ctx context.Context, cfg appConfig) (*app, error) {
	opts := func() *sdk.VerifierOptions {
		return &sdk.VerifierOptions{JWKSFile: cfg.jwksFile, FeedFile: cfg.feedFile,
			FeedInterval: cfg.feedInterval, OnFeed: cfg.onFeed}
	}
	apiV, err := sdk.NewVerifier(ctx, cfg.issuer, apiAudience, opts())
	if err != nil {
		return nil, err
	}
	mcpV, err := sdk.NewVerifier(ctx, cfg.issuer, mcpAudience, opts())
	if err != nil {
		apiV.Close()
		return nil, err
	}
	a := &app{api: apiV, mcp: mcpV}
	mux := http.NewServeMux()
	mux.Handle("POST /expenses", a.expensesAPI())
	mux.Handle("/mcp", a.mcpServer())
	a.handler = mux
	return a, nil
}

func (a *app) Close() {
	a.api.Close()
	a.mcp.Close()
}

// expensesAPI: POST /expenses?amount=N submits an expense in USD. The
// middleware verifies the token and authorizes the amount before the
// handler runs.
func (a *app) expensesAPI() http.Handler {
	return a.api.Middleware(&sdk.MiddlewareOptions{
		Scope: "expenses:write",
		Action: func(r *http.Request) (sdk.Action, error) {
			return sdk.Action{Tool: "submit_expense", Amount: r.FormValue("amount"), Currency: "USD"}, nil
		},
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := sdk.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "expense of %s USD accepted for %s\n", r.FormValue("amount"), claims.Provenance())
	}))
}

type expense struct {
	Amount float64 `json:"amount" jsonschema:"amount in USD"`
}

// mcpServer: the same operation as an MCP tool, guarded per tools/call.
func (a *app) mcpServer() http.Handler {
	server := mcp.NewServer(&mcp.Implementation{Name: "expenses", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "submit_expense", Description: "Submit an expense in USD"},
		func(ctx context.Context, _ *mcp.CallToolRequest, in expense) (*mcp.CallToolResult, any, error) {
			claims, _ := sdk.ClaimsFrom(ctx)
			text := fmt.Sprintf("expense of %v USD accepted for %s", in.Amount, claims.Provenance())
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
		})
	server.AddReceivingMiddleware(mcpguard.Middleware(a.mcp, map[string]*policy.Binding{
		"submit_expense": {Scope: "expenses:write",
			Amount: &policy.AmountBinding{Value: policy.MustPointer("/amount"), Currency: "USD"}},
	}))
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	return mcpguard.RequireBearerToken(a.mcp, nil)(h)
}

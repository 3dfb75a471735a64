// Package mcpgoguard protects an MCP server built with mcp-go
// (github.com/mark3labs/mcp-go) and served over streamable HTTP with Legant
// delegation tokens, verified offline by an sdk.Verifier.
//
// mcp-go gives tool middleware no way to choose a JSON-RPC error code, so
// the decision is made in front of it, at the HTTP layer, where the guard
// answers a refused tools/call with the gateway's JSON-RPC error
// (policy.Decision.RPCError: code -32030, data.reason…) before mcp-go parses
// the request. A Guard has three parts, used together:
//   - Handler wraps the mcp-go StreamableHTTPServer: it verifies the bearer
//     token (sdk.Verifier.Middleware: 401 with RFC 6750 challenges), reads
//     each POSTed tools/call exactly as mcp-go will (encoding/json into the
//     JSON-RPC envelope; the arguments raw, checked strictly by policy), and
//     decides it with sdk.Verifier.AuthorizeCall against the tool's
//     policy.Binding;
//   - ToolMiddleware (server.WithToolHandlerMiddleware) refuses any call that
//     did not pass Handler (fail closed) and settles the budget hold when the
//     tool succeeds;
//   - ToolFilter (server.WithToolFilter) lists only the tools the token may
//     call.
//
// Tools run with the claims in their context (sdk.ClaimsFrom). Only the
// streamable HTTP transport carries a token; a stdio server has no caller to
// authorize and ToolMiddleware refuses every call there.
//
// Example:
//
//	g := mcpgoguard.New(v, map[string]*policy.Binding{
//		"submit_expense": {Scope: "expenses:write",
//			Amount: &policy.AmountBinding{Value: policy.MustPointer("/amount"), Currency: "USD"}},
//	}, nil)
//	s := server.NewMCPServer("expenses", "1.0.0",
//		server.WithToolHandlerMiddleware(g.ToolMiddleware), server.WithToolFilter(g.ToolFilter))
//	s.AddTool(mcp.NewTool("submit_expense"), submitExpense)
//	http.Handle("/mcp", g.Handler(server.NewStreamableHTTPServer(s)))
package mcpgoguard

// Package mcpguard protects an MCP server built with the official Go SDK
// (github.com/modelcontextprotocol/go-sdk) with Legant delegation tokens,
// verified offline by an sdk.Verifier.
//
// Two pieces, used together:
//   - RequireBearerToken is the HTTP middleware in front of
//     mcp.NewStreamableHTTPHandler: RFC 6750 challenges as the gateway sends
//     them (401 invalid_token, resource_metadata), and the go-sdk TokenInfo
//     the transport needs (its UserID binds each session to the user and
//     agent chain, like the gateway's sessions);
//   - Middleware is the receiving mcp.Middleware: every tools/call is
//     decided with the gateway's policy (sdk.Verifier.AuthorizeCall, the
//     tool's policy.Binding, the raw arguments the handler will parse) before
//     the handler runs; a denial is the gateway's JSON-RPC error
//     (policy.Decision.RPCError: code -32030, data.reason…). Allowed calls
//     run with the claims in their context (sdk.ClaimsFrom), and budgets are
//     settled when the tool succeeds. tools/list shows only the tools the
//     token may call.
//
// It does not own verification (sdk) or decisions (policy). It is a separate
// package so that package sdk does not depend on the go-sdk.
//
// Example:
//
//	server := mcp.NewServer(&mcp.Implementation{Name: "expenses"}, nil)
//	mcp.AddTool(server, &mcp.Tool{Name: "submit_expense"}, submitExpense)
//	server.AddReceivingMiddleware(mcpguard.Middleware(v, map[string]*policy.Binding{
//		"submit_expense": {Scope: "expenses:write",
//			Amount: &policy.AmountBinding{Value: policy.MustPointer("/amount"), Currency: "USD"}},
//	}))
//	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
//	http.Handle("/mcp", mcpguard.RequireBearerToken(v, nil)(handler))
package mcpguard

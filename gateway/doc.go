// Package gateway is Legant's MCP authorization proxy. It serves every upstream
// of the registry at /mcp/<slug> over the Streamable HTTP transport and is
// transparent for everything the caller's delegation token allows: initialize
// and server/discover, ping, logging, notifications both ways,
// server-to-client requests (sampling, elicitation, roots) and their answers,
// SSE streams and their resumption. Every client message is classified and
// decided (decide.go): a method without an id is a notification only if it is
// a notifications/* method, unknown methods are refused unless the registry
// lists them, and tools, resources, prompts, completions and tasks are each
// decided by their policy function (decide.go, decide_objects.go,
// decide_tasks.go). Nothing the token does not allow reaches the upstream or
// the client:
//
//   - every request carries a bearer token verified with package authority
//     (signature, issuer, audience = the upstream's inbound audience, expiry,
//     actor chain, revocation) or is refused with 401 and a WWW-Authenticate
//     header pointing at RFC 9728 metadata;
//   - the JSON-RPC envelope is decoded strictly (duplicate names, invalid
//     UTF-8, wrong member types are refused) and relayed byte for byte;
//   - tools, resources, resource templates, prompts and tasks lists are
//     filtered to what the token may use and marked cacheScope "private"
//     (visibility.go); a list the gateway cannot parse is an error, never the
//     unfiltered catalog; resource updates and task statuses the token may
//     not see are dropped;
//   - tools/call is decided by package policy before it is forwarded; a call
//     of a four-eyes tool (policy.Binding.Approval) is then also held back
//     until a second, distinct human approves that exact call in the
//     approvals inbox at ApprovalsPath (approval.go, approval_inbox.go);
//   - the upstream sees a short-lived downstream token for its own audience,
//     with the gateway appended to the act chain, never the caller's token.
//     Downstream tokens are cached per (caller token, upstream): one is minted
//     for the first request and reused while more than half its lifetime
//     remains, not minted per call.
//
// Sessions (protocol revisions up to 2025-11-25) are the gateway's own: it mints
// an unguessable Mcp-Session-Id bound to the token's principal (user and agent
// chain) and never shows the upstream's. Revision 2026-07-28 is stateless:
// each request is authorized on its own and its Mcp-Method and Mcp-Name
// headers must match the body.
//
// # The path of one tools/call
//
// A call reads top to bottom through one file per step; no step calls back
// into an earlier one:
//
//	gateway.go   ServeHTTP: Host check (origin.go), route to serveMCP
//	receive.go   serveMCP: Origin, bearer token (auth.go), method;
//	             servePost: body, envelope (envelope.go), revision, session (session.go)
//	decide.go    classify and decide each message; tools/call through policy.Authorize;
//	             decide_objects.go resources, prompts, completions; decide_tasks.go tasks
//	forward.go   forward: one upstream request, downstream token (mint.go), in-flight set (kill.go)
//	relay.go     relay back: JSON or SSE event by event, lists filtered and
//	             notifications dropped (visibility.go), budget holds settled,
//	             refusals answered
//	record.go    every decision as an audit.Event on the audit queue, to the Recorder
//
// GET and DELETE (stream.go) and Kill (kill.go) join the same path at
// forward.go; ServeHTTP also routes the RFC 9728 metadata (metadata.go).
// The leaves a step calls (envelope.go and members.go: one scan of each
// message, whose recorded members every later step reads; auth.go, mint.go, session.go,
// sessionstore.go, bridges.go, rpcerror.go, visibility.go, the in-flight set
// of kill.go) never call into a step but the last, record.go.
//
// Every goroutine the gateway starts is owned: the janitor (sessionstore.go),
// the audit queue (record.go) and the work a Kill leaves behind (kill.go) are
// all waited for by Close.
//
// What it does not own: token issuance and storage (issuer), the decision rules
// (policy), the registry format (upstreams). It declares the small interfaces
// it needs (Revocations, Recorder) and cmd/legant plugs the store in.
//
// Example:
//
//	gw, err := gateway.New(gateway.Options{
//		Registry: func() *upstreams.Registry { return reg },
//		Issuer:   "https://issuer.example",
//		Keys:     issuerKeys,
//		Signer:   gatewayKey,
//		PublicURL: "https://gw.example",
//	})
//	http.ListenAndServe(":8080", gw)
package gateway

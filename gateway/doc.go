// Package gateway is Legant's MCP authorization proxy. It serves every upstream
// of the registry at /mcp/<slug> over the Streamable HTTP transport and is
// transparent for everything the caller's delegation token allows: initialize
// and server/discover, ping, resources, prompts, completion, logging,
// notifications both ways, server-to-client requests (sampling, elicitation,
// roots) and their answers, SSE streams and their resumption. Nothing the token
// does not allow reaches the upstream or the client:
//
//   - every request carries a bearer token verified with package authority
//     (signature, issuer, audience = the upstream's inbound audience, expiry,
//     actor chain, revocation) or is refused with 401 and a WWW-Authenticate
//     header pointing at RFC 9728 metadata;
//   - the JSON-RPC envelope is decoded strictly (duplicate names, invalid
//     UTF-8, wrong member types are refused) and relayed byte for byte;
//   - tools/list results are filtered to the tools the token may call; a list
//     the gateway cannot parse is an error, never the unfiltered catalog;
//   - tools/call is decided by package policy before it is forwarded;
//   - the upstream sees a fresh short-lived token minted for its own audience,
//     with the gateway appended to the act chain, never the caller's token.
//
// Sessions (protocol revisions up to 2025-11-25) are the gateway's own: it mints
// an unguessable Mcp-Session-Id bound to the token's principal (user and agent
// chain) and never shows the upstream's. Revision 2026-07-28 is stateless:
// each request is authorized on its own and its Mcp-Method and Mcp-Name
// headers must match the body.
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

// Package oauth is Legant's co-resident OAuth 2.1 authorization server: what
// an MCP client finds when the gateway answers 401 and it follows the MCP
// authorization spec (RFC 9728 → RFC 8414 → registration → authorization
// code with PKCE and resource → token).
//
// What it issues are delegation tokens (package authority): the user who
// logs in and approves is the token's sub, the client is the agent in its
// act chain, and the limits the user sets on the consent page (tools,
// maximum amount, budget, categories, time window, call count, lifetime)
// are signed into authorization_details. Each approval is a store.Grant —
// a delegation in the store's tree — and every token minted from it carries
// exactly its constraints; revoking the delegation (from the account page,
// by RFC 7009 revocation of a refresh token, or by replay detection) goes
// through store.Revoke and so reaches the gateway's revocation set and its
// kill path at once.
//
// Endpoints (Paths lists what to mount):
//
//	GET  /.well-known/oauth-authorization-server   RFC 8414 metadata (also /.well-known/openid-configuration)
//	POST /oauth2/register      RFC 7591 dynamic registration (open, or with an initial access token)
//	GET  /oauth2/authorize     authorization code + PKCE S256 + RFC 8707 resource; login, consent page
//	POST /oauth2/authorize     the consent form
//	POST /oauth2/token         authorization_code, refresh_token (rotation, reuse revokes the family),
//	                           RFC 8693 token exchange (attenuation for a sub-agent)
//	POST /oauth2/revoke        RFC 7009
//	POST /oauth2/introspect    RFC 7662, confidential clients
//	GET  /login, POST /logout  local accounts (argon2id), session cookie, CSRF tokens
//	GET  /account/delegations  the user's delegations and sub-agent chains, with revoke
//
// A client_id that is an https URL is a Client ID Metadata Document: its
// metadata is fetched through a client that dials only public addresses (the
// check runs on the resolved IP at connect time), follows no redirect, reads
// at most 64 KiB within 5 s, and caches the result.
//
// Every error a client sees is an *Error rendered as RFC 6749 JSON (or as
// redirect parameters from the authorization endpoint); internal errors are
// logged and answered "server_error" without detail.
//
// What it does not own: token format, signing and attenuation (authority),
// storage (issuer/store), the keys (issuer/keydir; the process passes the
// key set), serving the JWKS (cmd/legant), and enforcing the constraints on
// each call (the gateway and policy).
//
// Example:
//
//	srv, err := oauth.New(oauth.Options{
//		Issuer:   "https://gw.example",
//		Store:    st,
//		Keys:     keys,             // its Signer signs
//		Registry: watcher.Current,  // resources and their tools
//	})
//	if err != nil { … }
//	for _, p := range oauth.Paths {
//		mux.Handle(p, srv)
//	}
//
// docs/AUTHORIZATION.md describes the flows and client configuration.
package oauth

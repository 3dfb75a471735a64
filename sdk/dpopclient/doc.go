// Package dpopclient is the client side of DPoP (RFC 9449) for Go agents: an
// http.RoundTripper that signs a fresh proof for every request it sends —
// to the token endpoint (no access token: the issued tokens are bound to
// the key) and to resources (the DPoP scheme, the proof's ath the hash of
// the token). It learns server nonces from DPoP-Nonce headers and retries a
// request once when a server answers use_dpop_nonce.
//
// What it does not own: obtaining and refreshing tokens (Token is called
// per request; plug an oauth2.TokenSource or your own cache), and the key
// itself — keep it in memory or in a key store that never exports it.
//
// Example (an MCP client of the official go-sdk through the gateway):
//
//	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
//	t := &dpopclient.Transport{Key: key, Token: dpopclient.StaticToken(accessToken)}
//	session, err := mcp.NewClient(impl, nil).Connect(ctx, &mcp.StreamableClientTransport{
//		Endpoint: "https://gw.example/mcp/expenses", HTTPClient: &http.Client{Transport: t}}, nil)
package dpopclient

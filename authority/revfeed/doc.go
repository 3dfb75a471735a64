// Package revfeed is the signed revocation feed Legant's issuer publishes at
// /.well-known/revoked and that resource servers (the SDK) poll: its wire
// format, signing and verification, and Set, the in-memory matcher that says
// whether a token's claims are revoked.
//
// It is deliberately light: the standard library and package authority only,
// so the SDK can import it without pulling a database driver. A test enforces
// that.
//
// A feed is a compact JWS (header typ "legant-revocations+jwt") over:
//
//	{"iss":"https://issuer.example","iat":1700000000,"exp":1700000300,
//	 "version":42,
//	 "jti":["tok-1"],"delegations":["d-7","d-8"],"agents":["agent:rogue"],"users":["mallory"]}
//
// version increases with every revocation; a verifier remembers the highest
// version it accepted and refuses a lower one (a replayed, older feed).
//
// Example:
//
//	feed, err := revfeed.Verify(token, jwks, time.Now(), last)
//	if err != nil { /* keep the previous set; retry */ }
//	last = feed.Version
//	set.Replace(feed.Entries())
//	if why, revoked := set.Revoked(claims); revoked { /* 401 */ }
package revfeed

// Package dpop implements the proof side of RFC 9449 (OAuth 2.0
// Demonstrating Proof of Possession): creating proofs, verifying them, and
// the RFC 7638 thumbprint (jkt) that binds an access token to a key through
// its cnf claim. The issuer, the gateway and the SDK share it; like the token
// model beside it, it is pure (no I/O, time is a parameter) and imports the
// standard library and the JWT library only.
//
// What it does not own: deciding whether a resource requires DPoP, the
// replay cache's storage (Verify reports the proof's jti and expiry; the
// caller records them in a ReplayCache, for replicas a shared one), and
// nonces' issuance (Verify checks the nonce the caller expects).
//
// Example (a resource server):
//
//	p, err := dpop.Verify(r.Header.Get("DPoP"), dpop.VerifyOptions{
//		Method: r.Method, URL: publicURL + r.URL.Path,
//		AccessToken: token, JKT: claims.Confirmation,
//	}, time.Now())
//	if err == nil {
//		fresh, err = cache.Remember(ctx, p.ID, p.IssuedAt.Add(dpop.DefaultMaxAge))
//	}
package dpop

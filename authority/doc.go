// Package authority is Legant's delegation model: the claims of a delegation
// token, the agent chain it carries, the constraints signed into it, monotonic
// attenuation, and signing and verification against a key set.
//
// It is pure: no network, no database, no clock. Time is always a parameter
// (Verify takes "now", Window.Contains takes the instant to check); the only
// data it reads is the time zone database, through time.LoadLocation, cached.
// It imports only the standard library, github.com/golang-jwt/jwt/v5 and, for
// NormalizeCategory alone, golang.org/x/text (Unicode NFC and case folding
// tables cannot be hand-written); deps_test.go enforces that.
//
// A delegation token is an RFC 9068 JWT access token (header typ "at+jwt"):
//
//	sub   the user the agents act for
//	act   RFC 8693 §4.1 actor chain, most recent actor outermost
//	aud   RFC 8707 resource(s), canonical form (CanonicalResource)
//	authorization_details  RFC 9396, exactly one entry of type
//	      "legant_delegation" carrying the Constraints
//
// The files follow the concepts: decimal.go (exact amounts), set.go
// (allow-lists whose unrestricted and deny-all states are explicit),
// resource.go, window.go (weekly windows in one IANA zone, DST-correct),
// constraints.go (Constraints, Action, Allows), claims.go, chain.go,
// keys.go and jwks.go (Key, KeySet with rotation, RFC 7517/8037 JWKS),
// sign.go, verify.go, attenuate.go and narrow.go (Attenuate), errors.go.
//
// Rules worth knowing:
//   - Fail closed: the zero Set, the zero Constraints and a token without
//     authorization_details deny every tool; unknown keys in the
//     legant_delegation entry, or entries of another type, are errors.
//   - Attenuate never widens: sets intersect, limits take the minimum,
//     windows intersect in one zone (a child window in another zone is
//     refused, not converted), a child amount in another currency is
//     refused. AttenuateOptions.Strict refuses looser requests instead of
//     clamping them.
//   - Verify checks the algorithm allow-list (EdDSA, RS256; never none or
//     HS*), typ, kid, signature, exp/nbf/iat with leeway, iss, aud, act.
//     Inspect does the same without requiring iss and aud, for tools that
//     display tokens; never authorize with it.
//   - Allows checks the stateless constraints; Budget and MaxCalls need
//     state and are policy's.
//
// What this package does not own: where keys are stored (issuer/keydir,
// issuer), which tool maps to which argument (upstreams), and the decision
// for one concrete call with state such as budgets (policy).
//
// Example:
//
//	ks := authority.NewKeySet()
//	key, _ := authority.GenerateEd25519Key("k1")
//	ks.Add(key, time.Time{})
//	tok, _ := authority.Sign(key, claims)
//	got, err := authority.Verify(tok, ks, authority.VerifyOptions{
//		Issuer: "https://issuer.example", Audience: "https://gw.example/mcp/expenses",
//		RequireActor: true,
//	}, time.Now())
//	if err == nil {
//		err = got.Constraints.Allows(authority.Action{Tool: "submit_expense",
//			Amount: &authority.Money{Value: authority.MustDecimal("700"), Currency: "USD"}, At: time.Now()})
//		// err: amount 700 exceeds max_amount 500
//	}
//
// The API contract agreed with the other packages is CONTRACT.md beside
// this file; conformance vectors for other implementations are in
// testdata/vectors.json (format in testdata/README.md).
package authority

// Package authority is Legant's delegation model: the claims of a delegation
// token, the agent chain it carries, the constraints signed into it, monotonic
// attenuation, and signing and verification against a key set.
//
// It is pure: no network, no database, no clock. Time is always a parameter
// (Verify takes "now", Window.Contains takes the instant to check). It imports
// only the standard library, github.com/golang-jwt/jwt/v5 and, for
// NormalizeCategory alone, golang.org/x/text (Unicode NFC and case folding
// tables cannot be hand-written); deps_test.go enforces that.
//
// A delegation token is an RFC 9068 JWT access token (header typ "at+jwt"):
//
//	sub   the user the agents act for
//	act   RFC 8693 §4.1 actor chain, most recent actor outermost
//	aud   RFC 8707 resource(s), canonical form
//	authorization_details  RFC 9396, exactly one entry of type
//	      "legant_delegation" carrying the Constraints
//
// What this package does not own: where keys are stored (issuer), which
// tool maps to which argument (upstreams), and the decision for one concrete
// call with state such as budgets (policy).
//
// Example:
//
//	ks := authority.NewKeySet()
//	key, _ := authority.GenerateEd25519Key("k1")
//	ks.Add(key, time.Time{})
//	tok, _ := authority.Sign(key, claims)
//	got, err := authority.Verify(tok, ks, authority.VerifyOptions{
//		Issuer: "https://issuer.example", Audience: "https://gw.example/mcp/expenses",
//	}, time.Now())
//
// The binding API contract (agreed with the other packages) is in CONTRACT.md
// beside this file: implement every exported name in it exactly.
package authority

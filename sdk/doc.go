// Package sdk is what a resource server imports to enforce Legant delegation
// tokens itself, without the gateway and without calling the issuer per
// request: only the issuer's JWKS and its signed revocation feed, fetched and
// cached in the background.
//
// It owns: the Verifier (JWKS discovery and caching, refresh on an unknown
// kid at most once per MinRefreshInterval, the revocation feed polled and
// verified with rollback protection, fail-open or fail-closed staleness),
// Authorize and Reserve for one operation, and net/http middleware. The guards
// for MCP servers live in sub-packages so that this one stays light:
// sdk/mcpguard (github.com/modelcontextprotocol/go-sdk) and sdk/mcpgoguard
// (github.com/mark3labs/mcp-go).
//
// It does not re-implement anything: verification is authority.Verify with
// RequireActor (as in the gateway), decisions are policy.Decide and
// policy.Authorize, the feed is authority/revfeed (its verification and its
// revoked-set matching by jti, delegation, agent and user). It imports
// neither database drivers nor cobra nor the gateway; deps_test.go enforces
// that.
//
// Files: verifier.go (Verifier, options, Verify), jwks.go (key cache and
// discovery), feed.go (revocation feed), fetch.go (size-limited, https-only
// fetching), authorize.go (Action, Authorize, Reserve, AuthorizeCall),
// middleware.go and metadata.go (net/http), context.go (ClaimsFrom).
//
// Authorize builds, from an Action, the policy.Binding that binds exactly the
// dimensions the Action carries and the tools/call policy.SampleCall writes
// for it, and runs policy.Decide: the outcome is, by construction, the one the
// gateway reaches for a tool bound the same way (the authority conformance
// vectors run through it in the tests).
//
// Example:
//
//	v, err := sdk.NewVerifier(ctx, "https://issuer.example", "https://api.example/expenses", nil)
//	if err != nil { … }
//	defer v.Close()
//	mux.Handle("/expenses", v.Middleware(&sdk.MiddlewareOptions{Scope: "expenses:write"})(
//		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//			claims, _ := sdk.ClaimsFrom(r.Context())
//			d := sdk.Authorize(claims, sdk.Action{Tool: "submit_expense",
//				Amount: r.FormValue("amount"), Currency: "USD"})
//			if !d.Allow {
//				sdk.WriteDenial(w, d, "") // 403: denied: amount 700 exceeds max_amount 500
//				return
//			}
//			log.Printf("%s submits an expense", claims.Provenance()) // user:alice → agent:planner
//		})))
package sdk

// Package demo is the harness the narrated demos under examples/ share: it
// starts, in the calling process and on loopback ports only, what `legant
// gateway` wires together — the real gateway, the real store (SQLite in a
// temporary directory) acting as the issuer (its signing keys, JWKS and
// signed revocation feed), and real go-sdk MCP upstreams that verify the
// downstream tokens the gateway mints — plus real go-sdk MCP clients for the
// agents, and a narrator that prints each step and checks each decision.
//
// It owns no policy: every decision a demo shows is the gateway's (or the
// SDK's), and the harness only reports it. Time is a Clock the gateway, the
// store and the upstreams share, so a demo can move to 17:01 or past a
// token's expiry without sleeping.
//
//	env, err := demo.Start(ctx, demo.Options{Upstreams: []demo.UpstreamSpec{{
//		Slug: "crm", Tools: []demo.Tool{{Name: "read_contacts", Binding: "scope: crm:read"}},
//	}}})
//	defer env.Close()
//	token, _ := env.Mint(&authority.Claims{Subject: "alice", Actor: authority.NewActor("assistant"), …})
//	out, _ := env.Attempt(ctx, "crm", token, "assistant", "read_contacts", nil)
//
// Nothing here is for production: a Env serves one demo run.
package demo

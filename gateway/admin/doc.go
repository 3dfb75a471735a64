// Package admin is Legant's admin API: what a security team uses to see every
// live agent session and to stop one now — the call that is running is cut,
// its streams close, and nothing more reaches the upstream.
//
// It is JSON over HTTP on a listener of its own (`legant gateway
// --admin-listen`, 127.0.0.1:8081 by default), never the gateway's port, and
// every request presents the admin token as a bearer token: a random secret
// kept in <data-dir>/admin-token (mode 0600, generated on first start by
// EnsureToken), compared in constant time.
//
//	GET  /v1/sessions?user=&agent=&upstream=&state=&jti=&limit=   every replica's sessions (SessionList)
//	GET  /v1/sessions/{id}                                         one Session
//	POST /v1/kill   {"session"|"jti"|"delegation"|"agent"|"user": "…", "reason": "…", "actor": "…"}
//
// Sessions come from the store, so with PostgreSQL one replica lists them
// all. A kill (Server.Kill) marks the sessions killed and revokes in the
// store — which every replica learns through LISTEN/NOTIFY and answers by
// killing what the revocation covers — then kills on this replica at once
// through the gateway, then records a kill event in the audit log.
// docs/KILL.md defines the kill precisely.
//
// It is also where the issuer's store is plugged into the gateway
// (storewire.go): Sessions implements gateway.SessionStore over issuer/store,
// and SelectorFor turns a store revocation into the kill of what it covers.
// This package is the operator plane over both, so it is the one package
// under gateway/ that imports the issuer; package gateway itself never does
// (a dependency test enforces both facts).
//
// What it does not own: the kill mechanics of a replica (gateway.Kill), the
// storage and propagation of revocations (issuer/store), the wiring of the
// revocation subscription to the gateway (cmd/legant).
//
// Example:
//
//	tok, _, err := admin.EnsureToken(filepath.Join(dataDir, admin.TokenFile))
//	srv, err := admin.New(admin.Options{Store: st, Gateway: gw, Token: tok})
//	go http.Serve(adminListener, srv)
//
//	c := &admin.Client{BaseURL: admin.DefaultURL, Token: tok}
//	res, err := c.Kill(ctx, admin.KillRequest{Agent: "planner", Reason: "prompt injection", Actor: "alice@sec"})
package admin

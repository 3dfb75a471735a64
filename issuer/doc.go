// Package issuer is the root of Legant's authorization server, which runs in
// the same process as the gateway or alone. It holds no code of its own: its
// packages are
//
//   - issuer/keydir: signing keys in a directory (init, rotate, load);
//   - issuer/store: the store (embedded SQLite or PostgreSQL): signing keys
//     at rest, revocations and the signed feed, delegations, budgets,
//     sessions, the hash-chained audit log, OAuth state;
//   - issuer/oauth: the OAuth 2.1 server (metadata, DCR and client metadata
//     documents, PKCE, consent, RFC 8693 token exchange, revocation).
//
// The formats the issuer shares with the gateway and the SDK live beside the
// token model: authority/revfeed (the signed revocation feed) and
// authority/audit (the audit event and its chain).
//
// What it does not own: the proxy (gateway), which it never imports; cmd/legant
// and gateway/admin plug the store into the gateway through the interfaces the
// gateway declares. A test enforces the direction.
package issuer

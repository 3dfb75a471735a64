// Package store is the issuer's storage: signing keys (encrypted at rest),
// delegations, revocations and the in-memory RevocationSet the gateway
// consults per request, the signed revocation feed, the budget ledger
// (policy.Ledger), gateway sessions and the hash-chained audit log.
//
// Two backends share every code path and one test suite: an embedded,
// pure-Go SQLite file (modernc.org/sqlite, no cgo) under the data directory by
// default, and PostgreSQL (pgx) for production, chosen by Options.DatabaseURL.
// Schemas are versioned, embedded migrations (a schema_migrations table);
// Open applies them unless told not to.
//
// Backend differences are confined to the dialect: PostgreSQL row locks
// (SELECT … FOR UPDATE) where SQLite takes its write lock at BEGIN IMMEDIATE;
// NUMERIC amounts where SQLite keeps canonical decimal text (arithmetic is
// always exact, in Go, with authority.Decimal); LISTEN/NOTIFY where SQLite
// notifies in-process and polls for other processes' revocations.
//
// What it does not own: token minting and OAuth flows (the issuer), the
// decision for a call (policy), the chain format and verification rules
// (authority/audit), the feed wire format (authority/revfeed).
//
// Example:
//
//	st, err := store.Open(ctx, store.Options{
//		DataDir:             ".legant",             // or DatabaseURL: "postgres://…"
//		KeyEncryptionSecret: secret,
//		Issuer:              "https://legant.example",
//	})
//	if err != nil { … }
//	defer st.Close()
//	revoked := st.Revocations()                       // for the gateway, per request
//	err = st.Audit().Append(ctx, audit.Event{Kind: audit.KindAllow, …})
//	hold, err := st.Reserve(ctx, policy.Reservation{…}) // policy.Ledger
//
// A Store is safe for concurrent use, and several Stores (processes,
// replicas) may share one PostgreSQL database.
package store

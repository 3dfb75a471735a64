// Package policy is Legant's decision point: given the verified claims of a
// delegation token, the registry's binding for a tool, and one concrete call,
// it decides allow or deny with a machine-readable reason.
//
// Deny by default. Pure: no I/O, no clock (the call carries its instant). State
// that spans calls (budgets, call counts) sits behind the small Ledger
// interface, implemented by the store.
//
// What it does not own: token verification (authority), where bindings come
// from (upstreams), and how a decision is sent to a client (gateway).
package policy

// Package policy is Legant's decision point: given the verified claims of a
// delegation token, the registry's binding for a tool, and one concrete call,
// it decides allow or deny with a machine-readable reason.
//
// Deny by default. Decide is pure: no I/O, no clock (the call carries its
// instant). It checks, in a fixed order, the binding, the scope, the tools
// allow-list, the arguments (strict JSON; bound arguments read exactly as the
// upstream will parse them, never coerced), max_amount and currency, category,
// resource and time window. State that spans calls (budgets, call counts) sits
// behind the small Ledger interface: Authorize runs Decide and then reserves
// on the ledger, and the gateway settles or releases the Hold when the
// upstream answers. MemoryLedger is the in-process Ledger; the store provides
// the shared ones, and policy/ledgertest is the suite they all pass.
//
// A Decision carries its Reason (a stable wire enum), the constraint, limit and
// value at fault, and the normalized values checked (for the audit log);
// Decision.RPCError gives the JSON-RPC error a client receives.
//
// What it does not own: token verification (authority), where bindings come
// from (upstreams), and how a decision reaches a client or the audit log
// (gateway). docs/POLICY.md describes the rules for operators.
//
// Example:
//
//	d, hold := policy.Authorize(ctx, claims, binding, policy.Call{
//		Tool:      "submit_expense",
//		Arguments: params.Arguments, // raw, as the upstream will parse it
//		At:        now,
//	}, ledger)
//	if !d.Allow {
//		return d.RPCError() // {"code":-32030,"message":"denied: amount 700 exceeds max_amount 500",...}
//	}
//	defer hold.Release(ctx) // no-op once settled
//	res, err := forward(ctx)
//	if err == nil {
//		hold.Settle(ctx)
//	}
package policy

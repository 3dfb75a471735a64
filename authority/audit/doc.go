// Package audit defines Legant's tamper-evident audit chain: the Event every
// decision produces, the canonical encoding its hash is computed over, the
// streaming Verifier that walks a chain in sequence order, and signed Anchors
// (checkpoints) that pin a chain's head so that a truncated tail is caught.
//
// The package is pure: no storage, no goroutines, no clock. Where events live,
// how they are batched and written, and how they are pruned is the store's job
// (package issuer/store); this package only says what a correct chain is.
//
// Each event's Hash is SHA-256 over a length-prefixed encoding of its fields in
// a fixed order, ending with the previous event's hash:
//
//	hash(e) = SHA-256( field("legant-audit-v1") || field(seq) || field(time) ||
//	                   field(kind) || field(user) || field(agents) || field(client) ||
//	                   field(upstream) || field(method) || field(tool) || field(decision) ||
//	                   field(reason) || field(constraint) || field(limit) || field(value) ||
//	                   field(token_id) || field(session_id) || field(args_hash) ||
//	                   field(prev_hash) )
//	field(b)      = uint32 big-endian len(b) || b
//	seq           = decimal; time = RFC 3339, UTC, nanoseconds, no trailing zeros
//	field(agents) = field( uint32 count || field(agent1) || field(agent2) ... )
//
// so no value can be confused with a separator, and the hash never depends on
// how a database renders text, numbers or times.
//
// Example:
//
//	v := audit.NewVerifier(audit.Checkpoint{}) // start at the genesis
//	for _, ev := range events {                 // in seq order
//		if err := v.Next(&ev); err != nil {
//			return err // *audit.ChainError naming the first bad seq
//		}
//	}
//	err := v.CheckAnchor(anchor) // catches a truncated tail
package audit

package gateway

// Decide, for opaque state the gateway hands a client: an MRTR requestState
// (2026-07-28 multi-round-trip requests) is bound to the principal (user and
// agent chain) it was relayed to. A request echoing a requestState that was
// relayed to another principal is refused before it is forwarded. A state
// the gateway never relayed (issued before a restart, or by another replica)
// is forwarded: the upstream, which issued it, checks its integrity.

import (
	"github.com/openlegant/legant/policy"
)

// rememberRequestState records the requestState of a result as the
// principal's.
func (g *Gateway) rememberRequestState(ex *exchange, result members) {
	if s, ok := result.stringOf("requestState"); ok && s != "" {
		g.states.add(ex.up.Slug, s, ex.claims.Principal())
	}
}

// checkRequestState refuses a request whose params echo a requestState the
// gateway relayed to another principal; nil when it may go on.
func (g *Gateway) checkRequestState(ex *exchange, m *message) []byte {
	if m.kind != kindRequest {
		return nil
	}
	v, ambiguous := m.paramsMembers.lookup("requestState")
	if ambiguous {
		d := policy.Deny(policy.ReasonInvalidArgument, "params have a member that differs from \"requestState\" only by case")
		return g.refuse(ex, m, d, "")
	}
	s, ok := stringValue(v)
	if !ok {
		return nil
	}
	owner, known := g.states.ownerOf(ex.up.Slug, s)
	if !known || owner == ex.claims.Principal() {
		return nil
	}
	d := policy.Deny(policy.ReasonRequestState, "requestState was issued to another principal")
	return g.refuse(ex, m, d, "")
}

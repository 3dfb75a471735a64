package main

import (
	"testing"

	"github.com/openlegant/legant/examples/internal/demotest"
)

// TestDemo runs the demo and holds every decision it narrates to this list:
// a change in the gateway or the SDK that alters one fails here.
func TestDemo(t *testing.T) {
	demotest.Decisions(t, run, []string{
		"owner reads contacts: allow",
		"replayed on another upstream: 401 the token's audience is not this resource",
		"tools the thief sees: read_contacts",
		"tool not granted: deny tool_not_allowed",
		"replayed after business hours: deny window",
		"replayed once expired: 401 the token has expired",
		"fresh stolen token, in hours: allow",
		"replayed after revocation: 401 the token has been revoked (token tok-0311-assistant revoked: token leaked)",
		"gateway: owner with its key: allow",
		"gateway: bound token as bearer: 401 the token is bound to a key (DPoP): present it with the DPoP scheme and a proof",
		"gateway: bound token, thief's key: 401 the DPoP proof is not signed by the key the token is bound to",
		"owner with its key: 200 ok",
		"bound token as bearer: 401 invalid_token: the token is bound to a key (DPoP): present it with the DPoP scheme and a proof",
		"bound token, thief's key: 401 invalid_dpop_proof: the DPoP proof is not signed by the key the token is bound to",
		"bound token, replayed proof: 401 invalid_dpop_proof: the DPoP proof was used before",
		"calls the crm upstream ran: 3",
		"calls the billing upstream ran: 0",
	})
}

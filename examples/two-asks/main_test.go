package main

import (
	"testing"

	"github.com/openlegant/legant/examples/internal/demotest"
)

// TestDemo runs the demo and holds every decision it narrates to this list:
// each call decided and audited under the person who asked.
func TestDemo(t *testing.T) {
	demotest.Decisions(t, run, []string{
		"alice reads her plan: allow",
		"alice reads her plan, audited under: alice",
		"bob reads his notes: allow",
		"bob reads his notes, audited under: bob",
		"bob names alice's file: deny resource",
		"bob names alice's file, audited under: bob",
		"bob climbs into alice's home: deny resource",
		"bob climbs into alice's home, audited under: bob",
		"bob's token on alice's session: 404 session not found",
		"bob's token on alice's session, audited as: bob session_of_other_principal",
		"what the upstream ran: /home/alice/plan.md for user:alice → agent:helpdesk → agent:legant-gateway; /home/bob/notes.md for user:bob → agent:helpdesk → agent:legant-gateway",
		"audit of alice: allow",
		"audit of bob: allow, deny, deny",
	})
}

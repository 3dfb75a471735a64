package main

import (
	"testing"

	"github.com/openlegant/legant/examples/internal/demotest"
)

// TestDemo runs the demo and holds every decision it narrates to this list:
// the transfer refused pending approval and never forwarded, alice's own
// approval refused, bob asked by elicitation and approving, the approved
// call forwarded once under both names, its replay refused again.
func TestDemo(t *testing.T) {
	demotest.Decisions(t, run, []string{
		"check the balance: allow",
		"check the balance, audited as: allow alice",
		"the transfer: deny approval_required",
		"the transfer, audited as: approval_requested alice",
		"alice approves her own call: deny self_approval",
		"alice's attempt, audited as: approval_refused self_approval by alice",
		"bob is asked about: user:alice → agent:treasurer asks to call wire_transfer on bank",
		"bob's answer, audited as: approval_granted bob for alice",
		"the approved transfer: allow",
		"the approved transfer, audited as: allow alice, approved by bob",
		"the replay: deny approval_required",
		"the replay, audited as: approval_requested alice",
		"what the bank ran: get_balance, wire_transfer",
	})
}

package main

import (
	"testing"

	"github.com/openlegant/legant/examples/internal/demotest"
)

// TestDemo runs the demo and holds every decision it narrates to this list:
// one agent across three members of a virtual server, each injected call
// refused by its own rule and never run by a member, the log replayed in
// call order from a verified chain, and a record rewritten in the SQLite
// file caught at its own sequence number.
func TestDemo(t *testing.T) {
	demotest.Decisions(t, run, []string{
		"tools the agent sees: docs__read_document, mail__send_email, pay__pay_invoice",
		"read the invoice: allow",
		"pay the invoice: allow",
		"injected: pay 9800 USD: deny max_amount",
		"injected: read /hr/salaries.csv: deny resource",
		"injected: email audit@evil.example: deny resource",
		"injected: delete the invoice: deny tool_not_allowed",
		"tell the team: allow",
		"what the members ran: docs:read_document, mail:send_email, pay:pay_invoice",
		"members given a token for their own audience: docs, mail, pay",
		"the chain before tampering: intact",
		"calls in the log: 7",
		"the log, in order: docs read_document allow allowed; pay pay_invoice allow allowed; pay pay_invoice deny max_amount; " +
			"docs read_document deny resource; mail send_email deny resource; docs delete_document deny tool_not_allowed; mail send_email allow allowed",
		"the record rewritten: #3",
		"the chain after tampering: broken at #3",
	})
}

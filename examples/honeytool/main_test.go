package main

import (
	"testing"

	"github.com/openlegant/legant/examples/internal/demotest"
)

// TestDemo runs the demo and holds every decision it narrates to this list:
// the bait listed, its call refused and never forwarded, the session killed
// and the token revoked, all audited under alice and agent:support.
func TestDemo(t *testing.T) {
	demotest.Decisions(t, run, []string{
		"tools the agent sees: export_all_customer_data, lookup_customer",
		"lookup customer 42: allow",
		"lookup customer 42, audited as: allow alice allowed",
		"the injected call: deny honeytool",
		"the injected call, audited as: kill alice honeytool: export_all_customer_data",
		"the session: kill honeytool: export_all_customer_data",
		"the token: revoke honeytool",
		"the old session, afterwards: 401 the token has been revoked (token tok-support-1 revoked: honeytool)",
		"a fresh session, same token: 401 the token has been revoked (token tok-support-1 revoked: honeytool)",
		"what the upstream ran: lookup_customer",
	})
}

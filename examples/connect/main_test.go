package main

import (
	"testing"

	"github.com/openlegant/legant/examples/internal/demotest"
)

// TestDemo runs the demo and holds every decision it narrates to this list:
// the first call answered connection_required with the gateway's connect
// link and nothing sent to the tracker; the link leads to the tracker's own
// server (PKCE, resource, scope), the callback stores the connection; the
// retried call reaches the tracker with its own token for its own account,
// never the Legant token; after a disconnect the next call asks again and
// reaches nothing.
func TestDemo(t *testing.T) {
	demotest.Decisions(t, run, []string{
		"first call: connection_required",
		"the link: the gateway's /connect/tracker with a ticket",
		"requests the tracker accepted: 0",
		"the connect page sends alice to: 302 oauth2/authorize",
		"the request names: the tracker's MCP endpoint tracker:read offline_access S256",
		"the callback: 200 true",
		"the stored connection's issuer: the tracker's server",
		"the retried call: allow",
		"audited as: allow alice upstream_credential=oauth",
		"the tracker's view: the tracker's server asmith",
		"requests carrying the Legant token: 0",
		"the call after the disconnect: connection_required",
		"its link: the gateway's /connect/tracker with a ticket",
		"audited as: deny alice connection_required",
		"requests the tracker accepted since: 0",
	})
}

package gateway_test

import (
	"context"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestH2CUpstreamSharesConnections: an upstream marked h2c is reached over
// HTTP/2 cleartext (it refuses HTTP/1.1 here), and the sessions' streams —
// each go-sdk session holds a GET stream open — share its connections
// instead of taking one each.
func TestH2CUpstreamSharesConnections(t *testing.T) {
	for _, h2c := range []bool{false, true} {
		r := newRig(t, rigOptions{h2c: h2c})
		tok := r.token(tokenOptions{})
		const sessions = 12
		for i := range sessions {
			cs := r.connect(tok, "2025-06-18", nil)
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}})
			if err != nil || res.IsError {
				t.Fatalf("h2c=%v session %d: %v %+v", h2c, i, err, res)
			}
		}
		conns := r.upstreamConns.Load()
		t.Logf("h2c=%v: %d sessions with a GET stream each, %d upstream connections", h2c, sessions, conns)
		switch {
		case h2c && conns > 2:
			t.Errorf("h2c: %d upstream connections for %d sessions, want them shared", conns, sessions)
		case !h2c && conns < sessions:
			t.Errorf("HTTP/1.1: %d upstream connections for %d sessions holding GET streams; the comparison is void", conns, sessions)
		}
	}
}

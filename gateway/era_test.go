package gateway_test

import (
	"net/http"
	"testing"

	"github.com/openlegant/legant/authority/audit"
)

// TestRemovedMethodsAnsweredAsTheRevision: in revision 2026-07-28 a method
// the revision removed, and a method nobody implements, are answered by the
// gateway exactly as the go-sdk upstream answers them directly (HTTP 404,
// JSON-RPC -32601), and nothing of them reaches the upstream through the
// gateway. In 2025-11-25 a removed method is not refused as such.
func TestRemovedMethodsAnsweredAsTheRevision(t *testing.T) {
	r := newRig(t, rigOptions{stateless: true})
	tok := r.token(tokenOptions{scopes: []string{"expenses:read"}})
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	for _, m := range []string{"resources/subscribe", "resources/unsubscribe", "ping", "logging/setLevel", "initialize", "tasks/result", "tasks/list", "unknown/method"} {
		h := map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": m}
		body := `{"jsonrpc":"2.0","id":7,"method":"` + m + `","params":{"uri":"test://x","taskId":"t",` + meta + `}}`
		direct := rawPost(t, r.upstream.URL, "", h, body)
		dcode, _, _ := rpcErr(t, direct.body)
		before := r.seenMethods.count(m)
		got := rawPost(t, r.endpoint(), tok, h, body)
		code, _, reason := rpcErr(t, got.body)
		if got.status != direct.status || code != dcode || got.status != http.StatusNotFound || code != -32601 {
			t.Errorf("%s: gateway HTTP %d %d (%s), direct HTTP %d %d", m, got.status, code, reason, direct.status, dcode)
		}
		if n := r.seenMethods.count(m); n != before {
			t.Errorf("%s reached the upstream through the gateway", m)
		}
	}
	r.events.waitFor(t, func(e audit.Event) bool {
		return e.Method == "resources/subscribe" && e.Reason == "method_removed" && e.Decision == "deny"
	})
}

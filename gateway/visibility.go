package gateway

// Tool visibility: the one rule deciding which tools a token may see in a
// tools/list (relay.go). It is a leaf: it calls nothing of the request path.

import (
	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

// toolVisible reports whether the token may see (and so call) a tool: the
// registry binds it, the token holds its scope and the token's tool list
// allows it (policy.Visible, the rule the SDK guards apply too). Arguments
// are checked only at call time.
func toolVisible(up *upstreams.Upstream, c *authority.Claims, name string) bool {
	b, _ := up.Tool(name)
	return policy.Visible(c, b)
}

package gateway

import (
	"fmt"
	"net/http"

	"github.com/openlegant/legant/upstreams"
)

// upstreamClient returns the HTTP client and endpoint URL that reach up over
// Streamable HTTP. Upstreams of other transports (stdio, legacy SSE) are
// served through a bridge that speaks Streamable HTTP on their behalf.
func (g *Gateway) upstreamClient(up *upstreams.Upstream) (*http.Client, string, error) {
	switch up.Transport {
	case upstreams.TransportStreamableHTTP:
		return g.client, up.URL, nil
	default:
		return nil, "", fmt.Errorf("transport %q is not bridged yet", up.Transport)
	}
}

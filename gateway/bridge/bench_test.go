package bridge_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/gateway/bridge"
)

// benchEcho measures one tools/call round trip through h: POST, the
// server's work, and the event stream back.
func benchEcho(b *testing.B, h http.Handler) {
	c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: "http://bridge.invalid/", HTTPClient: &http.Client{Transport: bridge.Transport(h)}, MaxRetries: -1}
	cs, err := c.Connect(context.Background(), tr, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cs.Close()
	params := &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hello"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cs.CallTool(context.Background(), params); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStdioEcho(b *testing.B) {
	h := bridge.NewStdio([]string{stdioServer}, nil, bridge.Options{Logger: new(logBuffer).logger()})
	defer h.Close()
	benchEcho(b, h)
}

func BenchmarkLegacySSEEcho(b *testing.B) {
	up := newLegacyUpstream(b)
	h := bridge.NewLegacySSE(up.URL, up.Client(), bridge.Options{Logger: new(logBuffer).logger()})
	defer h.Close()
	benchEcho(b, h)
}

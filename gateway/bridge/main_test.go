package bridge_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/gateway/bridge"
)

// stdioServer is the path of testdata/stdioserver, built once by TestMain.
var stdioServer string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bridge-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stdioServer = filepath.Join(dir, "stdioserver")
	build := exec.Command("go", "build", "-o", stdioServer, "./testdata/stdioserver")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building testdata/stdioserver:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// versions are the session-based revisions the bridge emulates, newest and oldest.
var versions = []string{"2025-11-25", "2025-03-26"}

// logBuffer is a slog destination tests can search. Safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// headerTransport adds headers to every request, as an agent host adds its token.
type headerTransport struct {
	header http.Header
	base   http.RoundTripper
}

func (t headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range t.header {
		req.Header[k] = v
	}
	return t.base.RoundTrip(req)
}

// connect opens a go-sdk client session to h through bridge.Transport.
func connect(t *testing.T, h http.Handler, version string, opts *mcp.ClientOptions, header http.Header) *mcp.ClientSession {
	t.Helper()
	var rt http.RoundTripper = bridge.Transport(h)
	if header != nil {
		rt = headerTransport{header: header, base: rt}
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "bridge-test", Version: "1"}, opts)
	tr := &mcp.StreamableClientTransport{Endpoint: "http://bridge.invalid/mcp", HTTPClient: &http.Client{Transport: rt}, MaxRetries: -1}
	cs, err := c.Connect(context.Background(), tr, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect (%s): %v", version, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func callText(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) string {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError || len(res.Content) != 1 {
		t.Fatalf("%s: unexpected result %+v", name, res)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

package virtual

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/upstreams"
)

// testMember is a go-sdk member counting the DELETEs of its sessions.
func testMember(t *testing.T, deletes *atomic.Int32) *httptest.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "m", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			deletes.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func initialize(t *testing.T, h *Handler) string {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	id := rec.Header().Get("Mcp-Session-Id")
	if rec.Code != http.StatusOK || id == "" {
		t.Fatalf("initialize: %d %q", rec.Code, rec.Body.String())
	}
	return id
}

// TestIdleSessionsEnd: a session nothing used for twice the entry's idle
// timeout (the gateway forgot it without a DELETE) ends when another
// opens, and its member session is deleted; a used one stays.
func TestIdleSessionsEnd(t *testing.T) {
	var deletes atomic.Int32
	member := testMember(t, &deletes)
	reg, err := upstreams.Parse("r.yaml", []byte(`version: 1
upstreams:
  - slug: v
    timeouts: {idle: 1s}
    members:
      - {name: a, url: "`+member.URL+`"}
    tools: {a__echo: {scope: s}}
`), upstreams.Options{PublicURL: "http://gw.example"})
	if err != nil {
		t.Fatal(err)
	}
	up := reg.Upstreams()[0]
	up.Timeouts.Idle = 5 * time.Millisecond // below what the registry takes
	h := New(up, Options{Dial: func(m *upstreams.Upstream) (*http.Client, string, error) { return member.Client(), m.URL, nil }})
	defer h.Close()

	old := initialize(t, h)
	time.Sleep(50 * time.Millisecond) // > 2 × idle
	fresh := initialize(t, h)
	if h.HasSession(old) {
		t.Error("the idle session was kept")
	}
	if !h.HasSession(fresh) {
		t.Error("the new session is gone")
	}
	deadline := time.Now().Add(5 * time.Second)
	for deletes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if deletes.Load() != 1 {
		t.Errorf("member got %d DELETEs, want 1 (the idle session's)", deletes.Load())
	}
}

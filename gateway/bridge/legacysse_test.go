package bridge_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/gateway/bridge"
	"github.com/openlegant/legant/gateway/bridge/internal/testserver"
)

// requestLog records what an upstream received. Safe for concurrent use.
type requestLog struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (l *requestLog) add(r *http.Request) {
	l.mu.Lock()
	l.reqs = append(l.reqs, r.Clone(context.Background()))
	l.mu.Unlock()
}

func (l *requestLog) all() []*http.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*http.Request(nil), l.reqs...)
}

// legacyUpstream is a go-sdk server behind the 2024-11-05 HTTP+SSE
// transport. getDone receives once per SSE stream that ended.
type legacyUpstream struct {
	*httptest.Server
	log     *requestLog
	getDone chan struct{}
}

func newLegacyUpstream(t testing.TB) *legacyUpstream {
	t.Helper()
	srv := testserver.New()
	sse := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	u := &legacyUpstream{log: &requestLog{}, getDone: make(chan struct{}, 16)}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.log.add(r)
		sse.ServeHTTP(w, r)
		if r.Method == http.MethodGet {
			u.getDone <- struct{}{}
		}
	}))
	t.Cleanup(u.Close)
	return u
}

func newLegacy(t *testing.T, url string, client *http.Client) *bridge.Handler {
	t.Helper()
	h, _ := newLegacyLogged(t, url, client)
	return h
}

func newLegacyLogged(t *testing.T, url string, client *http.Client) (*bridge.Handler, *logBuffer) {
	t.Helper()
	logs := new(logBuffer)
	h := bridge.NewLegacySSE(url, client, bridge.Options{Logger: logs.logger()})
	t.Cleanup(func() { h.Close() })
	return h, logs
}

func TestLegacySSEClient(t *testing.T) {
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			up := newLegacyUpstream(t)
			h := newLegacy(t, up.URL, up.Client())
			header := http.Header{"Authorization": {"Bearer downstream-1"}, "X-Api-Key": {"static"}}
			exerciseClient(t, h, v, header)
			reqs := up.log.all()
			if len(reqs) < 5 {
				t.Fatalf("upstream saw %d requests", len(reqs))
			}
			for _, r := range reqs {
				if got := r.Header.Get("Authorization"); got != "Bearer downstream-1" {
					t.Errorf("%s %s: Authorization %q, want the request's", r.Method, r.URL, got)
				}
				if got := r.Header.Get("X-Api-Key"); got != "static" {
					t.Errorf("%s %s: X-Api-Key %q", r.Method, r.URL, got)
				}
				if got := r.Header.Get("Mcp-Session-Id"); got != "" {
					t.Errorf("%s %s: the bridge's session id reached the upstream", r.Method, r.URL)
				}
			}
		})
	}
}

func TestLegacySSEDeleteEndsUpstreamStream(t *testing.T) {
	up := newLegacyUpstream(t)
	h := newLegacy(t, up.URL, up.Client())
	cs := connect(t, h, "2025-11-25", nil, nil)
	if got := callText(t, cs, "echo", map[string]any{"text": "x"}); got != "x" {
		t.Fatalf("echo = %q", got)
	}
	id := cs.ID()
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	<-up.getDone // the upstream's SSE stream ended: its session is gone
	if h.HasSession(id) {
		t.Fatal("the session outlived DELETE")
	}
}

// hostileUpstream answers the SSE GET with an endpoint event naming endpoint
// and holds the stream open.
func hostileUpstream(t *testing.T, endpoint func(self string) string) *httptest.Server {
	t.Helper()
	var s *httptest.Server
	s = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "unexpected", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "event: endpoint\ndata: %s\n\n", endpoint(s.URL))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(s.Close)
	return s
}

func TestLegacySSERefusesEndpointOnAnotherOrigin(t *testing.T) {
	victim := &requestLog{}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		victim.add(r)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(other.Close)
	tests := []struct {
		name     string
		endpoint func(self string) string
	}{
		{"another port", func(string) string { return other.URL + "/messages" }},
		{"scheme-relative", func(string) string { return "//" + strings.TrimPrefix(other.URL, "http://") + "/messages" }},
		{"another host name", func(self string) string { return strings.Replace(self, "127.0.0.1", "localhost", 1) + "/messages" }},
		{"another scheme", func(self string) string { return strings.Replace(self, "http://", "https://", 1) + "/messages" }},
		{"metadata address", func(string) string { return "http://169.254.169.254/latest/meta-data" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := hostileUpstream(t, tt.endpoint)
			h, logs := newLegacyLogged(t, up.URL, up.Client())
			c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
			tr := &mcp.StreamableClientTransport{Endpoint: "http://bridge.invalid/", HTTPClient: &http.Client{Transport: bridge.Transport(h)}, MaxRetries: -1}
			if cs, err := c.Connect(context.Background(), tr, nil); err == nil {
				cs.Close()
				t.Fatal("initialize succeeded through an endpoint on another origin")
			}
			if n := len(victim.all()); n != 0 {
				t.Fatalf("%d requests reached another origin", n)
			}
			if !strings.Contains(logs.String(), "another origin") {
				t.Errorf("the refusal is not logged:\n%s", logs)
			}
		})
	}
}

func TestLegacySSERefusedCredentials(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	t.Cleanup(up.Close)
	h := newLegacy(t, up.URL, up.Client())
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	if got := postStatus(t, h, "", init); got != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", got)
	}
}

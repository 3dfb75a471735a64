package main

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestProxyAddsBearerAndKeepsRequest(t *testing.T) {
	type seen struct{ auth, host, path, query, body string }
	got := make(chan seen, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Header.Get("Authorization"), r.Host, r.URL.Path, r.URL.RawQuery, string(b)}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	defer upstream.Close()
	proxy := httptest.NewServer(newProxy(mustURL(t, upstream.URL), "tok-123"))
	defer proxy.Close()

	req, err := http.NewRequest(http.MethodPost, proxy.URL+"/mcp/everything?x=1", strings.NewReader(`{"jsonrpc":"2.0"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer client-supplied")
	req.Host = "evil.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != `{"ok":true}` {
		t.Fatalf("response = %d %q, want 200 {\"ok\":true}", resp.StatusCode, body)
	}
	want := seen{"Bearer tok-123", "evil.example.com", "/mcp/everything", "x=1", `{"jsonrpc":"2.0"}`}
	if s := <-got; s != want {
		t.Errorf("upstream saw %+v, want %+v", s, want)
	}
}

// TestProxyKeepsMCPHeaders: the 2026-07-28 routing headers (Mcp-Method,
// Mcp-Name, Mcp-Param-*), the protocol version, the session id and
// Last-Event-ID reach the target exactly as the client sent them, so the
// conformance suite's header-validation scenarios test the gateway, not the proxy.
func TestProxyKeepsMCPHeaders(t *testing.T) {
	sent := http.Header{
		"Mcp-Method":           {"tools/call"},
		"Mcp-Name":             {"greet"},
		"Mcp-Param-Region":     {"=?base64?ZXUtd2VzdA==?="},
		"Mcp-Protocol-Version": {"2026-07-28"},
		"Mcp-Session-Id":       {"s-1"},
		"Last-Event-Id":        {"ev 42"},
	}
	got := make(chan http.Header, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
	}))
	defer upstream.Close()
	proxy := httptest.NewServer(newProxy(mustURL(t, upstream.URL), "tok"))
	defer proxy.Close()

	req, err := http.NewRequest(http.MethodPost, proxy.URL+"/mcp/everything", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range sent {
		req.Header[k] = v
	}
	// A second Mcp-Name value must arrive too: the gateway, not the proxy, rejects it.
	req.Header.Add("Mcp-Name", "other")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := <-got
	for k, v := range sent {
		if k == "Mcp-Name" {
			v = []string{"greet", "other"}
		}
		if !slices.Equal(h.Values(k), v) {
			t.Errorf("upstream saw %s = %q, want %q", k, h.Values(k), v)
		}
	}
}

// TestProxyStreamsSSE proves events are not buffered: the upstream writes its
// second event only after the client has read the first through the proxy.
func TestProxyStreamsSSE(t *testing.T) {
	firstRead := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 1\ndata: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-firstRead:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "id: 2\ndata: two\n\n")
	}))
	defer upstream.Close()
	proxy := httptest.NewServer(newProxy(mustURL(t, upstream.URL), "tok"))
	defer proxy.Close()

	resp, err := http.Get(proxy.URL + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if ev := readEvent(t, br); ev != "id: 1\ndata: one\n" {
		t.Fatalf("first event = %q", ev)
	}
	close(firstRead)
	if ev := readEvent(t, br); ev != "id: 2\ndata: two\n" {
		t.Fatalf("second event = %q", ev)
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, path, want string
		wantErr          bool
	}{
		{"trailing newline", write("ok", "abc.def.ghi\n"), "abc.def.ghi", false},
		{"empty", write("empty", " \n"), "", true},
		{"inner space", write("space", "abc def"), "", true},
		{"missing", filepath.Join(dir, "nope"), "", true},
		{"no flag", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readToken(tt.path)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("readToken = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseTarget(t *testing.T) {
	for _, s := range []string{"", "127.0.0.1:8080", "ftp://x", "http://"} {
		if _, err := parseTarget(s); err == nil {
			t.Errorf("parseTarget(%q) succeeded, want error", s)
		}
	}
	if _, err := parseTarget("http://127.0.0.1:8080"); err != nil {
		t.Errorf("parseTarget: %v", err)
	}
}

func readEvent(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v (so far %q)", err, b.String())
		}
		if line == "\n" {
			return b.String()
		}
		b.WriteString(line)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

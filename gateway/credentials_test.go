package gateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/examples/expenses"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/upstreams"
)

// lockedBuffer collects log output written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStaticCredentials puts two upstreams that know nothing of Legant behind
// the gateway: an API-key server (a go-sdk server behind a middleware that
// checks X-API-Key) and a stdio server reading its key from its environment.
// Their secrets come from an environment variable and a file; neither may
// show in a log line, an audit record, an error or a listing.
func TestStaticCredentials(t *testing.T) {
	const apiKey = "sk-legant-test-4c1d8f0e2b7a9365"
	const stdioKey = "stdio-key-7e3a91c0d5f2b846"
	t.Setenv("LEGANT_TEST_API_KEY", apiKey)
	t.Setenv("LEGANT_TEST_WRONG_KEY", "sk-wrong-0000")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stdio.key"), []byte(stdioKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	srv := expenses.NewServer(&expenses.Ledger{})
	mcpH := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	seenAuth := &headerLog{}
	var accepted, refused atomic.Int64
	keyed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenAuth.add(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-API-Key")), []byte(apiKey)) != 1 {
			refused.Add(1)
			http.Error(w, "bad API key", http.StatusUnauthorized)
			return
		}
		accepted.Add(1)
		mcpH.ServeHTTP(w, r)
	}))
	t.Cleanup(keyed.Close)
	stdioServer := buildStdioServer(t)

	entries := func(keyVar string) string {
		return fmt.Sprintf(`  - slug: keyed
    url: %s
    tools:
      list_expenses: {scope: expenses:read}
      delete_all: {scope: expenses:admin, mutating: true}
    auth:
      kind: static
      header: {name: X-API-Key, value: {env: %s}}
  - slug: local
    transport: stdio
    command: [%q]
    tools:
      keyhash: {scope: files:read}
    auth:
      kind: static
      env:
        UPSTREAM_API_KEY: {file: stdio.key}
`, keyed.URL, keyVar, stdioServer)
	}
	logs := &lockedBuffer{}
	var reg atomic.Pointer[upstreams.Registry]
	var public string
	load := func(keyVar string, resolve bool) {
		t.Helper()
		yaml := registryYAML("http://127.0.0.1:1/unused", "") + entries(keyVar)
		r, err := upstreams.Parse(filepath.Join(dir, "legant.yaml"), []byte(yaml), upstreams.Options{PublicURL: public, ResolveSecrets: resolve})
		if err != nil {
			t.Fatalf("registry: %v", err)
		}
		reg.Store(r)
	}
	rg := newRig(t, rigOptions{gwOpts: func(o *gateway.Options) {
		public = o.PublicURL
		load("LEGANT_TEST_API_KEY", true)
		o.Registry = reg.Load
		o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	b := &bridgedRig{rig: rg}
	ctx := context.Background()
	var printed []string // every error and listing a client saw

	// The API-key upstream: the key goes in X-API-Key, and no Legant token
	// goes to an upstream that does not take one.
	cs := b.connectTo("keyed", b.tokenFor("keyed", "expenses:read"), "2025-11-25")
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("list_expenses through the gateway: %v %+v", err, res)
	}
	if accepted.Load() == 0 || refused.Load() != 0 {
		t.Errorf("upstream accepted %d, refused %d requests", accepted.Load(), refused.Load())
	}
	for _, a := range seenAuth.all() {
		if a != "" {
			t.Errorf("the API-key upstream got Authorization %q", a)
		}
	}
	ev := rg.events.waitFor(t, func(e audit.Event) bool {
		return e.Kind == audit.KindAllow && e.Upstream == "keyed" && e.Tool == "list_expenses"
	})
	if ev.Constraint != "upstream_credential" || ev.Value != "static" {
		t.Errorf("allow record names credential %q=%q, want upstream_credential=static", ev.Constraint, ev.Value)
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(tools)
	printed = append(printed, string(js))
	// A refused call: its error.
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "delete_all", Arguments: map[string]any{}})
	if err == nil {
		t.Fatal("delete_all without expenses:admin succeeded")
	}
	printed = append(printed, err.Error())

	// The stdio upstream reads its key from its environment.
	ls := b.connectTo("local", b.tokenFor("local", "files:read"), "2025-11-25")
	res, err = ls.CallTool(ctx, &mcp.CallToolParams{Name: "keyhash", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("keyhash: %v %+v", err, res)
	}
	sum := sha256.Sum256([]byte(stdioKey))
	if got := res.Content[0].(*mcp.TextContent).Text; got != hex.EncodeToString(sum[:]) {
		t.Errorf("the stdio upstream's key hashes to %s, want the file's key", got)
	}

	// A rotated (here: wrong) key takes effect on reload; the upstream's
	// refusal reaches the client without the key.
	load("LEGANT_TEST_WRONG_KEY", true)
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}})
	if err == nil {
		t.Fatal("a call with a wrong key succeeded")
	}
	if !strings.Contains(logs.String(), "upstream refused the gateway") {
		t.Error("the refusal was not logged")
	}
	printed = append(printed, err.Error())
	if refused.Load() == 0 {
		t.Error("the upstream never saw the wrong key")
	}

	// A registry loaded without resolving secrets fails closed: nothing
	// reaches the upstream with an empty key.
	load("LEGANT_TEST_API_KEY", false)
	before := accepted.Load() + refused.Load()
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}})
	if err == nil {
		t.Fatal("a call with an unresolved secret succeeded")
	}
	printed = append(printed, err.Error())
	if n := accepted.Load() + refused.Load(); n != before {
		t.Errorf("the upstream got %d requests with an unresolved secret", n-before)
	}

	// Raw error bodies: a bad token, and a session of another upstream.
	for _, tok := range []string{"not-a-token", b.tokenFor("keyed", "expenses:read")} {
		req, _ := http.NewRequest(http.MethodPost, b.server.URL+"/mcp/local", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		printed = append(printed, resp.Header.Get("WWW-Authenticate"), string(body))
	}

	rg.events.mu.Lock()
	auditJSON, _ := json.Marshal(rg.events.events)
	rg.events.mu.Unlock()
	regJSON, _ := json.Marshal(reg.Load().Upstreams())
	haystacks := map[string]string{"logs": logs.String(), "audit": string(auditJSON),
		"client errors and listings": strings.Join(printed, "\n"), "registry as JSON": string(regJSON)}
	if !strings.Contains(logs.String(), "keyed") {
		t.Errorf("the logs say nothing of the upstream: the grep below would prove nothing:\n%s", logs.String())
	}
	for name, text := range haystacks {
		for _, secret := range []string{apiKey, stdioKey, "sk-wrong-0000"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contain a secret:\n%s", name, text)
			}
		}
	}
}

// TestOAuthUpstreamFailsClosed: a gateway without a connection vault
// (Options.Connections) refuses a call to an upstream of auth kind oauth and
// nothing at all reaches the upstream (no minted token, no empty
// credential). The flow with a vault: cmd/legant TestOAuthUpstreamConnect.
func TestOAuthUpstreamFailsClosed(t *testing.T) {
	var hits atomic.Int64
	hosted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "unexpected", http.StatusTeapot)
	}))
	t.Cleanup(hosted.Close)
	var reg *upstreams.Registry
	rg := newRig(t, rigOptions{gwOpts: func(o *gateway.Options) {
		yaml := registryYAML("http://127.0.0.1:1/unused", "") + fmt.Sprintf(`  - slug: hosted
    url: %s
    tools:
      list_expenses: {scope: expenses:read}
    auth: {kind: oauth, scopes: [read]}
`, hosted.URL)
		var err error
		if reg, err = upstreams.Parse("oauth.yaml", []byte(yaml), upstreams.Options{PublicURL: o.PublicURL, ResolveSecrets: true}); err != nil {
			t.Fatal(err)
		}
		o.Registry = func() *upstreams.Registry { return reg }
	}})
	b := &bridgedRig{rig: rg}
	req, _ := http.NewRequest(http.MethodPost, b.server.URL+"/mcp/hosted",
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
	req.Header.Set("Authorization", "Bearer "+b.tokenFor("hosted", "expenses:read"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "the upstream is unavailable") {
		t.Errorf("initialize = %d %s, want 502 and a JSON-RPC error", resp.StatusCode, body)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the oauth upstream got %d requests", n)
	}
}

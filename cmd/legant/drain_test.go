package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestGatewayDrainsOnSIGTERM runs `legant gateway` as a process: a 5-second
// streaming call is in flight when the process gets SIGTERM; the call
// completes, new requests get 503 with Retry-After, the process exits 0, and
// the audit chain verifies with the call's events and the drain in it.
func TestGatewayDrainsOnSIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "legant")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/openlegant/legant/cmd/legant").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "slow", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "slow"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		tick := time.NewTicker(500 * time.Millisecond) // ten steps: five seconds
		defer tick.Stop()
		for i := 1; i <= 10; i++ {
			select {
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			case <-tick.C:
			}
			req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: float64(i), Total: 10})
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "slow done"}}}, nil, nil
	})
	up := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	defer up.Close()

	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	reg := filepath.Join(dir, "legant.yaml")
	os.WriteFile(reg, []byte(fmt.Sprintf("version: 1\nupstreams:\n  - slug: api\n    url: %s\n    tools:\n      slow: {scope: api:read}\n", up.URL)), 0o600)
	addr := loopbackAddr(t)
	base := "http://" + addr
	gw := exec.Command(bin, "gateway", "--listen", addr, "-f", reg, "--data-dir", data, "--admin-listen=", "--drain-timeout", "30s")
	gw.Stderr = os.Stderr
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- gw.Wait() }()
	t.Cleanup(func() { gw.Process.Kill(); <-exited })
	waitServing(t, base+"/.well-known/jwks.json")

	aud := base + "/mcp/api"
	out, err := exec.Command(bin, "mint", "--keys", filepath.Join(data, "keys"), "--issuer", base, "--user", "alice",
		"--agent", "planner", "--aud", aud, "--scope", "api:read", "--ttl", "1h").Output()
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	token := strings.TrimSpace(string(out))

	progress := make(chan struct{}, 16)
	c := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { progress <- struct{}{} }})
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: aud,
		HTTPClient: &http.Client{Transport: bearer{token: token}}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		res *mcp.CallToolResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "slow", Meta: mcp.Meta{"progressToken": "p"}})
		done <- result{res, err}
	}()
	within(t, progress, "first progress")
	if err := gw.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// New requests are refused while the call finishes.
	var refused *http.Response
	eventually(t, "503 for a new session", func() bool {
		req, _ := http.NewRequest(http.MethodPost, aud, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"late","version":"1"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		refused = resp
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	if refused.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	r := within(t, done, "the call in flight")
	if r.err != nil || r.res.IsError || r.res.Content[0].(*mcp.TextContent).Text != "slow done" {
		t.Fatalf("the call in flight did not complete: %v %+v", r.err, r.res)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("legant gateway exited with %v, want 0", err)
		}
		exited <- nil
	case <-time.After(20 * time.Second):
		t.Fatal("legant gateway did not exit after draining")
	}

	if out, err := exec.Command(bin, "audit", "verify", "--data-dir", data).CombinedOutput(); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "audit", "query", "--json", "--data-dir", data).Output()
	if err != nil {
		t.Fatalf("audit query: %v", err)
	}
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var ev struct {
			Kind, Tool, Reason string
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		kinds = append(kinds, strings.TrimSuffix(ev.Kind+":"+ev.Tool+ev.Reason, ":"))
	}
	for _, want := range []string{"session_start", "allow:slow", "drain:started", "session_end:drain"} {
		if !containsPrefix(kinds, want) {
			t.Fatalf("audit log lacks %q: %q", want, kinds)
		}
	}
	if !containsPrefix(kinds, "drain:finished") {
		t.Fatalf("the end of the drain is not audited: %q", kinds)
	}
}

func containsPrefix(list []string, p string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func waitServing(t *testing.T, url string) {
	t.Helper()
	eventually(t, url+" answers", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// countingUpstream is a go-sdk MCP server whose tool "slow" records the
// hash of the arguments of every call it runs, exactly as it received them:
// what the upstream executed, counted on the upstream's side.
type countingUpstream struct {
	mu   sync.Mutex
	runs map[string]bool // audit.ArgsHash of the arguments
}

func newCountingUpstream() (*countingUpstream, http.Handler) {
	u := &countingUpstream{runs: map[string]bool{}}
	s := mcp.NewServer(&mcp.Implementation{Name: "counting", Version: "1"}, nil)
	s.AddTool(&mcp.Tool{Name: "slow", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			u.mu.Lock()
			u.runs[audit.ArgsHash(req.Params.Arguments)] = true
			u.mu.Unlock()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil
		})
	return u, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
}

func (u *countingUpstream) executed() map[string]bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[string]bool, len(u.runs))
	for h := range u.runs {
		out[h] = true
	}
	return out
}

// TestCrashKeepsEveryExecutedCallAudited kills a real `legant gateway`
// (SIGKILL) while 16 clients call a tool through it, on SQLite and on
// PostgreSQL. Durable audit before forward means: every call the upstream
// ran has its allow record in the log the dead process left — read back
// with `legant audit query` — and `legant audit verify` finds the chain
// intact.
func TestCrashKeepsEveryExecutedCallAudited(t *testing.T) {
	bin := buildLegant(t)
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		k := newKillRig(t)
		up, h := newCountingUpstream()
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		registry := filepath.Join(k.dir, "crash.yaml")
		yaml := fmt.Sprintf("version: 1\nupstreams:\n  - slug: %s\n    transport: streamable-http\n    url: %s\n    tools:\n      slow:\n        scope: work:run\n", killSlug, srv.URL)
		if err := os.WriteFile(registry, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		opts := b.Options(t)
		storeArgs := []string{"--key-secret-file", k.secretFile, "--data-dir", opts.DataDir}
		if b.Postgres() {
			storeArgs = []string{"--key-secret-file", k.secretFile, "--database-url", opts.DatabaseURL}
		}
		gwArgs := append([]string{"--upstreams", registry, "--public-url", killPublic, "--keys", k.keysDir,
			"--issuer", killIssuer}, storeArgs...)
		if b.Postgres() {
			gwArgs = append(gwArgs, "--data-dir", t.TempDir())
		}
		gw := startGatewayProcess(t, bin, gwArgs...)
		endpoint := gw.url + "/mcp/" + killSlug
		token := k.token(t, "crash-jti")

		const clients = 16
		var next, answered, failed atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range clients {
			cl := &rawClient{endpoint: endpoint, token: token, http: &http.Client{Timeout: 10 * time.Second}}
			cl.initialize(t)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					n := next.Add(1)
					st, body, err := cl.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"slow","arguments":{"n":%d}}}`, n, n))
					switch {
					case err == nil && st == http.StatusOK && strings.Contains(body, `"result"`):
						answered.Add(1)
					default:
						failed.Add(1)
						time.Sleep(5 * time.Millisecond) // the gateway is gone
					}
				}
			}()
		}
		// Kill once the load is flowing (and has been for a while).
		deadline := time.Now().Add(20 * time.Second)
		for answered.Load() < 300 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		before := answered.Load()
		if err := gw.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-gw.exited
		time.Sleep(200 * time.Millisecond) // calls in flight fail
		close(stop)
		wg.Wait()
		executed := up.executed()
		t.Logf("%s: %d answered before the kill, %d answered in all, %d failed, %d calls sent; the upstream ran %d",
			b.Name, before, answered.Load(), failed.Load(), next.Load(), len(executed))
		if before < 300 {
			t.Fatalf("only %d calls answered before the kill: no load to crash under", before)
		}

		// The log the dead gateway left, read with the CLI.
		out, stderr, err := runBinary(bin, append([]string{"audit", "query", "--kind", "allow", "--json"}, storeArgs...)...)
		if err != nil {
			t.Fatalf("audit query: %v\n%s", err, stderr)
		}
		if strings.Contains(stderr, "audit journal") { // SQLite: what the dead process had not yet applied
			t.Logf("%s: %s", b.Name, strings.TrimSpace(stderr))
		}
		allowed := map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev struct {
				Tool     string `json:"tool"`
				ArgsHash string `json:"args_hash"`
			}
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("audit query line %q: %v", sc.Text(), err)
			}
			if ev.Tool == "slow" {
				allowed[ev.ArgsHash] = true
			}
		}
		missing := 0
		for h := range executed {
			if !allowed[h] {
				missing++
			}
		}
		t.Logf("%s: %d allow records, %d executed calls without one", b.Name, len(allowed), missing)
		if missing > 0 {
			t.Errorf("%d of %d calls the upstream ran have no allow record in the log", missing, len(executed))
		}
		if len(allowed) < len(executed) {
			t.Errorf("%d allow records for %d executed calls", len(allowed), len(executed))
		}
		out, stderr, err = runBinary(bin, append([]string{"audit", "verify"}, storeArgs...)...)
		if err != nil || !strings.Contains(out, "chain intact") {
			t.Fatalf("audit verify after the crash: %v\n%s%s", err, out, stderr)
		}
	})
}

// runBinary runs the legant binary and returns its stdout and stderr.
func runBinary(bin string, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

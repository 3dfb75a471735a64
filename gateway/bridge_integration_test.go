package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/examples/expenses"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/upstreams"
)

// bridgedRig is the lead's rig with two more upstreams behind bridges: "files",
// a stdio server run as a child process (bridge/testdata/stdioserver), and
// "legacy", the expenses server behind the 2024-11-05 HTTP+SSE transport.
type bridgedRig struct {
	*rig
	legacyLedger *expenses.Ledger
	legacyAuth   *headerLog // Authorization headers the legacy upstream received
	stdioServer  string
	legacyURL    string
	reg          atomic.Pointer[upstreams.Registry] // what the gateway serves; swap to reload
	public       string
}

// reload makes the gateway serve yaml (the bridged upstreams' part) from now on.
func (b *bridgedRig) reload(t *testing.T, yaml string) {
	t.Helper()
	reg, err := upstreams.Parse("bridged.yaml", []byte(registryYAML("http://127.0.0.1:1/unused", "")+yaml), upstreams.Options{PublicURL: b.public})
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	b.reg.Store(reg)
}

func newBridgedRig(t *testing.T) *bridgedRig {
	t.Helper()
	server := buildStdioServer(t)
	b := &bridgedRig{legacyLedger: &expenses.Ledger{}, legacyAuth: &headerLog{}, stdioServer: server}
	srv := expenses.NewServer(b.legacyLedger)
	addTestTools(srv)
	sse := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.legacyAuth.add(r.Header.Get("Authorization"))
		sse.ServeHTTP(w, r)
	}))
	t.Cleanup(legacy.Close)
	b.legacyURL = legacy.URL
	b.rig = newRig(t, rigOptions{gwOpts: func(o *gateway.Options) {
		b.public = o.PublicURL
		b.reload(t, bridgedYAML(server, legacy.URL, "hi"))
		o.Registry = b.reg.Load
	}})
	return b
}

func bridgedYAML(stdioServer, legacyURL, greeting string) string {
	return fmt.Sprintf(`  - slug: files
    transport: stdio
    command: [%q]
    env: {GREETING: %s}
    tools:
      echo:
        scope: files:read
      count:
        scope: files:read
      pid:
        scope: files:read
      env:
        scope: files:read
      ask:
        scope: files:admin
  - slug: legacy
    transport: sse
    url: %s
    downstream_audience: https://legacy.internal
    tools:
      list_expenses:
        scope: expenses:read
      submit_expense:
        scope: expenses:write
        amount: {pointer: /amount, currency: USD}
        category: /category
        mutating: true
      delete_all:
        scope: expenses:admin
        mutating: true
`, stdioServer, greeting, legacyURL)
}

// buildStdioServer builds the bridge's test server into a temporary directory.
func buildStdioServer(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "stdioserver")
	build := exec.Command("go", "build", "-o", out, "./bridge/testdata/stdioserver")
	if msg, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the stdio test server: %v\n%s", err, msg)
	}
	return out
}

// connectTo opens a go-sdk client session to /mcp/<slug> through the gateway.
func (b *bridgedRig) connectTo(slug, token, version string) *mcp.ClientSession {
	return b.connectWith(slug, token, version, nil)
}

func (b *bridgedRig) connectWith(slug, token, version string, opts *mcp.ClientOptions) *mcp.ClientSession {
	b.t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, opts)
	tr := &mcp.StreamableClientTransport{Endpoint: b.server.URL + "/mcp/" + slug,
		HTTPClient: &http.Client{Transport: bearerTransport{token: token}}, MaxRetries: -1}
	cs, err := c.Connect(context.Background(), tr, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		b.t.Fatalf("connect to %s (%s): %v", slug, version, err)
	}
	b.t.Cleanup(func() { cs.Close() })
	return cs
}

func (b *bridgedRig) tokenFor(slug string, scopes ...string) string {
	return b.token(tokenOptions{audience: b.server.URL + "/mcp/" + slug, scopes: scopes})
}

func TestBridgedStdioUpstream(t *testing.T) {
	b := newBridgedRig(t)
	for _, version := range []string{"2025-11-25", "2025-03-26"} {
		t.Run(version, func(t *testing.T) {
			tok := b.tokenFor("files", "files:read")
			cs := b.connectTo("files", tok, version)
			ctx := context.Background()

			// ask is registered but needs files:admin; crash is not registered.
			if got, want := toolNames(t, cs), []string{"count", "echo", "env", "pid"}; !slices.Equal(got, want) {
				t.Fatalf("tools = %v, want %v", got, want)
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "through the bridge"}})
			if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "through the bridge" {
				t.Fatalf("echo: %v %+v", err, res)
			}
			pid := callInt(t, cs, "pid")
			_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "crash", Arguments: map[string]any{"code": 1}})
			assertDenied(t, err, "")
			_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "ask", Arguments: map[string]any{}})
			assertDenied(t, err, "")
			if callInt(t, cs, "pid") != pid {
				t.Fatal("a denied call reached the child (it restarted)")
			}

			// The child has no credentials: neither token is in its environment.
			env, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "env", Arguments: map[string]any{}})
			if err != nil {
				t.Fatal(err)
			}
			if text := env.Content[0].(*mcp.TextContent).Text; strings.Contains(text, "eyJ") || !strings.Contains(text, "GREETING=hi") {
				t.Fatalf("child environment:\n%s", text)
			}

			b.events.waitFor(t, func(e audit.Event) bool {
				return e.Kind == audit.KindDeny && e.Upstream == "files" && e.Tool == "crash"
			})
			// Ending the client's session ends the child.
			if err := cs.Close(); err != nil {
				t.Fatal(err)
			}
			if !processGone(pid) {
				t.Fatalf("child %d survived the end of its session", pid)
			}
		})
	}
}

func TestBridgedLegacySSEUpstream(t *testing.T) {
	b := newBridgedRig(t)
	for _, version := range []string{"2025-11-25", "2025-03-26"} {
		t.Run(version, func(t *testing.T) {
			c := authority.Unrestricted()
			c.MaxAmount = &authority.Money{Value: authority.MustDecimal("500"), Currency: "USD"}
			tok := b.token(tokenOptions{audience: b.server.URL + "/mcp/legacy", c: &c,
				scopes: []string{"expenses:read", "expenses:write"}})
			cs := b.connectTo("legacy", tok, version)
			ctx := context.Background()

			if got, want := toolNames(t, cs), []string{"list_expenses", "submit_expense"}; !slices.Equal(got, want) {
				t.Fatalf("tools = %v, want %v", got, want)
			}
			before := len(b.legacyLedger.Expenses())
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense",
				Arguments: map[string]any{"amount": 120, "category": "travel"}})
			if err != nil || res.IsError {
				t.Fatalf("allowed call failed: %v %+v", err, res)
			}
			_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense",
				Arguments: map[string]any{"amount": 700, "category": "travel"}})
			assertDenied(t, err, "max_amount")
			_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "delete_all", Arguments: map[string]any{}})
			assertDenied(t, err, "")
			if n := len(b.legacyLedger.Expenses()) - before; n != 1 {
				t.Fatalf("the upstream recorded %d expenses, want 1 (denied calls must not reach it)", n)
			}
		})
	}
	// The legacy upstream saw only downstream tokens minted for it.
	keys := authority.NewKeySet()
	keys.Add(b.gwKey, time.Time{})
	seen := b.legacyAuth.all()
	if len(seen) == 0 {
		t.Fatal("the legacy upstream saw no request")
	}
	for _, h := range seen {
		_, err := authority.Verify(strings.TrimPrefix(h, "Bearer "), keys, authority.VerifyOptions{Issuer: b.server.URL,
			Audience: "https://legacy.internal", RequireActor: true}, time.Now())
		if err != nil {
			t.Fatalf("the legacy upstream got %q, not a downstream token for it: %v", h, err)
		}
	}
}

// Progress notifications and a server-to-client request (elicitation) of a
// stdio server cross the bridge and the gateway.
func TestBridgedStdioServerMessages(t *testing.T) {
	b := newBridgedRig(t)
	progress := make(chan float64, 8)
	cs := b.connectWith("files", b.tokenFor("files", "files:read", "files:admin"), "2025-11-25", &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			progress <- req.Params.Progress
		},
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept"}, nil
		},
	})
	params := &mcp.CallToolParams{Name: "count", Arguments: map[string]any{"n": 3}}
	params.SetProgressToken("p")
	if res, err := cs.CallTool(context.Background(), params); err != nil || res.IsError {
		t.Fatalf("count: %v %+v", err, res)
	}
	for i := 1; i <= 3; i++ {
		if got := <-progress; got != float64(i) {
			t.Fatalf("progress %d = %v", i, got)
		}
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "ask", Arguments: map[string]any{}})
	if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "user chose accept" {
		t.Fatalf("ask: %v %+v", err, res)
	}
}

// A reload that changes what a stdio upstream runs starts new sessions on a
// new bridge; a session opened before goes on with its child.
func TestBridgedReload(t *testing.T) {
	b := newBridgedRig(t)
	tok := b.tokenFor("files", "files:read")
	before := b.connectTo("files", tok, "2025-11-25")
	pid := callInt(t, before, "pid")

	b.reload(t, bridgedYAML(b.stdioServer, b.legacyURL, "hello"))
	after := b.connectTo("files", tok, "2025-11-25")
	if env := callText(t, after, "env"); !strings.Contains(env, "GREETING=hello") {
		t.Fatalf("a session opened after the reload runs the old command:\n%s", env)
	}
	if got := callInt(t, before, "pid"); got != pid {
		t.Fatalf("the session opened before the reload moved from child %d to %d", pid, got)
	}
	if env := callText(t, before, "env"); !strings.Contains(env, "GREETING=hi") {
		t.Fatalf("the old session's child changed:\n%s", env)
	}
}

func TestGatewayCloseEndsBridgedChildren(t *testing.T) {
	b := newBridgedRig(t)
	cs := b.connectTo("files", b.tokenFor("files", "files:read"), "2025-11-25")
	pid := callInt(t, cs, "pid")
	b.gw.Close()
	if !processGone(pid) {
		t.Fatalf("child %d survived the gateway's Close", pid)
	}
}

func callText(t *testing.T, cs *mcp.ClientSession, tool string) string {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("%s: %v %+v", tool, err, res)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

func callInt(t *testing.T, cs *mcp.ClientSession, tool string) int {
	t.Helper()
	n, err := strconv.Atoi(callText(t, cs, tool))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// processGone reports whether pid no longer runs (a zombie left to a
// non-reaping init counts as gone).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] == "Z"
}

package gateway_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/examples/expenses"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/upstreams"
)

// member is one real go-sdk upstream behind the virtual slug "fed".
type member struct {
	name    string
	sdk     *mcp.Server // the go-sdk server (nil for the mcp-go member)
	srv     *httptest.Server
	mu      sync.Mutex
	auths   []string // Authorization headers received
	methods []string // JSON-RPC methods received
	started chan struct{}
	stopped chan struct{}
}

func (m *member) seen() (auths, methods []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.auths), slices.Clone(m.methods)
}

type echoIn struct {
	Text   string  `json:"text,omitempty"`
	Amount float64 `json:"amount,omitempty"`
}

func newMember(t testing.TB, name string) *member {
	m := &member{name: name, started: make(chan struct{}, 8), stopped: make(chan struct{}, 8)}
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
	m.sdk = s
	s.AddPrompt(&mcp.Prompt{Name: "greet"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hello from " + name}}}}, nil
	})
	uri := "notes://" + name + "/1"
	s.AddResource(&mcp.Resource{URI: uri, Name: "note"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, Text: "note of " + name}}}, nil
	})
	text := func(s string) *mcp.CallToolResult {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
	}
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return text(name + ":" + in.Text), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "pay"}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return text(fmt.Sprintf("%s paid %v", name, in.Amount)), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "secret"}, func(context.Context, *mcp.CallToolRequest, echoIn) (*mcp.CallToolResult, any, error) {
		return text("unregistered"), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "hold"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ echoIn) (*mcp.CallToolResult, any, error) {
		m.started <- struct{}{}
		select {
		case <-ctx.Done():
			m.stopped <- struct{}{}
			return nil, nil, ctx.Err()
		case <-time.After(20 * time.Second):
			return text("held to the end"), nil, nil
		}
	})
	mcp.AddTool(s, &mcp.Tool{Name: "roots"}, func(ctx context.Context, req *mcp.CallToolRequest, _ echoIn) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.ListRoots(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		var uris []string
		for _, r := range res.Roots {
			uris = append(uris, r.URI)
		}
		return text(name + " sees " + strings.Join(uris, ",")), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "ask"}, func(ctx context.Context, req *mcp.CallToolRequest, _ echoIn) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: "from " + name,
			RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"answer": map[string]any{"type": "string"}}}})
		if err != nil {
			return nil, nil, err
		}
		return text(fmt.Sprintf("%s got %v", name, res.Content["answer"])), nil, nil
	})
	m.serve(t, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	return m
}

// newMCPGoMember is a mark3labs/mcp-go member with an echo tool, a prompt
// and a resource.
func newMCPGoMember(t *testing.T, name string) *member {
	m := &member{name: name}
	s := mcpserver.NewMCPServer(name, "1", mcpserver.WithToolCapabilities(true),
		mcpserver.WithPromptCapabilities(true), mcpserver.WithResourceCapabilities(false, true))
	s.AddTool(mcpgo.NewTool("echo", mcpgo.WithString("text")), func(_ context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		return mcpgo.NewToolResultText(name + ":" + req.GetString("text", "")), nil
	})
	s.AddTool(mcpgo.NewTool("secret"), func(context.Context, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		return mcpgo.NewToolResultText("unregistered"), nil
	})
	s.AddPrompt(mcpgo.NewPrompt("greet"), func(context.Context, mcpgo.GetPromptRequest) (*mcpgo.GetPromptResult, error) {
		return mcpgo.NewGetPromptResult("", []mcpgo.PromptMessage{mcpgo.NewPromptMessage(mcpgo.RoleUser, mcpgo.NewTextContent("hello from "+name))}), nil
	})
	uri := "notes://" + name + "/1"
	s.AddResource(mcpgo.NewResource(uri, "note"), func(context.Context, mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
		return []mcpgo.ResourceContents{mcpgo.TextResourceContents{URI: uri, Text: "note of " + name}}, nil
	})
	m.serve(t, mcpserver.NewStreamableHTTPServer(s))
	return m
}

// serve serves h on loopback, recording what the member receives.
func (m *member) serve(t testing.TB, h http.Handler) {
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct{ Method string }
		json.Unmarshal(body, &msg)
		m.mu.Lock()
		m.auths = append(m.auths, r.Header.Get("Authorization"))
		if msg.Method != "" {
			m.methods = append(m.methods, msg.Method)
		}
		m.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { m.srv.CloseClientConnections(); m.srv.Close() })
}

// stop kills the member: its connections are cut and its port closed.
func (m *member) stop() {
	m.srv.CloseClientConnections()
	m.srv.Close()
}

// vrig is a gateway whose slug "fed" composes three members: a, b and c
// (prefix "c-").
type vrig struct {
	*rig
	members []*member
}

func newVirtualRig(t *testing.T) *vrig {
	t.Helper()
	members := []*member{newMember(t, "a"), newMember(t, "b"), newMCPGoMember(t, "c")}
	v := newVirtualRigYAML(t, `version: 1
upstreams:
  - slug: fed
    members:
      - {name: a, url: %s, downstream_audience: "https://a.internal"}
      - {name: b, url: %s, downstream_audience: "https://b.internal", timeouts: {connect: 2s}}
      - {name: c, url: %s/mcp, downstream_audience: "https://c.internal", prefix: c-, timeouts: {connect: 2s}}
    tools:
      a__echo: {scope: fed:read}
      b__echo: {scope: fed:read}
      c-echo: {scope: fed:read}
      a__hold: {scope: fed:read}
      b__hold: {scope: fed:read}
      a__ask: {scope: fed:read}
      a__roots: {scope: fed:read}
      b__ask: {scope: fed:read}
      a__pay: {scope: fed:write, amount: {pointer: /amount, currency: USD}}
      b__pay: {scope: fed:write, amount: {pointer: /amount, currency: USD}}
    prompts:
      a__greet: {scope: fed:read}
      c-greet: {scope: fed:read}
    resources:
      - {uri: "notes://a/1", scope: fed:read}
      - {uri: "notes://c/1", scope: fed:read}
`, members[0].srv.URL, members[1].srv.URL, members[2].srv.URL)
	v.members = members
	return v
}

func (v *vrig) endpoint() string { return v.server.URL + "/mcp/fed" }

func (v *vrig) connect(c *authority.Constraints, version string, opts *mcp.ClientOptions) *mcp.ClientSession {
	v.t.Helper()
	tok := v.token(tokenOptions{audience: v.endpoint(), scopes: []string{"fed:read", "fed:write"}, c: c})
	cl := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, opts)
	cs, err := cl.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: v.endpoint(),
		HTTPClient: &http.Client{Transport: bearerTransport{token: tok}}, MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		v.t.Fatalf("connect: %v", err)
	}
	v.t.Cleanup(func() { cs.Close() })
	return cs
}

func vToolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

func vCallText(cs *mcp.ClientSession, name string, args map[string]any) (string, error) {
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return "", err
	}
	if res.IsError || len(res.Content) == 0 {
		b, _ := json.Marshal(res)
		return "", fmt.Errorf("tool error: %s", b)
	}
	return res.Content[0].(*mcp.TextContent).Text, nil
}

// audienceOf returns the aud of a bearer JWT (signature checked elsewhere:
// the gateway's minting is tested on its own).
func audienceOf(t *testing.T, header string) []string {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(header, "Bearer "), ".")
	if len(parts) != 3 {
		t.Fatalf("not a bearer JWT: %q", header)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Aud any `json:"aud"`
	}
	json.Unmarshal(payload, &c)
	switch a := c.Aud.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

// TestVirtualListsCallsAndDegrades: three members behind one slug: the
// merged list is the registered prefixed tools only, calls reach the right
// member with a token for that member's audience, and a member killed
// mid-test loses only its own tools (a clear -32035 naming it) while the
// others keep working.
func TestVirtualListsCallsAndDegrades(t *testing.T) {
	for _, version := range []string{"2025-11-25", "2025-06-18", "2026-07-28"} {
		t.Run(version, func(t *testing.T) { testVirtualListsCallsAndDegrades(t, version) })
	}
}

func testVirtualListsCallsAndDegrades(t *testing.T, version string) {
	v := newVirtualRig(t)
	cs := v.connect(nil, version, nil)
	if got := cs.InitializeResult().ProtocolVersion; got != version {
		t.Fatalf("negotiated %s, want %s", got, version)
	}
	want := []string{"a__ask", "a__echo", "a__hold", "a__pay", "a__roots", "b__ask", "b__echo", "b__hold", "b__pay", "c-echo"}
	if got := vToolNames(t, cs); !slices.Equal(got, want) {
		t.Fatalf("tools = %v, want %v", got, want)
	}
	for _, tc := range []struct{ tool, want string }{{"a__echo", "a:hi"}, {"b__echo", "b:hi"}, {"c-echo", "c:hi"}} {
		got, err := vCallText(cs, tc.tool, map[string]any{"text": "hi"})
		if err != nil || got != tc.want {
			t.Errorf("%s = %q, %v; want %q", tc.tool, got, err, tc.want)
		}
	}
	if _, err := vCallText(cs, "a__secret", map[string]any{}); err == nil {
		t.Error("an unregistered member tool was callable")
	}
	// The audit names the prefixed tool, hence the member.
	v.events.waitFor(t, func(e audit.Event) bool {
		return e.Upstream == "fed" && e.Tool == "c-echo" && e.Decision == "allow"
	})
	for _, m := range v.members {
		auths, _ := m.seen()
		if len(auths) == 0 {
			t.Fatalf("member %s saw no request", m.name)
		}
		for _, a := range auths {
			if aud := audienceOf(t, a); !slices.Equal(aud, []string{"https://" + m.name + ".internal"}) {
				t.Errorf("member %s got a token for %v", m.name, aud)
			}
		}
	}

	v.members[2].stop()
	start := time.Now()
	wantAB := []string{"a__ask", "a__echo", "a__hold", "a__pay", "a__roots", "b__ask", "b__echo", "b__hold", "b__pay"}
	if got := vToolNames(t, cs); !slices.Equal(got, wantAB) {
		t.Errorf("tools with c down = %v, want %v", got, wantAB)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("listing with a member down took %v (its connect timeout is 2s)", d)
	}
	_, err := vCallText(cs, "c-echo", map[string]any{"text": "hi"})
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) || werr.Code != -32035 || !strings.Contains(werr.Message, `"c"`) {
		t.Errorf("call to the down member: %v, want -32035 naming c", err)
	}
	for _, tc := range []struct{ tool, want string }{{"a__echo", "a:again"}, {"b__echo", "b:again"}} {
		got, err := vCallText(cs, tc.tool, map[string]any{"text": "again"})
		if err != nil || got != tc.want {
			t.Errorf("%s with c down = %q, %v; want %q", tc.tool, got, err, tc.want)
		}
	}
}

// TestVirtualPromptsResourcesListChanged: prompts are merged under their
// prefixes and filtered (b's is not registered), resources are routed to the
// member that listed them (go-sdk and mcp-go), and a member's list_changed
// reaches the client.
func TestVirtualPromptsResourcesListChanged(t *testing.T) {
	v := newVirtualRig(t)
	changed := make(chan struct{}, 4)
	cs := v.connect(nil, "2025-11-25", &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	ctx := context.Background()
	prompts, err := cs.ListPrompts(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range prompts.Prompts {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"a__greet", "c-greet"}) {
		t.Errorf("prompts = %v, want [a__greet c-greet]", names)
	}
	for _, name := range []string{"a__greet", "c-greet"} {
		p, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: name})
		want := "hello from " + name[:1]
		if err != nil || len(p.Messages) != 1 || p.Messages[0].Content.(*mcp.TextContent).Text != want {
			t.Errorf("prompt %s = %+v, %v; want %q", name, p, err, want)
		}
	}
	res, err := cs.ListResources(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, r := range res.Resources {
		uris = append(uris, r.URI)
	}
	slices.Sort(uris)
	if !slices.Equal(uris, []string{"notes://a/1", "notes://c/1"}) {
		t.Errorf("resources = %v, want notes://a/1 and notes://c/1 (b's is not granted)", uris)
	}
	for _, m := range []string{"a", "c"} {
		r, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "notes://" + m + "/1"})
		if err != nil || len(r.Contents) != 1 || r.Contents[0].Text != "note of "+m {
			t.Errorf("read notes://%s/1 = %+v, %v", m, r, err)
		}
	}
	// Member a's tools change: the client hears of it.
	mcp.AddTool(v.members[0].sdk, &mcp.Tool{Name: "late"}, func(context.Context, *mcp.CallToolRequest, echoIn) (*mcp.CallToolResult, any, error) {
		return nil, nil, nil
	})
	within(t, changed, "tools/list_changed from member a")
}

// TestVirtualFederationExample runs examples/federation/legant.yaml through
// the gateway, its two members real demo expenses servers: each member's
// tools are reached under its prefix, and delete_all (not registered) is
// filtered out of the merged list.
func TestVirtualFederationExample(t *testing.T) {
	data, err := os.ReadFile("../examples/federation/legant.yaml")
	if err != nil {
		t.Fatal(err)
	}
	team, travel := &expenses.Ledger{}, &expenses.Ledger{}
	teamSrv := httptest.NewServer(expenses.Handler(team, false))
	travelSrv := httptest.NewServer(expenses.Handler(travel, false))
	t.Cleanup(func() {
		teamSrv.CloseClientConnections()
		travelSrv.CloseClientConnections()
		teamSrv.Close()
		travelSrv.Close()
	})
	yaml := strings.NewReplacer("http://127.0.0.1:9000", teamSrv.URL, "http://127.0.0.1:9001", travelSrv.URL).Replace(string(data))
	v := newVirtualRigYAML(t, "%s", yaml) // the example as written: no verbs of its own
	endpoint := v.server.URL + "/mcp/expenses-all"
	tok := v.token(tokenOptions{audience: endpoint, scopes: []string{"expenses:read", "expenses:write"}})
	cl := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, nil)
	cs, err := cl.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: endpoint,
		HTTPClient: &http.Client{Transport: bearerTransport{token: tok}}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	want := []string{"team__list_expenses", "team__submit_expense", "travel.list_expenses", "travel.submit_expense"}
	if got := vToolNames(t, cs); !slices.Equal(got, want) {
		t.Fatalf("tools = %v, want %v", got, want)
	}
	if _, err := vCallText(cs, "travel.submit_expense", map[string]any{"amount": 42, "category": "travel", "currency": "USD"}); err != nil {
		t.Fatal(err)
	}
	if len(travel.Expenses()) != 1 || len(team.Expenses()) != 0 {
		t.Errorf("travel ledger %v, team ledger %v: want the one expense on travel", travel.Expenses(), team.Expenses())
	}
}

// TestVirtualBudgetSpansMembers: one budget of the delegation is spent by
// calls on two members.
func TestVirtualBudgetSpansMembers(t *testing.T) {
	v := newVirtualRig(t)
	c := authority.Unrestricted()
	c.Budget = &authority.Money{Value: authority.MustDecimal("10"), Currency: "USD"}
	cs := v.connect(&c, "2025-11-25", nil)
	if got, err := vCallText(cs, "a__pay", map[string]any{"amount": 6}); err != nil || got != "a paid 6" {
		t.Fatalf("a__pay 6 = %q, %v", got, err)
	}
	if _, err := vCallText(cs, "b__pay", map[string]any{"amount": 5}); err == nil {
		t.Fatal("b__pay 5 was allowed past a budget of 10 with 6 spent on member a")
	}
	if got, err := vCallText(cs, "b__pay", map[string]any{"amount": 4}); err != nil || got != "b paid 4" {
		t.Fatalf("b__pay 4 = %q, %v", got, err)
	}
	if _, err := vCallText(cs, "a__pay", map[string]any{"amount": 0.01}); err == nil {
		t.Fatal("a__pay was allowed with the budget spent")
	}
}

// TestVirtualKillCutsMembers: a kill of the session cuts calls in flight on
// two members: the client gets the killed error, each member's call stops
// and each member received notifications/cancelled.
func TestVirtualKillCutsMembers(t *testing.T) {
	v := newVirtualRig(t)
	cs := v.connect(nil, "2025-11-25", nil)
	errs := make(chan error, 2)
	for _, tool := range []string{"a__hold", "b__hold"} {
		go func() {
			_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{}})
			errs <- err
		}()
	}
	within(t, v.members[0].started, "a to start")
	within(t, v.members[1].started, "b to start")
	rep := v.gw.Kill(context.Background(), gateway.Selector{SessionID: cs.ID()}, "test kill")
	if rep.Calls != 2 {
		t.Errorf("kill report %+v, want 2 calls", rep)
	}
	assertKilled(t, within(t, errs, "the first killed call"))
	assertKilled(t, within(t, errs, "the second killed call"))
	within(t, v.members[0].stopped, "a to stop")
	within(t, v.members[1].stopped, "b to stop")
	for _, m := range v.members[:2] {
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, methods := m.seen()
			if slices.Contains(methods, "notifications/cancelled") {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("member %s never received notifications/cancelled: %v", m.name, methods)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestVirtualClientCancel: a client's cancel of a call on a member stops the
// member's call, which receives notifications/cancelled; the session goes on.
func TestVirtualClientCancel(t *testing.T) {
	v := newVirtualRig(t)
	cs := v.connect(nil, "2025-11-25", nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "b__hold", Arguments: map[string]any{}})
		errc <- err
	}()
	within(t, v.members[1].started, "b to start")
	cancel()
	if err := within(t, errc, "the cancelled call"); err == nil {
		t.Fatal("the cancelled call succeeded")
	}
	within(t, v.members[1].stopped, "b to stop")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, methods := v.members[1].seen(); slices.Contains(methods, "notifications/cancelled") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("member b never received notifications/cancelled")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, err := vCallText(cs, "b__echo", map[string]any{"text": "after"}); err != nil || got != "b:after" {
		t.Errorf("b__echo after the cancel = %q, %v", got, err)
	}
}

// TestVirtualElicitationFromTwoMembers: two members elicit at once, each
// with its first request id (they collide); each answer goes back to the
// member that asked.
func TestVirtualElicitationFromTwoMembers(t *testing.T) {
	v := newVirtualRig(t)
	cs := v.connect(nil, "2025-11-25", &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"answer": "for " + strings.TrimPrefix(req.Params.Message, "from ")}}, nil
		},
	})
	type res struct {
		tool, text string
		err        error
	}
	out := make(chan res, 2)
	for _, tool := range []string{"a__ask", "b__ask"} {
		go func() {
			text, err := vCallText(cs, tool, map[string]any{})
			out <- res{tool, text, err}
		}()
	}
	for range 2 {
		r := within(t, out, "an elicitation round trip")

		want := map[string]string{"a__ask": "a got for a", "b__ask": "b got for b"}[r.tool]
		if r.err != nil || r.text != want {
			t.Errorf("%s = %q, %v; want %q", r.tool, r.text, r.err, want)
		}
	}
}

// TestVirtualBridgedMembers: members of the other transports — a stdio child
// and a legacy HTTP+SSE server — are reached through the gateway's bridges.
func TestVirtualBridgedMembers(t *testing.T) {
	stdioServer := buildStdioServer(t)
	ledger := &expenses.Ledger{}
	srv := expenses.NewServer(ledger)
	sse := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	legacy := httptest.NewServer(sse)
	t.Cleanup(func() { legacy.CloseClientConnections(); legacy.Close() })
	v := newVirtualRigYAML(t, `version: 1
upstreams:
  - slug: fed
    members:
      - {name: files, transport: stdio, command: [%q]}
      - {name: legacy, transport: sse, url: %s, downstream_audience: "https://legacy.internal"}
    tools:
      files__echo: {scope: fed:read}
      legacy__list_expenses: {scope: fed:read}
      legacy__submit_expense: {scope: fed:write, amount: {pointer: /amount, currency: USD}, category: /category}
`, stdioServer, legacy.URL)
	cs := v.connect(nil, "2025-11-25", nil)
	want := []string{"files__echo", "legacy__list_expenses", "legacy__submit_expense"}
	if got := vToolNames(t, cs); !slices.Equal(got, want) {
		t.Fatalf("tools = %v, want %v", got, want)
	}
	if got, err := vCallText(cs, "files__echo", map[string]any{"text": "over stdio"}); err != nil || got != "over stdio" {
		t.Errorf("files__echo = %q, %v", got, err)
	}
	if _, err := vCallText(cs, "legacy__submit_expense", map[string]any{"amount": 12, "category": "meals", "currency": "USD"}); err != nil {
		t.Errorf("legacy__submit_expense: %v", err)
	}
	if n := len(ledger.Expenses()); n != 1 {
		t.Errorf("the legacy member holds %d expenses, want 1", n)
	}
}

// TestVirtualRoots: a member's roots/list reaches the client, which answers
// with its roots (2025-11-25: server-to-client requests need a session).
func TestVirtualRoots(t *testing.T) {
	v := newVirtualRig(t)
	cl := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, nil)
	cl.AddRoots(&mcp.Root{URI: "file:///work/project", Name: "project"})
	tok := v.token(tokenOptions{audience: v.endpoint(), scopes: []string{"fed:read"}})
	cs, err := cl.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: v.endpoint(),
		HTTPClient: &http.Client{Transport: bearerTransport{token: tok}}, MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"}) // server-to-client requests: the session era
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if got, err := vCallText(cs, "a__roots", map[string]any{}); err != nil || got != "a sees file:///work/project" {
		t.Errorf("a__roots = %q, %v", got, err)
	}
}

// TestVirtualReload: a registry reload that moves a member starts a new
// virtual handler for new sessions; a session opened before keeps the
// members it started with.
func TestVirtualReload(t *testing.T) {
	a, b, other := newMember(t, "a"), newMember(t, "b"), newMember(t, "other")
	v := &vrig{rig: &rig{t: t, events: &eventLog{}}}
	var err error
	if v.key, err = authority.GenerateEd25519Key("issuer-1"); err != nil {
		t.Fatal(err)
	}
	if v.gwKey, err = authority.GenerateEd25519Key("gw-1"); err != nil {
		t.Fatal(err)
	}
	v.keys = authority.NewKeySet()
	v.keys.Add(v.key, time.Time{})
	v.server = httptest.NewUnstartedServer(nil)
	public := "http://" + v.server.Listener.Addr().String()
	var current atomic.Pointer[upstreams.Registry]
	load := func(bURL string) {
		reg, err := upstreams.Parse("fed.yaml", []byte(fmt.Sprintf(`version: 1
upstreams:
  - slug: fed
    members:
      - {name: a, url: %s}
      - {name: b, url: %s}
    tools:
      a__echo: {scope: fed:read}
      b__echo: {scope: fed:read}
`, a.srv.URL, bURL)), upstreams.Options{PublicURL: public})
		if err != nil {
			t.Fatal(err)
		}
		current.Store(reg)
	}
	load(b.srv.URL)
	if v.gw, err = gateway.New(gateway.Options{Registry: current.Load,
		Issuer: testIssuer, Keys: v.keys, Signer: v.gwKey, PublicURL: public, Recorder: v.events}); err != nil {
		t.Fatal(err)
	}
	v.server.Config.Handler = v.gw
	v.server.Start()
	t.Cleanup(func() { v.server.Close(); v.gw.Close() })

	before := v.connect(nil, "2025-11-25", nil)
	if got, err := vCallText(before, "b__echo", map[string]any{"text": "x"}); err != nil || got != "b:x" {
		t.Fatalf("b__echo = %q, %v", got, err)
	}
	load(other.srv.URL) // member b now lives elsewhere
	after := v.connect(nil, "2025-11-25", nil)
	if got, err := vCallText(after, "b__echo", map[string]any{"text": "x"}); err != nil || got != "other:x" {
		t.Errorf("b__echo in a session opened after the reload = %q, %v; want the moved member", got, err)
	}
	if got, err := vCallText(before, "b__echo", map[string]any{"text": "y"}); err != nil || got != "b:y" {
		t.Errorf("b__echo in the session opened before = %q, %v; want its own member", got, err)
	}
}

// TestVirtualPagination: a merged list longer than a page is paginated with
// the virtual server's own opaque cursors, through the gateway; a tampered
// cursor is refused.
func TestVirtualPagination(t *testing.T) {
	const n = 700 // more than a page (virtual.PageSize) across two members
	var tools strings.Builder
	members := []*member{newMember(t, "a"), newMember(t, "b")}
	for i := range n {
		m := members[i%2]
		name := fmt.Sprintf("t%03d", i)
		mcp.AddTool(m.sdk, &mcp.Tool{Name: name}, func(context.Context, *mcp.CallToolRequest, echoIn) (*mcp.CallToolResult, any, error) {
			return nil, nil, nil
		})
		fmt.Fprintf(&tools, "      %s__%s: {scope: fed:read}\n", m.name, name)
	}
	v := newVirtualRigYAML(t, `version: 1
upstreams:
  - slug: fed
    members:
      - {name: a, url: %s}
      - {name: b, url: %s}
    tools:
%s`, members[0].srv.URL, members[1].srv.URL, tools.String())
	cs := v.connect(nil, "2025-11-25", nil)
	ctx := context.Background()
	first, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.NextCursor == "" || len(first.Tools) >= n+3 {
		t.Fatalf("first page: %d tools, next cursor %q: want a partial page", len(first.Tools), first.NextCursor)
	}
	seen := map[string]bool{}
	for tl, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if seen[tl.Name] {
			t.Fatalf("%s listed twice", tl.Name)
		}
		seen[tl.Name] = true
	}
	if len(seen) != n {
		t.Errorf("paged through %d tools, want %d", len(seen), n)
	}
	bad := []byte(first.NextCursor)
	bad[len(bad)-1] ^= 1
	if _, err := cs.ListTools(ctx, &mcp.ListToolsParams{Cursor: string(bad)}); err == nil {
		t.Error("a tampered cursor was accepted")
	}
}

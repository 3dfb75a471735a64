package gateway_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/examples/expenses"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/upstreams"
)

const testIssuer = "https://issuer.test"

// rig is a real upstream MCP server, the gateway in front of it, and the keys
// to mint tokens: the pieces of every proxy-path test.
type rig struct {
	t        *testing.T
	ledger   *expenses.Ledger
	upstream *httptest.Server
	gw       *gateway.Gateway
	server   *httptest.Server
	keys     *authority.KeySet
	key      *authority.Key
	gwKey    *authority.Key
	events   *eventLog
	// seenAuth records the Authorization headers the upstream received.
	seenAuth *headerLog
	// seenLastEventID records the Last-Event-ID headers the upstream received.
	seenLastEventID *headerLog
	// deletes counts the DELETE requests the upstream received.
	deletes atomic.Int64
	// upstreamConns counts the TCP connections the upstream accepted.
	upstreamConns atomic.Int64
	// seenMethods records the method of every message the upstream received
	// (governance_test.go: a refusal must leave it unchanged).
	seenMethods *methodLog
}

type rigOptions struct {
	stateless bool                   // upstream in stateless mode
	extraYAML string                 // appended to the expenses tool bindings
	gwOpts    func(*gateway.Options) // last-minute changes
	server    func(*mcp.Server)      // adds tools to the upstream
	// upstream replaces the expenses server; registry then replaces the
	// tool bindings (YAML under "tools:", indented six spaces).
	upstream     *mcp.Server
	registry     string
	jsonResponse bool // upstream answers POSTs with JSON instead of SSE
	eventStore   bool // upstream keeps events for resumption (mcp.NewMemoryEventStore)
	// handler replaces the upstream MCP server with a raw HTTP handler.
	handler http.Handler
	idle    string // the registry's timeouts.idle for the upstream ("" = default)
	// timeouts is the registry's timeouts mapping of the upstream, e.g.
	// "{call: 1s}" ("" = defaults; idle, when set, wins).
	timeouts string
	// upstreamURL replaces the rig's upstream in the registry (a raw listener).
	upstreamURL string
	// h2c: the upstream speaks only HTTP/2 over cleartext and the registry
	// says h2c: true; upstreamConns counts its connections.
	h2c bool
	// listener wraps the gateway's listener (to watch what it writes).
	listener func(net.Listener) net.Listener
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, ledger: &expenses.Ledger{}, events: &eventLog{}, seenAuth: &headerLog{}, seenLastEventID: &headerLog{}, seenMethods: &methodLog{}}
	srv := o.upstream
	if srv == nil {
		srv = expenses.NewServer(r.ledger)
		addTestTools(srv)
	}
	if o.server != nil {
		o.server(srv)
	}
	hopts := &mcp.StreamableHTTPOptions{Stateless: o.stateless, JSONResponse: o.jsonResponse}
	if o.eventStore {
		hopts.EventStore = mcp.NewMemoryEventStore(nil)
	}
	var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, hopts)
	if o.handler != nil {
		h = o.handler
	}
	r.upstream = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.ProtoMajor != 2 && o.h2c {
			http.Error(w, "HTTP/2 only", http.StatusHTTPVersionNotSupported)
			return
		}
		r.seenAuth.add(req.Header.Get("Authorization"))
		if req.Method == http.MethodDelete {
			r.deletes.Add(1)
		}
		if v := req.Header.Values("Last-Event-ID"); len(v) > 0 {
			r.seenLastEventID.add(v[0])
		}
		r.seenMethods.read(req)
		h.ServeHTTP(w, req)
	}))
	if o.h2c {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		r.upstream.Config.Protocols = &p
	}
	r.upstream.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			r.upstreamConns.Add(1)
		}
	}
	r.upstream.Start()
	t.Cleanup(r.upstream.Close)

	var err error
	if r.key, err = authority.GenerateEd25519Key("issuer-1"); err != nil {
		t.Fatal(err)
	}
	if r.gwKey, err = authority.GenerateEd25519Key("gw-1"); err != nil {
		t.Fatal(err)
	}
	r.keys = authority.NewKeySet()
	r.keys.Add(r.key, time.Time{})

	// The gateway's URL is needed for inbound audiences before it starts.
	r.server = httptest.NewUnstartedServer(nil)
	public := "http://" + r.server.Listener.Addr().String()
	upURL := r.upstream.URL
	if o.upstreamURL != "" {
		upURL = o.upstreamURL
	}
	yaml := registryYAML(upURL, o.extraYAML)
	if o.registry != "" {
		yaml = registryHead(upURL) + o.registry
	}
	if o.h2c {
		yaml = strings.Replace(yaml, "    transport: streamable-http\n", "    transport: streamable-http\n    h2c: true\n", 1)
	}
	if o.idle != "" {
		o.timeouts = "{idle: " + o.idle + "}"
	}
	if o.timeouts != "" {
		yaml = strings.Replace(yaml, "    tools:\n", "    timeouts: "+o.timeouts+"\n    tools:\n", 1)
	}
	reg, err := upstreams.Parse("test.yaml", []byte(yaml), upstreams.Options{PublicURL: public})
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	opts := gateway.Options{
		Registry:  func() *upstreams.Registry { return reg },
		Issuer:    testIssuer,
		Keys:      r.keys,
		Signer:    r.gwKey,
		PublicURL: public,
		Recorder:  r.events,
	}
	if o.gwOpts != nil {
		o.gwOpts(&opts)
	}
	if r.gw, err = gateway.New(opts); err != nil {
		t.Fatal(err)
	}
	r.server.Config.Handler = r.gw
	if o.listener != nil {
		r.server.Listener = o.listener(r.server.Listener)
	}
	r.server.Start()
	t.Cleanup(func() { r.server.Close(); r.gw.Close() })
	return r
}

func registryHead(upstreamURL string) string {
	return fmt.Sprintf(`version: 1
upstreams:
  - slug: expenses
    transport: streamable-http
    url: %s
    downstream_audience: https://expenses.internal
    tools:
`, upstreamURL)
}

func registryYAML(upstreamURL, extra string) string {
	return registryHead(upstreamURL) + fmt.Sprintf(`      list_expenses:
        scope: expenses:read
      submit_expense:
        scope: expenses:write
        amount: {pointer: /amount, currency: USD}
        category: /category
        mutating: true
      delete_all:
        scope: expenses:admin
        mutating: true
      count:
        scope: expenses:read
      ask_model:
        scope: expenses:read
      confirm:
        scope: expenses:read
%s`, extra)
}

func (r *rig) endpoint() string { return r.server.URL + "/mcp/expenses" }

// tokenOptions shapes a test token; zero values mean a typical delegation.
type tokenOptions struct {
	user     string
	agents   []string
	scopes   []string
	c        *authority.Constraints
	audience string
	ttl      time.Duration
	id       string
}

func (r *rig) token(o tokenOptions) string {
	r.t.Helper()
	if o.user == "" {
		o.user = "alice"
	}
	if o.agents == nil {
		o.agents = []string{"planner"}
	}
	if o.scopes == nil {
		o.scopes = []string{"expenses:read", "expenses:write"}
	}
	c := authority.Unrestricted()
	if o.c != nil {
		c = *o.c
	}
	if o.audience == "" {
		o.audience = r.endpoint()
	}
	if o.ttl == 0 {
		o.ttl = time.Hour
	}
	if o.id == "" {
		o.id = fmt.Sprintf("jti-%d", time.Now().UnixNano())
	}
	var act *authority.Actor
	for _, a := range o.agents {
		act = &authority.Actor{Subject: a, Actor: act}
	}
	now := time.Now()
	tok, err := authority.Sign(r.key, &authority.Claims{
		Issuer: testIssuer, Subject: o.user, Audience: []string{o.audience},
		IssuedAt: now, ExpiresAt: now.Add(o.ttl), ID: o.id, ClientID: "test-client",
		Scopes: o.scopes, Actor: act, DelegationID: "del-" + o.id, Constraints: c,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return tok
}

// bearerTransport adds a bearer token to every request, as an agent host does.
type bearerTransport struct {
	token string
	base  http.RoundTripper
}

func (b bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	base := b.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}

// connect opens a go-sdk client session through the gateway.
func (r *rig) connect(token, version string, opts *mcp.ClientOptions) *mcp.ClientSession {
	r.t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, opts)
	tr := &mcp.StreamableClientTransport{Endpoint: r.endpoint(),
		HTTPClient: &http.Client{Transport: bearerTransport{token: token}}, MaxRetries: -1}
	cs, err := c.Connect(context.Background(), tr, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		r.t.Fatalf("connect (%s): %v", version, err)
	}
	r.t.Cleanup(func() { cs.Close() })
	return cs
}

// eventLog is a Recorder that keeps events in memory for assertions.
type eventLog struct {
	mu     sync.Mutex
	events []audit.Event
	notify chan struct{}
}

func (l *eventLog) Record(_ context.Context, evs []audit.Event) error {
	l.mu.Lock()
	l.events = append(l.events, evs...)
	if l.notify != nil {
		close(l.notify)
		l.notify = nil
	}
	l.mu.Unlock()
	return nil
}

// waitFor returns the first event matching pred, waiting for new events
// (they are written off the request path) for at most 10 seconds.
func (l *eventLog) waitFor(t *testing.T, pred func(audit.Event) bool) audit.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		for _, e := range l.events {
			if pred(e) {
				l.mu.Unlock()
				return e
			}
		}
		if l.notify == nil {
			l.notify = make(chan struct{})
		}
		ch := l.notify
		l.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("no matching audit event")
		}
	}
}

type headerLog struct {
	mu   sync.Mutex
	vals []string
}

func (h *headerLog) add(v string) {
	h.mu.Lock()
	h.vals = append(h.vals, v)
	h.mu.Unlock()
}

func (h *headerLog) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.vals...)
}

// addTestTools adds tools that exercise the relay: progress, sampling and
// elicitation (multi-round-trip, which the SDK turns into server-to-client
// requests for clients of earlier revisions).
func addTestTools(s *mcp.Server) {
	type countIn struct {
		N        int `json:"n"`
		PeriodMS int `json:"period_ms"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "count", Description: "Counts to n, one progress notification per step"},
		func(ctx context.Context, req *mcp.CallToolRequest, in countIn) (*mcp.CallToolResult, any, error) {
			tick := time.NewTicker(time.Duration(max(in.PeriodMS, 1)) * time.Millisecond)
			defer tick.Stop()
			for i := 1; i <= in.N; i++ {
				select {
				case <-ctx.Done():
					return nil, nil, ctx.Err()
				case <-tick.C:
				}
				if tok := req.Params.GetProgressToken(); tok != nil {
					req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i), Total: float64(in.N)})
				}
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("counted to %d", in.N)}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "ask_model", Description: "Asks the client's model (sampling)"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			resp, ok := req.Params.InputResponses["sample"]
			if !ok {
				return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"sample": &mcp.CreateMessageParams{
					MaxTokens: 10, Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}}}}}, nil, nil
			}
			var text string
			switch r := resp.(type) {
			case *mcp.CreateMessageResult:
				text = r.Content.(*mcp.TextContent).Text
			case *mcp.CreateMessageWithToolsResult:
				if len(r.Content) > 0 {
					text = r.Content[0].(*mcp.TextContent).Text
				}
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "model said: " + text}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "confirm", Description: "Asks the user (elicitation)"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			resp, ok := req.Params.InputResponses["ok"]
			if !ok {
				return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"ok": &mcp.ElicitParams{Message: "Proceed?"}}}, nil, nil
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "user chose " + resp.(*mcp.ElicitResult).Action}}}, nil, nil
		})
}

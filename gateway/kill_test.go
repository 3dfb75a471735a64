package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/policy"
)

// holdProbe is an upstream tool, "hold", that runs until it is cancelled: the
// call a kill must cut. It reports each start (with the upstream session
// running it) and each stop, and counts every call the upstream started.
type holdProbe struct {
	calls   atomic.Int64
	started chan *mcp.ServerSession
	stopped chan struct{}
	release chan struct{} // closed when the test ends: no call outlives it
}

const holdYAML = "      hold:\n        scope: expenses:read\n"

// newHoldRig returns a rig whose upstream has the hold tool, and its probe.
func newHoldRig(t *testing.T, o rigOptions) (*rig, *holdProbe) {
	p := &holdProbe{started: make(chan *mcp.ServerSession, 16), stopped: make(chan struct{}, 16),
		release: make(chan struct{})}
	o.server, o.extraYAML = p.add, holdYAML
	r := newRig(t, o)
	// Registered after the rig's: runs first, so no held call keeps the
	// upstream server from closing.
	t.Cleanup(func() { close(p.release) })
	return r, p
}

func (p *holdProbe) add(s *mcp.Server) {
	mcp.AddTool(s, &mcp.Tool{Name: "hold"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		p.calls.Add(1)
		if tok := req.Params.GetProgressToken(); tok != nil {
			req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: 1})
		}
		p.started <- req.Session
		select {
		case <-ctx.Done():
			p.stopped <- struct{}{}
			return nil, nil, ctx.Err()
		case <-p.release:
			return nil, nil, errors.New("released")
		}
	})
}

// within waits for ch, failing the test after a generous bound (a hang, not a
// timing assertion).
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// assertKilled checks that err is the JSON-RPC error a kill answers with.
func assertKilled(t *testing.T, err error) {
	t.Helper()
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) {
		t.Fatalf("want the killed JSON-RPC error, got %v", err)
	}
	var data struct{ Reason string }
	json.Unmarshal(werr.Data, &data)
	if werr.Code != gateway.CodeKilled || data.Reason != "killed" {
		t.Fatalf("error = %d %q reason %q, want %d reason killed", werr.Code, werr.Message, data.Reason, gateway.CodeKilled)
	}
}

// TestKillMidCall kills a session by each kind of selector while a tool call
// runs: the waiting client gets the killed error, the upstream stops the
// call and ends its session, nothing more reaches it, and the kill is
// audited.
func TestKillMidCall(t *testing.T) {
	selectors := []struct {
		name string
		sel  func(sessionID string) gateway.Selector
	}{
		{"session", func(id string) gateway.Selector { return gateway.Selector{SessionID: id} }},
		{"jti", func(string) gateway.Selector { return gateway.Selector{TokenID: "jti-victim"} }},
		{"delegation", func(string) gateway.Selector { return gateway.Selector{DelegationID: "del-jti-victim"} }},
		{"agent", func(string) gateway.Selector { return gateway.Selector{Agent: "planner"} }},
		{"user", func(string) gateway.Selector { return gateway.Selector{User: "alice"} }},
	}
	phases := []struct {
		name     string
		progress bool // the upstream has started streaming when the kill lands
	}{{"awaiting response", false}, {"streaming", true}}
	for _, s := range selectors {
		for _, ph := range phases {
			t.Run(s.name+"/"+ph.name, func(t *testing.T) {
				r, p := newHoldRig(t, rigOptions{})
				progressed := make(chan struct{}, 1)
				cs := connectNoStream(t, r, &swappableBearer{token: r.token(tokenOptions{id: "jti-victim"})}, "2025-11-25", &mcp.ClientOptions{
					ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) {
						progressed <- struct{}{}
					}})
				bystander := r.connect(r.token(tokenOptions{user: "bob", agents: []string{"other"}}), "2025-11-25", nil)

				params := &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{}}
				if ph.progress {
					params.SetProgressToken("p")
				}
				errc := make(chan error, 1)
				go func() {
					_, err := cs.CallTool(context.Background(), params)
					errc <- err
				}()
				upstreamSession := within(t, p.started, "the upstream to start the call")
				if ph.progress {
					within(t, progressed, "the progress notification")
				}
				rep := r.gw.Kill(context.Background(), s.sel(cs.ID()), "test kill")
				if len(rep.Sessions) != 1 || rep.Sessions[0] != cs.ID() || rep.Calls < 1 {
					t.Errorf("report = %+v, want session %s and at least one call", rep, cs.ID())
				}
				assertKilled(t, within(t, errc, "the killed call to return"))
				within(t, p.stopped, "the upstream to stop the call")
				ended := make(chan error, 1)
				go func() { ended <- upstreamSession.Wait() }()
				within(t, ended, "the upstream session to end (DELETE)")

				before := p.calls.Load()
				if _, err := cs.CallTool(context.Background(), params); err == nil {
					t.Fatal("a call on the killed session succeeded")
				}
				if got := p.calls.Load(); got != before {
					t.Fatalf("the upstream started %d calls after the kill", got-before)
				}
				if _, err := bystander.ListTools(context.Background(), nil); err != nil {
					t.Fatalf("another principal's session was hurt by the kill: %v", err)
				}
				ev := r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindKill })
				if ev.SessionID != cs.ID() || ev.Reason != "test kill" || ev.User != "alice" {
					t.Errorf("kill event = %+v", ev)
				}
				r.events.waitFor(t, func(e audit.Event) bool {
					return e.Kind == audit.KindEdge403 && e.Reason == "killed_session" && e.SessionID == cs.ID()
				})
			})
		}
	}
}

// TestKillStatelessCall kills an in-flight call of revision 2026-07-28, which
// has no session: the token selects it.
func TestKillStatelessCall(t *testing.T) {
	r, p := newHoldRig(t, rigOptions{stateless: true})
	cs := r.connect(r.token(tokenOptions{id: "jti-stateless"}), "2026-07-28", nil)
	errc := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{}})
		errc <- err
	}()
	within(t, p.started, "the upstream to start the call")
	rep := r.gw.Kill(context.Background(), gateway.Selector{TokenID: "jti-stateless"}, "test kill")
	if rep.Calls < 1 {
		t.Errorf("report = %+v, want the call", rep)
	}
	assertKilled(t, within(t, errc, "the killed call to return"))
	// Whether the upstream stops the call is up to it: a stateless go-sdk
	// server (v1.8.0) neither ties the handler to the HTTP request nor can
	// route a notifications/cancelled sent on another request (docs/KILL.md).
}

// TestKillClosesStreams: the session's standalone GET stream ends.
func TestKillClosesStreams(t *testing.T) {
	r := newRig(t, rigOptions{})
	tok := r.token(tokenOptions{})
	init := rawPost(t, r.endpoint(), tok, nil, initBody)
	sid := init.header.Get("Mcp-Session-Id")
	hdr := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-06-18"}
	rawPost(t, r.endpoint(), tok, hdr, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	req, _ := http.NewRequest(http.MethodGet, r.endpoint(), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET stream: %d", resp.StatusCode)
	}
	eof := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, bufio.NewReader(resp.Body))
		eof <- err
	}()
	r.gw.Kill(context.Background(), gateway.Selector{SessionID: sid}, "test kill")
	within(t, eof, "the GET stream to close")
}

// TestKillCutsCallsOfAnyTokenOnTheSession: a session opened with one token
// and used with a second (a refreshed token, same principal) is killed by
// the first token's jti; the call in flight with the second token is a call
// of the killed session and must get the killed error, the upstream a
// notifications/cancelled.
func TestKillCutsCallsOfAnyTokenOnTheSession(t *testing.T) {
	r, p := newHoldRig(t, rigOptions{})
	tr := &swappableBearer{token: r.token(tokenOptions{id: "jti-first"})}
	cs := connectNoStream(t, r, tr, "2025-11-25", nil)
	tr.set(r.token(tokenOptions{id: "jti-second"}))

	errc := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{}})
		errc <- err
	}()
	within(t, p.started, "the upstream to start the call")
	rep := r.gw.Kill(context.Background(), gateway.Selector{TokenID: "jti-first"}, "test kill")
	if len(rep.Sessions) != 1 || rep.Calls < 1 {
		t.Errorf("report = %+v, want the session and its call", rep)
	}
	assertKilled(t, within(t, errc, "the killed call to return"))
	within(t, p.stopped, "the upstream to stop the call")
}

// connectNoStream opens a client session without the standalone GET stream,
// so that what a test sees of a kill is the answer to its call alone
// (TestKillAnswersCallsBeforeClosingStreams covers the stream).
func connectNoStream(t *testing.T, r *rig, tr http.RoundTripper, version string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, opts)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: r.endpoint(),
		HTTPClient: &http.Client{Transport: tr}, MaxRetries: -1, DisableStandaloneSSE: true},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// swappableBearer is a bearerTransport whose token can change mid-session.
type swappableBearer struct {
	mu    sync.Mutex
	token string
}

func (b *swappableBearer) set(tok string) {
	b.mu.Lock()
	b.token = tok
	b.mu.Unlock()
}

func (b *swappableBearer) RoundTrip(req *http.Request) (*http.Response, error) {
	b.mu.Lock()
	tok := b.token
	b.mu.Unlock()
	return bearerTransport{token: tok}.RoundTrip(req)
}

// TestKillAnswersCallsBeforeClosingStreams: a client with its standalone
// GET stream open must get the killed error for its call before any of its
// streams close. go-sdk's client (like others) treats the end of its
// standalone stream, with no retry left, as the end of the connection and
// fails every pending call with that instead: if the gateway closes the
// stream first, the client never learns its call was killed.
//
// Kill cuts the calls first, waits for them to answer, then closes streams.
func TestKillAnswersCallsBeforeClosingStreams(t *testing.T) {
	for i := range 20 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			r, p := newHoldRig(t, rigOptions{})
			cs := r.connect(r.token(tokenOptions{}), "2025-11-25", nil) // standalone stream, no retries
			errc := make(chan error, 1)
			go func() {
				_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{}})
				errc <- err
			}()
			within(t, p.started, "the upstream to start the call")
			r.gw.Kill(context.Background(), gateway.Selector{SessionID: cs.ID()}, "test kill")
			assertKilled(t, within(t, errc, "the killed call to return"))
		})
	}
}

// gatedLedger is a real in-memory ledger whose next Reserve waits at a gate:
// it holds a tools/call after the gateway has accepted it (token, session,
// envelope) and before it is forwarded, which is where a kill can land.
type gatedLedger struct {
	policy.Ledger
	arrived chan struct{} // a Reserve is waiting at the gate
	open    chan struct{} // closed to let it through
	armed   atomic.Bool
}

func (l *gatedLedger) Reserve(ctx context.Context, r policy.Reservation) (policy.Hold, error) {
	if l.armed.CompareAndSwap(true, false) {
		l.arrived <- struct{}{}
		<-l.open
	}
	return l.Ledger.Reserve(ctx, r)
}

// TestKillStopsCallsAcceptedJustBefore: a tools/call accepted an instant
// before the kill (past the token and session checks, not yet forwarded) must
// not reach the upstream, and its client gets the killed error.
//
// The gateway looks again once the call is registered as in flight.
func TestKillStopsCallsAcceptedJustBefore(t *testing.T) {
	ledger := &gatedLedger{Ledger: policy.NewMemoryLedger(), arrived: make(chan struct{}), open: make(chan struct{})}
	r, p := newHoldRig(t, rigOptions{gwOpts: func(o *gateway.Options) { o.Ledger = ledger }})
	maxCalls := int64(100)
	c := authority.Unrestricted()
	c.MaxCalls = &maxCalls
	cs := connectNoStream(t, r, &swappableBearer{token: r.token(tokenOptions{c: &c})}, "2025-11-25", nil)

	first := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{}})
		first <- err
	}()
	within(t, p.started, "the first call to start")
	ledger.armed.Store(true)
	second := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{}})
		second <- err
	}()
	within(t, ledger.arrived, "the second call to be accepted")
	r.gw.Kill(context.Background(), gateway.Selector{SessionID: cs.ID()}, "test kill")
	close(ledger.open)

	assertKilled(t, within(t, first, "the first call to end"))
	assertKilled(t, within(t, second, "the second call to end"))
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("the upstream started %d calls; the one accepted before the kill must not reach it", n)
	}
}

// TestKillStopsStdioChild: killing a session of a stdio upstream ends its
// bridge session, which stops the child process.
func TestKillStopsStdioChild(t *testing.T) {
	b := newBridgedRig(t)
	cs := b.connectTo("files", b.tokenFor("files", "files:read"), "2025-11-25")
	pid := callInt(t, cs, "pid")
	rep := b.gw.Kill(context.Background(), gateway.Selector{SessionID: cs.ID()}, "test kill")
	if len(rep.Sessions) != 1 {
		t.Fatalf("report = %+v, want the session", rep)
	}
	// The child is stopped off the kill path (stdin closed, then its process
	// group killed after a grace): poll, bounded, for it to be gone.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(20 * time.Second)
	for !processGone(pid) {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("child %d survived the kill of its session", pid)
		}
	}
}

// slowEndStore is a SessionStore whose EndSession takes a while, so that a
// Close that does not wait for the work of a kill returns before it is done.
type slowEndStore struct {
	mu    sync.Mutex
	ended []string
}

func (*slowEndStore) SaveSession(context.Context, gateway.SessionRecord) error { return nil }
func (*slowEndStore) LoadSession(context.Context, string) (*gateway.SessionRecord, error) {
	return nil, gateway.ErrSessionNotFound
}
func (*slowEndStore) TouchSession(context.Context, string, gateway.Activity) error { return nil }
func (s *slowEndStore) EndSession(_ context.Context, id string, killed bool, _ string) error {
	time.Sleep(300 * time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	if killed {
		s.ended = append(s.ended, id)
	}
	return nil
}

func (s *slowEndStore) endedIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ended)
}

// TestCloseWaitsForKill: the goroutines a kill starts (closing streams after
// the grace period, ending the session upstream and in the store) are owned
// by the gateway: Close returns only once they are done.
func TestCloseWaitsForKill(t *testing.T) {
	for _, inflight := range []bool{false, true} {
		t.Run(fmt.Sprintf("inflight=%v", inflight), func(t *testing.T) {
			store := &slowEndStore{}
			r, p := newHoldRig(t, rigOptions{gwOpts: func(o *gateway.Options) { o.Sessions = store }})
			cs := connectNoStream(t, r, bearerTransport{token: r.token(tokenOptions{})}, "2025-11-25", nil)
			errc := make(chan error, 1)
			if inflight {
				go func() {
					_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{}})
					errc <- err
				}()
				within(t, p.started, "the upstream to start the call")
			}
			rep := r.gw.Kill(context.Background(), gateway.Selector{SessionID: cs.ID()}, "test kill")
			if len(rep.Sessions) != 1 {
				t.Fatalf("report = %+v, want one session", rep)
			}
			if inflight {
				assertKilled(t, within(t, errc, "the killed call to return"))
			}
			r.gw.Close()
			if got := store.endedIDs(); !slices.Equal(got, []string{cs.ID()}) {
				t.Fatalf("after Close, the store saw the end of %v, want [%s]", got, cs.ID())
			}
		})
	}
}

package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/policy"
)

// fourEyesRegistry makes submit_expense a four-eyes tool that bob, carol,
// alice and the agent "planner" are listed to approve (the last two to show
// that the list never lets the requester or the chain approve).
const fourEyesRegistry = `      submit_expense:
        scope: expenses:write
        amount: {pointer: /amount, currency: USD}
        category: /category
        approval: {from: [bob, carol, alice, planner], ttl: 5m}
      list_expenses:
        scope: expenses:read
`

// approverClient is an approver's inbox session: each elicitation it gets is
// handed to the test on asked, and answered with what the test sends on the
// question's answer.
type approverClient struct {
	cs    *mcp.ClientSession
	asked chan question
}

type question struct {
	*mcp.ElicitRequest
	answer chan *mcp.ElicitResult
}

func (r *rig) approver(user string, agents ...string) *approverClient {
	r.t.Helper()
	a := &approverClient{asked: make(chan question, 4)}
	done := make(chan struct{})
	c := mcp.NewClient(&mcp.Implementation{Name: "approver-" + user, Version: "1"}, &mcp.ClientOptions{
		ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			q := question{req, make(chan *mcp.ElicitResult, 1)}
			a.asked <- q
			select {
			case res := <-q.answer:
				return res, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-done:
				return nil, errors.New("the test ended")
			}
		}})
	if agents == nil {
		agents = []string{"approver-app"}
	}
	tok := r.token(tokenOptions{user: user, agents: agents, audience: r.server.URL + gateway.ApprovalsPath})
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: r.server.URL + gateway.ApprovalsPath,
		HTTPClient: &http.Client{Transport: bearerTransport{token: tok}}, MaxRetries: -1}, nil)
	if err != nil {
		r.t.Fatalf("approver %s: connect: %v", user, err)
	}
	r.t.Cleanup(func() { close(done); cs.Close() })
	a.cs = cs
	return a
}

// next waits for the approver's next question.
func (a *approverClient) next(t *testing.T) question {
	t.Helper()
	select {
	case q := <-a.asked:
		return q
	case <-time.After(10 * time.Second):
		t.Fatal("the approver was not asked")
		return question{}
	}
}

var (
	approve = &mcp.ElicitResult{Action: "accept", Content: map[string]any{"approve": true}}
	decline = &mcp.ElicitResult{Action: "decline"}
	dismiss = &mcp.ElicitResult{Action: "cancel"}
)

// rpcErrorOf returns the JSON-RPC error of err with its data, failing the
// test when err is not one.
func rpcErrorOf(t *testing.T, err error) (*jsonrpc.Error, policy.RPCErrorData) {
	t.Helper()
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) {
		t.Fatalf("want a JSON-RPC error, got %v", err)
	}
	var data policy.RPCErrorData
	json.Unmarshal(werr.Data, &data)
	return werr, data
}

// TestFourEyes drives the whole flow with real go-sdk clients: the call is
// refused pending approval and never reaches the upstream; the requester and
// an agent of her chain cannot approve it; bob, asked by elicitation,
// approves; the same call then runs exactly once and its replay needs a new
// approval. Every step is audited with both humans.
func TestFourEyes(t *testing.T) {
	r := newRig(t, rigOptions{registry: fourEyesRegistry})
	bob := r.approver("bob") // open before the call: asked as soon as it is made
	tok := r.token(tokenOptions{user: "alice", id: "jti-alice", agents: []string{"planner"}})
	agent := r.connect(tok, "", nil)
	ctx := context.Background()
	args := map[string]any{"amount": 900, "category": "travel"}

	_, err := agent.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense", Arguments: args})
	werr, data := rpcErrorOf(t, err)
	if werr.Code != policy.CodeApprovalRequired || data.Reason != policy.ReasonApprovalRequired || !strings.HasPrefix(data.Approval, "apr_") {
		t.Fatalf("first call: %d %q %+v, want %d approval_required with an id", werr.Code, werr.Message, data, policy.CodeApprovalRequired)
	}
	id := data.Approval
	if n := r.ledger.Calls.Load(); n != 0 {
		t.Fatalf("the upstream ran %d calls before any approval", n)
	}
	req := r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindApprovalRequested })
	if req.User != "alice" || req.Limit != id || req.Tool != "submit_expense" || req.TokenID != "jti-alice" || req.ArgsHash == "" {
		t.Fatalf("approval_requested = %+v", req)
	}

	// A second attempt before the decision names the same request.
	_, err = agent.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense", Arguments: args})
	if _, d := rpcErrorOf(t, err); d.Approval != id || d.Reason != policy.ReasonApprovalRequired {
		t.Fatalf("second attempt while pending: %+v, want the same request %s", d, id)
	}

	// Alice (the requester) and planner (in her chain) are listed, yet refused.
	for _, who := range []string{"alice", "planner"} {
		self := r.approver(who)
		_, err := self.cs.CallTool(ctx, &mcp.CallToolParams{Name: "approve", Arguments: map[string]any{"id": id}})
		if _, d := rpcErrorOf(t, err); d.Reason != policy.ReasonSelfApproval {
			t.Fatalf("%s approving: reason %q, want self_approval", who, d.Reason)
		}
		ev := r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindApprovalRefused && e.Value == who })
		if ev.User != "alice" || ev.Limit != id || ev.Reason != "self_approval" {
			t.Fatalf("approval_refused for %s = %+v", who, ev)
		}
		select {
		case q := <-self.asked:
			t.Fatalf("%s was asked to approve her own call: %q", who, q.Params.Message)
		default:
		}
	}
	// dave is not listed.
	dave := r.approver("dave")
	_, err = dave.cs.CallTool(ctx, &mcp.CallToolParams{Name: "approve", Arguments: map[string]any{"id": id}})
	if _, d := rpcErrorOf(t, err); d.Reason != policy.ReasonNotApprover {
		t.Fatalf("dave approving: reason %q, want not_an_approver", d.Reason)
	}

	q := bob.next(t)
	if !strings.Contains(q.Params.Message, id) || !strings.Contains(q.Params.Message, "user:alice → agent:planner") ||
		!strings.Contains(q.Params.Message, `"amount":900`) {
		t.Fatalf("bob's question = %q", q.Params.Message)
	}
	q.answer <- approve
	granted := r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindApprovalGranted })
	if granted.User != "alice" || granted.Value != "bob" || granted.Limit != id {
		t.Fatalf("approval_granted = %+v", granted)
	}

	res, err := agent.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense", Arguments: args})
	if err != nil || res.IsError {
		t.Fatalf("the approved call: %v %+v", err, res)
	}
	if n := r.ledger.Calls.Load(); n != 1 {
		t.Fatalf("the upstream ran %d calls, want 1", n)
	}
	allow := r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindAllow && e.Tool == "submit_expense" })
	if allow.User != "alice" || allow.Constraint != "approval" || allow.Limit != id || allow.Value != "bob" {
		t.Fatalf("allow of the approved call = %+v", allow)
	}

	// The approval was used: the replay opens a new request.
	_, err = agent.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense", Arguments: args})
	if _, d := rpcErrorOf(t, err); d.Reason != policy.ReasonApprovalRequired || d.Approval == id || d.Approval == "" {
		t.Fatalf("replay: %+v, want a new approval request", d)
	}
	if n := r.ledger.Calls.Load(); n != 1 {
		t.Fatalf("after the replay the upstream ran %d calls, want 1", n)
	}
	// The old id is gone.
	_, err = bob.cs.CallTool(ctx, &mcp.CallToolParams{Name: "approve", Arguments: map[string]any{"id": id}})
	if _, d := rpcErrorOf(t, err); d.Reason != policy.ReasonApprovalNotFound {
		t.Fatalf("approving a used request: %q, want approval_not_found", d.Reason)
	}
}

// TestFourEyesBoundToTheCall: an approval admits the approved arguments under
// the approved token only; other amounts, and the same call with another
// token of the same user, are refused and never reach the upstream. A
// decline is answered as declined, and the next attempt asks again.
func TestFourEyesBoundToTheCall(t *testing.T) {
	r := newRig(t, rigOptions{registry: fourEyesRegistry})
	bob := r.approver("bob")
	agent := r.connect(r.token(tokenOptions{user: "alice", id: "jti-a"}), "", nil)
	ctx := context.Background()
	call := func(cs *mcp.ClientSession, amount float64) (string, string) {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense", Arguments: map[string]any{"amount": amount, "category": "travel"}})
		if err == nil {
			return "allow", ""
		}
		_, d := rpcErrorOf(t, err)
		return string(d.Reason), d.Approval
	}
	if got, _ := call(agent, 100); got != "approval_required" {
		t.Fatalf("first call: %s", got)
	}
	bob.next(t).answer <- approve
	r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindApprovalGranted })

	if got, _ := call(agent, 1000); got != "approval_required" {
		t.Fatalf("another amount: %s, want approval_required", got)
	}
	big := bob.next(t) // asked about the 1000
	other := r.connect(r.token(tokenOptions{user: "alice", id: "jti-b"}), "", nil)
	if got, _ := call(other, 100); got != "approval_required" {
		t.Fatalf("the approved call under another token: %s, want approval_required", got)
	}
	otherQ := bob.next(t) // asked about jti-b's call
	if n := r.ledger.Calls.Load(); n != 0 {
		t.Fatalf("the upstream ran %d calls", n)
	}

	if !strings.Contains(big.Params.Message, `"amount":1000`) || !strings.Contains(otherQ.Params.Message, `"amount":100,`) {
		t.Fatalf("questions: %q, %q", big.Params.Message, otherQ.Params.Message)
	}
	big.answer <- decline
	declined := r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindApprovalDeclined })
	otherQ.answer <- dismiss // no decision
	got, id := call(agent, 1000)
	if got != "approval_declined" || id != declined.Limit {
		t.Fatalf("the declined call: %s %s, want approval_declined %s", got, id, declined.Limit)
	}
	if got, _ := call(agent, 1000); got != "approval_required" {
		t.Fatalf("after a decline: %s, want a new request", got)
	}
	if got, _ := call(agent, 100); got != "allow" {
		t.Fatalf("the approved call: %s", got)
	}
	if n := r.ledger.Calls.Load(); n != 1 {
		t.Fatalf("the upstream ran %d calls, want 1", n)
	}
}

// TestFourEyesKillCancels: a kill of the requester's token cancels its
// pending request: it can no longer be approved, the cancellation is
// audited, and nothing reached the upstream. The approver connects after the
// request was made and is asked about it.
func TestFourEyesKillCancels(t *testing.T) {
	r := newRig(t, rigOptions{registry: fourEyesRegistry})
	agent := r.connect(r.token(tokenOptions{user: "alice", id: "jti-k"}), "", nil)
	ctx := context.Background()
	_, err := agent.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense", Arguments: map[string]any{"amount": 5, "category": "travel"}})
	_, d := rpcErrorOf(t, err)
	bob := r.approver("bob") // connects later: asked about what is open
	bob.next(t)
	r.gw.Kill(ctx, gateway.Selector{TokenID: "jti-k"}, "stolen")
	ev := r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindApprovalCancelled })
	if ev.Limit != d.Approval || ev.User != "alice" || ev.Reason != "killed: stolen" {
		t.Fatalf("approval_cancelled = %+v", ev)
	}
	_, err = bob.cs.CallTool(ctx, &mcp.CallToolParams{Name: "approve", Arguments: map[string]any{"id": d.Approval}})
	if _, d := rpcErrorOf(t, err); d.Reason != policy.ReasonApprovalNotFound {
		t.Fatalf("approving a cancelled request: %q", d.Reason)
	}
	if n := r.ledger.Calls.Load(); n != 0 {
		t.Fatalf("the upstream ran %d calls", n)
	}
}

// TestApprovalsInboxAuth: the inbox takes only the approver's own token for
// its audience.
func TestApprovalsInboxAuth(t *testing.T) {
	r := newRig(t, rigOptions{registry: fourEyesRegistry})
	for name, tok := range map[string]string{
		"no token":                 "",
		"a token for the upstream": r.token(tokenOptions{user: "bob"}),
	} {
		req, _ := http.NewRequest(http.MethodPost, r.server.URL+gateway.ApprovalsPath,
			strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d %q, want 401 with a Bearer challenge", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindEdge401 && e.Upstream == "approvals" })
}

// TestApproveTool: an approver who connects after the question was asked
// elsewhere lists it with pending and decides it with approve, which asks
// them to confirm by an elicitation inside the tool call; the call then
// runs once. An approver token delegated through an agent is refused at the
// inbox's edge.
func TestApproveTool(t *testing.T) {
	r := newRig(t, rigOptions{registry: fourEyesRegistry})
	agent := r.connect(r.token(tokenOptions{user: "alice", id: "jti-p"}), "", nil)
	ctx := context.Background()
	args := map[string]any{"amount": 42, "category": "meals"}
	_, err := agent.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense", Arguments: args})
	_, d := rpcErrorOf(t, err)

	carol := r.approver("carol")
	carol.next(t).answer <- dismiss // the question on opening: dismissed, no decision
	res, err := carol.cs.CallTool(ctx, &mcp.CallToolParams{Name: "pending", Arguments: map[string]any{}})
	if err != nil || len(res.Content) != 1 || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, d.Approval) {
		t.Fatalf("pending: %v %+v, want the open request %s", err, res, d.Approval)
	}
	done := make(chan *mcp.CallToolResult, 1)
	go func() {
		res, err := carol.cs.CallTool(ctx, &mcp.CallToolParams{Name: "approve", Arguments: map[string]any{"id": d.Approval}})
		if err != nil {
			t.Errorf("approve: %v", err)
		}
		done <- res
	}()
	q := carol.next(t)
	if !strings.Contains(q.Params.Message, d.Approval) {
		t.Fatalf("confirmation = %q", q.Params.Message)
	}
	q.answer <- approve
	if res := <-done; res == nil || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "approved") {
		t.Fatalf("approve result = %+v", res)
	}
	if ev := r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindApprovalGranted }); ev.Value != "carol" {
		t.Fatalf("approval_granted = %+v", ev)
	}
	if _, err := agent.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense", Arguments: args}); err != nil {
		t.Fatalf("the approved call: %v", err)
	}
	if n := r.ledger.Calls.Load(); n != 1 {
		t.Fatalf("the upstream ran %d calls, want 1", n)
	}

	// bob's token exchanged on to an agent: not bob's own act.
	tok := r.token(tokenOptions{user: "bob", agents: []string{"approvals-app", "helper"}, audience: r.server.URL + gateway.ApprovalsPath})
	c := mcp.NewClient(&mcp.Implementation{Name: "helper", Version: "1"}, nil)
	if _, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: r.server.URL + gateway.ApprovalsPath,
		HTTPClient: &http.Client{Transport: bearerTransport{token: tok}}, MaxRetries: -1}, nil); err == nil {
		t.Fatal("an approver token with a delegation chain opened the inbox")
	}
	r.events.waitFor(t, func(e audit.Event) bool {
		return e.Kind == audit.KindEdge403 && e.Reason == "approver_delegated" && e.User == "bob"
	})
}

// TestFourEyesConcurrentRetries: eight sessions of the approved token retry
// the approved call at once; exactly one is forwarded.
func TestFourEyesConcurrentRetries(t *testing.T) {
	r := newRig(t, rigOptions{registry: fourEyesRegistry})
	bob := r.approver("bob")
	tok := r.token(tokenOptions{user: "alice", id: "jti-c"})
	ctx := context.Background()
	args := map[string]any{"amount": 7, "category": "travel"}
	first := r.connect(tok, "", nil)
	if _, err := first.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense", Arguments: args}); err == nil {
		t.Fatal("the first call was forwarded without an approval")
	}
	bob.next(t).answer <- approve
	r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindApprovalGranted })

	const n = 8
	sessions := []*mcp.ClientSession{first}
	for len(sessions) < n {
		sessions = append(sessions, r.connect(tok, "", nil))
	}
	results := make(chan error, n)
	start := make(chan struct{})
	for _, cs := range sessions {
		go func() {
			<-start
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense", Arguments: args})
			results <- err
		}()
	}
	close(start)
	allowed := 0
	for range n {
		if err := <-results; err == nil {
			allowed++
		} else if _, d := rpcErrorOf(t, err); d.Reason != policy.ReasonApprovalRequired {
			t.Errorf("a concurrent retry: %q, want approval_required", d.Reason)
		}
	}
	if allowed != 1 || r.ledger.Calls.Load() != 1 {
		t.Fatalf("allowed %d, upstream ran %d; want exactly 1", allowed, r.ledger.Calls.Load())
	}
}

// TestFourEyesExpiry: an approval expires ttl after its request was opened
// (5m in fourEyesRegistry): the approved call then opens a new request and
// never reaches the upstream, and an expired request cannot be approved.
func TestFourEyesExpiry(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	r := newRig(t, rigOptions{registry: fourEyesRegistry, gwOpts: func(o *gateway.Options) { o.Now = now }})
	bob := r.approver("bob")
	agent := r.connect(r.token(tokenOptions{user: "alice", id: "jti-x"}), "", nil)
	ctx := context.Background()
	args := map[string]any{"amount": 3, "category": "travel"}
	call := func() policy.RPCErrorData {
		_, err := agent.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense", Arguments: args})
		_, d := rpcErrorOf(t, err)
		return d
	}
	first := call()
	bob.next(t).answer <- approve
	r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindApprovalGranted })
	offset.Store(int64(5*time.Minute + time.Second))
	if d := call(); d.Reason != policy.ReasonApprovalRequired || d.Approval == first.Approval {
		t.Fatalf("after the ttl: %+v, want a new request", d)
	}
	second := bob.next(t) // asked about the new request
	offset.Store(int64(11 * time.Minute))
	second.answer <- approve // too late: decides nothing
	_, err := bob.cs.CallTool(ctx, &mcp.CallToolParams{Name: "approve", Arguments: map[string]any{"id": first.Approval}})
	if _, d := rpcErrorOf(t, err); d.Reason != policy.ReasonApprovalNotFound {
		t.Fatalf("approving an expired request: %q", d.Reason)
	}
	if n := r.ledger.Calls.Load(); n != 0 {
		t.Fatalf("the upstream ran %d calls", n)
	}
}

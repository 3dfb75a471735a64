package gateway

// Decide: the second step of a POST. Each message of the body is either kept
// for the upstream or answered by the gateway itself; a tools/call is kept only
// when package policy allows it. The exchange carries the outcome along the
// rest of the path (forward.go, relay.go).

import (
	"context"
	"net/http"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

// exchange is one client POST (or GET, DELETE) on its way through the
// gateway: what is forwarded, what the gateway answers itself, and the calls
// whose responses settle a budget hold. It is used by one request's goroutine
// only.
type exchange struct {
	up      *upstreams.Upstream
	claims  *authority.Claims
	sess    *session // nil for a request outside a session
	batch   bool
	body    []byte   // the client's body, forwarded unchanged when nothing was withheld
	forward [][]byte // raw messages to send upstream
	local   [][]byte // responses the gateway answers itself (denials)
	pending map[string]*pendingCall
	initID  string // raw id of an initialize request, "" if none
	// initURLElicit: the initialize declared capabilities.elicitation.url
	// (the session's client takes URL-mode elicitations: connect.go).
	initURLElicit bool
	status        int    // HTTP status of a local answer; 0 means 200 (400 for a lone invalid request)
	hasCall       bool   // a tools/call or tasks/result is forwarded (timeouts.call applies, not timeouts.request)
	version       string // the protocol revision of the request (header, else the session's); "" when unknown
	// req is the client's request (the public URL of a connect link); nil on
	// the gateway's own requests (a kill's DELETE).
	req *http.Request
	// oauthToken is the user's connection to an oauth upstream, read when
	// the call was decided (credentials.go) and used when it is forwarded.
	oauthToken *UpstreamToken
}

// pendingCall is a forwarded request whose response the gateway waits for.
type pendingCall struct {
	id     jsontext.Value
	method string // the request's method: which view its result gets (visibility.go)
	tool   string
	hold   policy.Hold      // nil when no budget or call count applies
	amount *authority.Money // the call's bound amount, if any
}

// newExchange starts the exchange of a request of c to up; body is the
// client's POST body (nil for GET and DELETE).
func newExchange(up *upstreams.Upstream, c *authority.Claims, sess *session, body []byte, batch bool) *exchange {
	return &exchange{up: up, claims: c, sess: sess, batch: batch, body: body, pending: map[string]*pendingCall{}}
}

// decide decides what happens to one message of a POST: forwarded (a request
// then waits for its response), answered by the gateway (a refusal), or, for
// a notification the gateway refuses, dropped. Every client message is
// classified first (policy.ClassifyMethod): a method without an id is a
// notification only if it is a notifications/* method, and a method the
// gateway does not know is refused unless the registry allows it. Then the
// decision of its class runs: tools, resources, prompts, completions, tasks.
func (g *Gateway) decide(ctx context.Context, ex *exchange, m *message) {
	g.observeMethod(ctx, m.method)
	if m.kind == kindResponse { // the client's answer to a server-to-client request
		ex.forward = append(ex.forward, m.raw)
		return
	}
	class, d := policy.ClassifyMethod(m.method, m.kind == kindRequest, ex.version, ex.up.AllowsMethod)
	if !d.Allow {
		if resp := g.refuse(ex, m, d, ""); resp != nil {
			ex.local = append(ex.local, resp)
		}
		return
	}
	if resp := g.checkRequestState(ex, m); resp != nil {
		ex.local = append(ex.local, resp)
		return
	}
	var resp []byte
	pc := &pendingCall{id: m.id}
	switch class {
	case policy.MethodNotification, policy.MethodCustom, policy.MethodSession, policy.MethodList:
	case policy.MethodTool:
		resp, pc = g.authorizeCall(ctx, ex, m)
		ex.hasCall = ex.hasCall || pc != nil
	case policy.MethodResource:
		resp = g.authorizeResource(ex, m)
	case policy.MethodPrompt:
		resp = g.authorizePrompt(ex, m)
	case policy.MethodCompletion:
		resp = g.authorizeCompletion(ex, m)
	case policy.MethodTask:
		resp = g.authorizeTask(ex, m)
		ex.hasCall = ex.hasCall || (resp == nil && m.method == "tasks/result") // waits for the task's end
	default:
		resp = g.refuse(ex, m, policy.Deny(policy.ReasonMethodNotAllowed, "method %s is not allowed", m.method), "")
	}
	if resp != nil {
		ex.local = append(ex.local, resp)
		return
	}
	if m.kind == kindRequest {
		pc.method = m.method
		ex.pending[string(m.id)] = pc
	}
	ex.forward = append(ex.forward, m.raw)
}

// refuse records the denial d of message m (object names what it touched,
// "" when nothing) and answers it: a request gets the error response, a
// notification is dropped, except a message refused as not a notification,
// which JSON-RPC answers with Invalid Request and a null id. It returns the
// response for ex.local, nil when the message is dropped.
func (g *Gateway) refuse(ex *exchange, m *message, d policy.Decision, object string) []byte {
	ev := withPrincipal(audit.Event{Kind: audit.KindDeny, Upstream: ex.up.Slug, Method: m.method, Tool: object,
		Decision: "deny", Reason: string(d.Reason), Constraint: d.Constraint, Limit: d.Limit, Value: d.Value}, ex.claims)
	if ex.sess != nil {
		ev.SessionID = ex.sess.id
	}
	g.record(ev)
	if m.kind == kindNotification && d.Reason != policy.ReasonNotNotification {
		return nil // a notification has no answer: dropped, and audited
	}
	e := d.RPCError()
	if !ex.batch {
		ex.status = localStatus(ex.version, d.Reason, e.Code)
	}
	return errorResponse(m.id, rpcError{Code: e.Code, Message: e.Message, Data: e.Data})
}

// localStatus is the HTTP status of a lone refusal the gateway answers
// itself: 400 for a message that is not a notification; in revision
// 2026-07-28, where the status carries the error class, what a server of
// that revision answers (go-sdk v1.8.0's extractErrorStatus): 404 for
// -32601 (a method it does not implement or the revision removed), 400 for
// -32602 (a resource or task it does not know); otherwise 200.
func localStatus(version string, r policy.Reason, code int) int {
	switch {
	case r == policy.ReasonNotNotification:
		return http.StatusBadRequest
	case !isStateless(version):
		return 0
	case code == policy.CodeMethodNotFound:
		return http.StatusNotFound
	case code == policy.CodeInvalidParams:
		return http.StatusBadRequest
	}
	return 0
}

// allow records an allowed decision on an object other than a tool and
// returns nil, or, when the user has not connected the request's oauth
// upstream, records the refusal (connection_required) and returns its answer.
func (g *Gateway) allow(ex *exchange, m *message, object string) []byte {
	ev := withPrincipal(audit.Event{Kind: audit.KindAllow, Upstream: ex.up.Slug, Method: m.method, Tool: object,
		Decision: "allow", Reason: string(policy.ReasonAllowed)}, ex.claims)
	ev = withCredential(ev, ex.up)
	if ex.sess != nil {
		ev.SessionID = ex.sess.id
	}
	if ex.req != nil {
		if cr := g.connectionMissing(ex.req.Context(), ex); cr != nil { // credentials.go
			ev.Kind, ev.Decision, ev.Reason = audit.KindDeny, "deny", ReasonConnectionRequired
			g.record(ev)
			return errorResponse(m.id, g.connectionError(ex.req, ex, cr))
		}
	}
	g.record(ev)
	return nil
}

// authorizeCall decides a tools/call. It returns the error response to send
// when the call is refused, or the pending call to forward.
func (g *Gateway) authorizeCall(ctx context.Context, ex *exchange, m *message) ([]byte, *pendingCall) {
	name, args, unambiguous := m.callParams()
	defer g.observeCall(ctx, ex, name)()
	ev := withPrincipal(audit.Event{Kind: audit.KindDeny, Upstream: ex.up.Slug, Method: m.method, Tool: name,
		Decision: "deny", ArgsHash: hashArgs(args)}, ex.claims)
	if ex.sess != nil {
		ev.SessionID = ex.sess.id
	}
	if resp := g.refuseUnchecked(ev, m, unambiguous); resp != nil {
		return resp, nil
	}
	if resp := g.refuseChanged(ex, m, upstreams.PinTool, name); resp != nil {
		return resp, nil
	}
	binding, _ := ex.up.Tool(name)
	if binding != nil && binding.Honeytool {
		return g.refuseHoneytool(ctx, ex, m, name, ev), nil // honeytool.go
	}
	call := policy.Call{Tool: name, Arguments: []byte(args), At: g.now(), ArgumentsChecked: true} // decodeBody validated them
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if cons := &ex.claims.Constraints; cons.Budget != nil || cons.MaxCalls != nil {
		// Only a budgeted token reaches the ledger (policy.Authorize): a
		// timer per unbudgeted call was 3% of a gateway's CPU at c=1.
		sctx, cancel = g.storeContext(ctx)
	}
	d, hold := policy.Authorize(sctx, ex.claims, binding, call, g.opts.Ledger)
	cancel()
	if hold == policy.NoHold {
		hold = nil // nothing reserved: nothing to settle or release
	}
	ev.Reason, ev.Constraint, ev.Limit, ev.Value = string(d.Reason), d.Constraint, d.Limit, d.Value
	if d.Reason == policy.ReasonUnavailable && d.Cause != nil {
		g.health.markDown("budget reservation", d.Cause)
	}
	if !d.Allow {
		if ex.sess != nil {
			ex.sess.activity.add(0, 1, nil, g.now())
		}
		g.record(ev)
		e := d.RPCError()
		return errorResponse(m.id, rpcError{Code: e.Code, Message: e.Message, Data: e.Data}), nil
	}
	if cr := g.connectionMissing(ctx, ex); cr != nil { // credentials.go
		// Nothing can reach the upstream: refused and recorded as refused,
		// before an allow record or a request for approval.
		releaseHold(ctx, hold)
		if ex.sess != nil {
			ex.sess.activity.add(0, 1, nil, g.now())
		}
		ev.Reason, ev.Constraint, ev.Limit, ev.Value = ReasonConnectionRequired, auditCredential, "", string(ex.up.Auth.Kind)
		g.record(ev)
		return errorResponse(m.id, g.connectionError(ex.req, ex, cr)), nil
	}
	var approved *approvalRequest
	if binding.Approval != nil { // a four-eyes tool: approval.go
		var resp []byte
		if resp, approved = g.checkApproval(ctx, ex, m, binding.Approval, []byte(args), &ev, hold); resp != nil {
			return resp, nil
		}
	}
	ev.Kind, ev.Decision = audit.KindAllow, "allow"
	ev = withCredential(ev, ex.up) // credentials.go
	if err := g.recordAllow(ctx, ev); err != nil {
		g.approvals.putBack(approved, g.now()) // the call never ran: its approval stays
		releaseHold(ctx, hold)
		return errorResponse(m.id, auditUnavailableError()), nil
	}
	if ex.sess != nil {
		ex.sess.activity.add(1, 0, nil, g.now())
	}
	return nil, &pendingCall{id: m.id, tool: name, hold: hold, amount: d.Amount}
}

// refuseUnchecked refuses a call before policy sees it: params another
// decoder could read as a different call, or an audit log that cannot record
// the decision (fail closed). It records ev and returns the error response,
// or nil when neither applies.
func (g *Gateway) refuseUnchecked(ev audit.Event, m *message, unambiguous bool) []byte {
	var e rpcError
	switch {
	case !unambiguous:
		ev.Reason = string(policy.ReasonInvalidArgument)
		e = rpcError{Code: CodeDenied,
			Message: `denied: tools/call params have a member that differs from "name" or "arguments" only by case`,
			Data:    reasonData{Reason: string(policy.ReasonInvalidArgument)}}
	case !g.health.ok():
		ev.Reason = "audit_unavailable"
		e = auditUnavailableError()
	default:
		return nil
	}
	g.record(ev)
	return errorResponse(m.id, e)
}

// releaseHold releases a budget hold of a call that never ran (nil: none).
func releaseHold(ctx context.Context, hold policy.Hold) {
	if hold == nil {
		return
	}
	rctx, cancel := detach(ctx)
	hold.Release(rctx)
	cancel()
}

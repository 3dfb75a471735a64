package gateway

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

// errKilled is the cancellation cause of requests cut by a kill.
var errKilled = errors.New("killed")

// errSessionEnded is the cancellation cause of requests of a session that ended.
var errSessionEnded = errors.New("session ended")

// exchange is one client POST on its way through the gateway: what is
// forwarded, what the gateway answers itself, and the calls whose responses
// settle a budget hold.
type exchange struct {
	up      *upstreams.Upstream
	claims  *authority.Claims
	sess    *session
	batch   bool
	body    []byte   // the client's body, forwarded unchanged when nothing was withheld
	forward [][]byte // raw messages to send upstream
	local   [][]byte // responses the gateway answers itself (denials)
	pending map[string]*pendingCall
	initID  string // raw id of an initialize request, "" if none
	hasCall bool   // a tools/call is forwarded (per-call timeout applies)
}

// pendingCall is a forwarded request whose response the gateway waits for.
type pendingCall struct {
	id     jsontext.Value
	tool   string
	hold   policy.Hold      // nil when no budget or call count applies
	amount *authority.Money // the call's bound amount, if any
}

func (g *Gateway) servePost(w http.ResponseWriter, r *http.Request, up *upstreams.Upstream, c *authority.Claims) {
	body, refused := g.readBody(w, r)
	if refused != "" {
		g.record(withPrincipal(Event{Kind: EventEdge403, Upstream: up.Slug, Reason: refused}, c))
		return
	}
	msgs, batch, err := decodeBody(body)
	if err != nil {
		var ee *envelopeError
		errors.As(err, &ee)
		g.record(withPrincipal(Event{Kind: EventEdge403, Upstream: up.Slug, Reason: "malformed"}, c))
		writeRPCError(w, http.StatusBadRequest, ee.id, rpcError{Code: ee.code, Message: ee.msg})
		return
	}
	version := r.Header.Get(headerProtocolVersion)
	if isStateless(version) {
		if batch {
			writeRPCError(w, http.StatusBadRequest, nil, rpcError{Code: codeInvalidRequest,
				Message: "JSON-RPC batches are not supported in protocol version " + version})
			return
		}
		if err := checkStatelessHeaders(r.Header, msgs[0]); err != nil {
			g.record(withPrincipal(Event{Kind: EventEdge403, Upstream: up.Slug, Method: msgs[0].method, Reason: "header_mismatch"}, c))
			writeRPCError(w, http.StatusBadRequest, msgs[0].id, rpcError{Code: codeInvalidRequest, Message: err.Error()})
			return
		}
	}
	sess, ok := g.sessionFor(w, r, up, c)
	if !ok {
		return
	}
	if batch {
		if version == "" && sess != nil {
			version = sess.version()
		}
		if version != "" && version != version20250326 {
			writeRPCError(w, http.StatusBadRequest, nil, rpcError{Code: codeInvalidRequest,
				Message: "JSON-RPC batches are not supported in protocol version " + version})
			return
		}
	}
	ex := &exchange{up: up, claims: c, sess: sess, batch: batch, body: body, pending: map[string]*pendingCall{}}
	if !batch && msgs[0].kind == kindRequest && msgs[0].method == "initialize" {
		if sess != nil {
			writeRPCError(w, http.StatusBadRequest, msgs[0].id, rpcError{Code: codeInvalidRequest,
				Message: "initialize is not allowed inside an existing session"})
			return
		}
		ex.initID = string(msgs[0].id)
	}
	for _, m := range msgs {
		g.plan(r.Context(), ex, m)
	}
	if len(ex.forward) == 0 {
		ex.writeLocal(w)
		return
	}
	g.forwardPost(w, r, ex)
}

// plan decides what happens to one message of a POST.
func (g *Gateway) plan(ctx context.Context, ex *exchange, m *message) {
	if m.kind == kindRequest && m.method == "tools/call" {
		resp, pc := g.authorizeCall(ctx, ex, m)
		if pc == nil {
			ex.local = append(ex.local, resp)
			return
		}
		ex.pending[string(m.id)] = pc
		ex.hasCall = true
	} else if m.kind == kindRequest {
		ex.pending[string(m.id)] = &pendingCall{id: m.id}
	}
	ex.forward = append(ex.forward, m.raw)
}

// authorizeCall decides a tools/call. It returns the error response to send
// when the call is refused, or the pending call to forward.
func (g *Gateway) authorizeCall(ctx context.Context, ex *exchange, m *message) ([]byte, *pendingCall) {
	name, args, unambiguous := callParams(m.params)
	ev := withPrincipal(Event{Kind: EventDeny, Upstream: ex.up.Slug, Method: m.method, Tool: name,
		Decision: "deny", ArgsHash: hashArgs(args)}, ex.claims)
	if ex.sess != nil {
		ev.SessionID = ex.sess.id
	}
	if !unambiguous {
		ev.Reason = string(policy.ReasonInvalidArgument)
		g.record(ev)
		return errorResponse(m.id, rpcError{Code: CodeDenied,
			Message: `denied: tools/call params have a member that differs from "name" or "arguments" only by case`,
			Data:    reasonData{Reason: string(policy.ReasonInvalidArgument)}}), nil
	}
	if g.audit != nil && !g.audit.ok() {
		ev.Reason = "audit_unavailable"
		g.record(ev)
		return errorResponse(m.id, rpcError{Code: CodeAudit,
			Message: "the audit log is unavailable; calls are refused until it recovers",
			Data:    reasonData{Reason: "audit_unavailable"}}), nil
	}
	binding, _ := ex.up.Tool(name)
	call := policy.Call{Tool: name, Arguments: []byte(args), At: g.now()}
	d, hold := policy.Authorize(ctx, ex.claims, binding, call, g.opts.Ledger)
	if hold == policy.NoHold {
		hold = nil // nothing reserved: nothing to settle or release
	}
	ev.Reason, ev.Constraint, ev.Limit, ev.Value = string(d.Reason), d.Constraint, d.Limit, d.Value
	if d.Reason == policy.ReasonUnavailable && d.Cause != nil {
		g.log.Error("authorization state unavailable", "upstream", ex.up.Slug, "err", d.Cause)
	}
	if !d.Allow {
		if ex.sess != nil {
			ex.sess.activity.add(0, 1, nil, g.now())
		}
		g.record(ev)
		e := d.RPCError()
		return errorResponse(m.id, rpcError{Code: e.Code, Message: e.Message, Data: e.Data}), nil
	}
	ev.Kind, ev.Decision = EventAllow, "allow"
	g.record(ev)
	if ex.sess != nil {
		ex.sess.activity.add(1, 0, nil, g.now())
	}
	return nil, &pendingCall{id: m.id, tool: name, hold: hold, amount: d.Amount}
}

// callParams returns the tool name and the raw arguments of tools/call
// params in one scan ("" and nil when absent or of the wrong type). ok is
// false when a member differs from "name" or "arguments" only by case: Go's
// encoding/json (and decoders like it) match such keys too, so the upstream
// could run another tool than the one authorized.
func callParams(params jsontext.Value) (name string, args jsontext.Value, ok bool) {
	if params.Kind() != '{' {
		return "", nil, true
	}
	dec := jsontext.NewDecoder(bytes.NewBuffer(params))
	dec.ReadToken()
	for dec.PeekKind() != '}' {
		k, err := dec.ReadToken()
		if err != nil {
			return "", nil, false
		}
		key := k.String()
		if key != "name" && key != "arguments" && (strings.EqualFold(key, "name") || strings.EqualFold(key, "arguments")) {
			return "", nil, false
		}
		switch key {
		case "name":
			v, err := readValue(dec, params)
			if err != nil {
				return "", nil, false
			}
			if v.Kind() == '"' {
				name = unquote(v)
			}
		case "arguments":
			if args, err = readValue(dec, params); err != nil {
				return "", nil, false
			}
		default:
			if err := dec.SkipValue(); err != nil {
				return "", nil, false
			}
		}
	}
	return name, args, true
}

// writeLocal answers a POST entirely from the gateway (every request denied).
func (ex *exchange) writeLocal(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	if !ex.batch {
		w.Write(ex.local[0])
		return
	}
	w.Write(joinBatch(ex.local))
}

// outBody is what goes upstream: the client's bytes when nothing was withheld.
func (ex *exchange) outBody() []byte {
	if !ex.batch {
		return ex.forward[0]
	}
	if len(ex.local) == 0 {
		return ex.body
	}
	return joinBatch(ex.forward)
}

func joinBatch(msgs [][]byte) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(m)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// settle finishes the budget hold of a call whose response arrived: a
// completed, successful result spends it; an error, an isError result or a
// result still waiting for input (multi-round-trip) releases it. It reports
// whether the call's amount was spent.
func settle(ctx context.Context, pc *pendingCall, m *message) bool {
	if pc.hold == nil && pc.amount == nil {
		return false // nothing held, nothing to count
	}
	spent := m.result != nil && !resultFailed(m.result)
	if pc.hold == nil {
		return spent
	}
	ctx, cancel := detach(ctx)
	defer cancel()
	if spent {
		pc.hold.Settle(ctx)
		return true
	}
	pc.hold.Release(ctx)
	return false
}

func resultFailed(result jsontext.Value) bool {
	if v, ok := memberOf(result, "isError"); ok && string(v) == "true" {
		return true
	}
	if s, ok := stringMember(result, "resultType"); ok && s == "input_required" {
		return true
	}
	return false
}

// releaseAll releases the holds of calls that got no response.
func (ex *exchange) releaseAll(ctx context.Context) {
	if len(ex.pending) == 0 {
		return
	}
	ctx, cancel := detach(ctx)
	defer cancel()
	for k, pc := range ex.pending {
		if pc.hold != nil {
			pc.hold.Release(ctx)
		}
		delete(ex.pending, k)
	}
}

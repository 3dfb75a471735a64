package gateway

// Honeytool: a bait tool (policy.Binding.Honeytool) is listed like any tool
// the token may see, but a call to it is never forwarded. Only an agent that
// follows instructions it should not (a prompt injection) calls it, so the
// call ends the session: the caller gets the killed error, the decision is
// audited as a kill, the token is refused on this replica at once, the
// session is killed and Options.OnHoneytool (the store's revocation, under
// legant serve) runs.

import (
	"context"
	"time"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/policy"
)

// refuseHoneytool answers a tools/call of the bait tool name. The token is
// refused on this replica at once (a held kill of its jti: no second call
// slips through while the rest happens); the kill of the session and the
// OnHoneytool hook (the store's revocation, for every replica) run on the
// gateway's owned tasks after killStreamGrace, so the caller reads its error
// before its streams close (as Kill does for calls it cuts).
func (g *Gateway) refuseHoneytool(ctx context.Context, ex *exchange, m *message, name string, ev audit.Event) []byte {
	ev.Kind, ev.Decision, ev.Reason = audit.KindKill, "deny", "honeytool: "+name
	g.record(ev)
	held := &heldKill{sel: Selector{TokenID: ex.claims.ID}, reason: ev.Reason}
	g.held.add(held)
	if ex.sess != nil {
		ex.sess.activity.add(0, 1, nil, g.now())
	}
	var sel Selector
	if ex.sess != nil {
		sel = Selector{SessionID: ex.sess.id}
	}
	hook, c := g.opts.OnHoneytool, ex.claims
	g.tasks.start(func() {
		select {
		case <-time.After(killStreamGrace):
		case <-g.closed:
		}
		kctx, cancel := detach(ctx)
		defer cancel()
		if !sel.empty() {
			g.Kill(kctx, sel, ev.Reason)
		}
		if hook != nil {
			hook(kctx, c, name)
			held.written.Store(time.Now().UnixNano()) // the revocation set takes over
		}
	})
	return errorResponse(m.id, rpcError{Code: policy.ReasonHoneytool.Code(),
		Message: "killed: " + name + " is a honeytool; this session is ended",
		Data:    reasonData{Reason: string(policy.ReasonHoneytool)}})
}

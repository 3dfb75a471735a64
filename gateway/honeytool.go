package gateway

// Honeytool: a bait tool (policy.Binding.Honeytool) is listed like any tool
// the token may see, but a call to it is never forwarded. Only an agent that
// follows instructions it should not (a prompt injection) calls it, so the
// call ends the session: the caller gets the killed error, the decision is
// audited as a kill, the session is killed on this replica and
// Options.OnHoneytool (the store's revocation, under legant serve) runs.

import (
	"context"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/policy"
)

// refuseHoneytool answers a tools/call of the bait tool name: it records the
// kill, starts the session's kill and the OnHoneytool hook on the gateway's
// owned tasks (neither blocks the handler) and returns the error response.
func (g *Gateway) refuseHoneytool(ctx context.Context, ex *exchange, m *message, name string, ev audit.Event) []byte {
	ev.Kind, ev.Decision, ev.Reason = audit.KindKill, "deny", "honeytool: "+name
	g.record(ev)
	if ex.sess != nil {
		ex.sess.activity.add(0, 1, nil, g.now())
		sel := Selector{SessionID: ex.sess.id}
		g.tasks.start(func() {
			kctx, cancel := detach(ctx)
			defer cancel()
			g.Kill(kctx, sel, ev.Reason)
		})
	}
	if hook := g.opts.OnHoneytool; hook != nil {
		c := ex.claims
		g.tasks.start(func() {
			hctx, cancel := detach(ctx)
			defer cancel()
			hook(hctx, c, name)
		})
	}
	return errorResponse(m.id, rpcError{Code: policy.ReasonHoneytool.Code(),
		Message: "killed: " + name + " is a honeytool; this session is ended",
		Data:    reasonData{Reason: string(policy.ReasonHoneytool)}})
}

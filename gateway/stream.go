package gateway

import (
	"context"
	"errors"
	"mime"
	"net/http"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/upstreams"
)

// serveGet relays the server-to-client stream of a session (and resumption of
// an interrupted stream with Last-Event-ID). Events pass through the same view
// as POST responses: a tool list replayed here is filtered too.
func (g *Gateway) serveGet(w http.ResponseWriter, r *http.Request, up *upstreams.Upstream, c *authority.Claims) {
	sess, ok := g.sessionFor(w, r, up, c)
	if !ok {
		return
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	if sess != nil {
		stop := context.AfterFunc(sess.ctx, func() { cancel(errSessionEnded) })
		defer stop()
	}
	if sess != nil {
		sess.streams.Add(1)
		defer sess.streams.Add(-1)
	}
	f := newInflight(sessionID(sess), c, cancel)
	f.stream = true
	done := g.inflight.add(f)
	defer done()
	ex := newExchange(up, c, sess, nil, false)
	client, req, err := g.upstreamRequest(ctx, r, ex, http.MethodGet, nil)
	if cr := (*connectionRequiredError)(nil); errors.As(err, &cr) { // connections.go
		// Not a gateway failure: the user must connect the upstream. The
		// stream is refused with the same error a call gets (a 403, since
		// the caller's token is good), so a client sees why and where.
		writeRPCError(w, http.StatusForbidden, nil, g.connectionRequired(r, cr))
		return
	}
	if xe := (*exchangeRefusedError)(nil); errors.As(err, &xe) { // tokenexchange.go
		writeRPCError(w, http.StatusBadGateway, nil, xe.rpc())
		return
	}
	if err != nil {
		g.log.Error("could not prepare the upstream stream request", "upstream", up.Slug, "err", err)
		http.Error(w, "the upstream is unavailable", http.StatusBadGateway)
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			http.Error(w, "the upstream is unreachable", http.StatusBadGateway)
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		http.Error(w, "the upstream refused the gateway's credentials", http.StatusBadGateway)
		return
	}
	copyResponseHeaders(w.Header(), resp.Header)
	if sess != nil {
		w.Header().Set(headerSessionID, sess.id)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/event-stream" {
		if sess != nil { // the gateway may inject list_changed events (listchanged.go)
			ps := &pushStream{w: w}
			sess.pushes.baseline(visibleOf(g.liveUpstream(ex), sess.claims))
			defer sess.pushes.add(ps)()
			w = ps
		}
		if end := g.relaySSE(ctx, w, resp, ex); end.abort {
			panic(http.ErrAbortHandler) // after the deferred clean-up: the client resumes
		}
		return
	}
	w.WriteHeader(resp.StatusCode)
	copyBody(w, resp.Body)
}

// serveDelete ends a session: the upstream session is ended too.
func (g *Gateway) serveDelete(w http.ResponseWriter, r *http.Request, up *upstreams.Upstream, c *authority.Claims) {
	if r.Header.Get(headerSessionID) == "" {
		http.Error(w, "Mcp-Session-Id is required", http.StatusBadRequest)
		return
	}
	sess, ok := g.sessionFor(w, r, up, c)
	if !ok {
		return
	}
	g.sessions.remove(sess.id)
	g.endStored(sess.id, false, EndClosed)
	g.record(withPrincipal(audit.Event{Kind: audit.KindSessionEnd, Upstream: up.Slug, SessionID: sess.id, Reason: EndClosed}, c))
	status := http.StatusNoContent
	if sess.upstreamID != "" {
		status = g.endUpstream(r.Context(), r, up, c, sess)
	}
	w.WriteHeader(status)
}

// endUpstream sends DELETE for the upstream session and returns the status to
// give the client.
func (g *Gateway) endUpstream(ctx context.Context, r *http.Request, up *upstreams.Upstream, c *authority.Claims, sess *session) int {
	ex := newExchange(up, c, sess, nil, false)
	client, req, err := g.upstreamRequest(ctx, r, ex, http.MethodDelete, nil)
	if err != nil {
		return http.StatusNoContent
	}
	resp, err := client.Do(req)
	if err != nil {
		return http.StatusNoContent
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusMethodNotAllowed {
		return http.StatusMethodNotAllowed
	}
	return http.StatusNoContent
}

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
//
// Its frame is small on purpose: an idle session's stream waits in relaySSE
// for as long as the session lives, with serveGet and its callers below it on
// the stack, and the runtime halves a goroutine's stack only while less than
// a quarter of it is in use. Everything that happens once, before the relay,
// is in openStream, whose frame is gone by then.
func (g *Gateway) serveGet(w http.ResponseWriter, r *http.Request, up *upstreams.Upstream, c *authority.Claims) {
	st := g.openStream(w, r, up, c)
	if st == nil {
		return
	}
	defer st.close()
	if end := g.relaySSE(st.ctx, st.w, st.resp, st.ex); end.abort {
		panic(http.ErrAbortHandler) // after the deferred clean-up: the client resumes
	}
}

// getStream is a GET stream being relayed, and what ends it.
type getStream struct {
	ctx     context.Context
	w       http.ResponseWriter
	resp    *http.Response
	ex      *exchange
	cleanup []func() // run in reverse order by close
}

// onClose registers f to run when the stream closes.
func (st *getStream) onClose(f func()) { st.cleanup = append(st.cleanup, f) }

// close runs the stream's clean-up, last registered first.
func (st *getStream) close() {
	for i := len(st.cleanup) - 1; i >= 0; i-- {
		st.cleanup[i]()
	}
}

// openStream opens the upstream's stream for a GET and returns it to relay,
// or nil when it answered the client itself: a refusal, an upstream error, or
// a response that is not an event stream (copied).
func (g *Gateway) openStream(w http.ResponseWriter, r *http.Request, up *upstreams.Upstream, c *authority.Claims) (stream *getStream) {
	sess, ok := g.sessionFor(w, r, up, c)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	st := &getStream{ctx: ctx, w: w}
	defer func() {
		if stream == nil {
			st.close()
		}
	}()
	st.onClose(func() { cancel(nil) })
	if sess != nil {
		stop := context.AfterFunc(sess.ctx, func() { cancel(errSessionEnded) })
		st.onClose(func() { stop() })
		sess.streams.Add(1)
		st.onClose(func() { sess.streams.Add(-1) })
	}
	f := newInflight(sessionID(sess), c, cancel)
	f.stream = true
	st.onClose(g.inflight.add(f))
	ex := newExchange(up, c, sess, nil, false)
	client, req, err := g.upstreamRequest(ctx, r, ex, http.MethodGet, nil)
	if cr := (*connectionRequiredError)(nil); errors.As(err, &cr) { // connections.go
		// Not a gateway failure: the user must connect the upstream. The
		// stream is refused with the same error a call gets (a 403, since
		// the caller's token is good), so a client sees why and where.
		writeRPCError(w, http.StatusForbidden, nil, g.connectionRequired(r, cr))
		return nil
	}
	if xe := (*exchangeRefusedError)(nil); errors.As(err, &xe) { // tokenexchange.go
		writeRPCError(w, http.StatusBadGateway, nil, xe.rpc())
		return nil
	}
	if err != nil {
		g.log.Error("could not prepare the upstream stream request", "upstream", up.Slug, "err", err)
		http.Error(w, "the upstream is unavailable", http.StatusBadGateway)
		return nil
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			http.Error(w, "the upstream is unreachable", http.StatusBadGateway)
		}
		return nil
	}
	st.onClose(func() { resp.Body.Close() })
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		http.Error(w, "the upstream refused the gateway's credentials", http.StatusBadGateway)
		return nil
	}
	copyResponseHeaders(w.Header(), resp.Header)
	if sess != nil {
		w.Header().Set(headerSessionID, sess.id)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		w.WriteHeader(resp.StatusCode)
		copyBody(w, resp.Body)
		return nil
	}
	if sess != nil { // the gateway may inject list_changed events (listchanged.go)
		ps := &pushStream{w: w}
		sess.pushes.baseline(visibleOf(g.liveUpstream(ex), sess.claims))
		st.onClose(sess.pushes.add(ps))
		st.w = ps
	}
	st.resp, st.ex = resp, ex
	return st
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

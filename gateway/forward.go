package gateway

// Forward: the third step of a POST. The messages decide kept go upstream in
// one HTTP request carrying the gateway's downstream token (never the
// caller's); the response is handed to relay (relay.go). The request is
// registered in the in-flight set (kill.go) so that a kill can cut it.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
)

// forward sends the exchange upstream and relays the answer.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, ex *exchange) {
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	if ex.sess != nil {
		stop := context.AfterFunc(ex.sess.ctx, func() { cancel(errSessionEnded) })
		defer stop()
		ex.sess.calls.Add(1)
		defer func() {
			ex.sess.lastActive.Store(g.now().UnixNano()) // idle counts from the end of the call
			ex.sess.calls.Add(-1)
		}()
	}
	if t := g.requestTimeout(ex); t > 0 {
		var c context.CancelFunc
		ctx, c = context.WithTimeout(ctx, t)
		defer c()
	}
	done := g.inflight.add(newInflight(sessionID(ex.sess), ex.claims, cancel))
	// A kill that scanned the in-flight set between this request's checks and
	// its registration did not see it: look again now that it is registered.
	if g.killedSince(ex) {
		cancel(errKilled)
	}
	var end streamEnd
	defer func() {
		done() // the client has its answer: a kill may now close the streams
		g.finishCalls(ctx, ex, end)
	}()
	resp, ok := g.send(ctx, w, r, ex)
	if !ok {
		return
	}
	defer resp.Body.Close()
	if ex.initID != "" && resp.StatusCode/100 == 2 {
		g.openSession(ex, resp.Header.Get(headerSessionID))
	}
	end = g.relay(ctx, w, resp, ex)
	if resp.StatusCode == http.StatusNotFound && ex.sess != nil && ex.sess.upstreamID != "" {
		g.upstreamGone(ex.sess) // the 404 is relayed: the client opens a new session
	}
	if end.abort {
		panic(http.ErrAbortHandler) // after the deferred clean-up: the client resumes
	}
}

// send posts the exchange's body upstream. When there is no response to
// relay it answers the client itself and returns ok=false.
func (g *Gateway) send(ctx context.Context, w http.ResponseWriter, r *http.Request, ex *exchange) (resp *http.Response, ok bool) {
	client, req, err := g.upstreamRequest(ctx, r, ex, http.MethodPost, bytes.NewReader(ex.outBody()))
	if cr := (*connectionRequiredError)(nil); errors.As(err, &cr) { // connections.go
		g.failPending(w, ex, http.StatusOK, g.connectionError(r, ex, cr))
		return nil, false
	}
	if err != nil {
		g.log.Error("could not prepare the upstream request", "upstream", ex.up.Slug, "err", err)
		g.failPending(w, ex, http.StatusBadGateway, rpcError{Code: CodeUpstream, Message: "the upstream is unavailable"})
		return nil, false
	}
	resp, err = client.Do(req)
	if err != nil {
		g.upstreamFailed(w, ctx, ex, err)
		return nil, false
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		resp.Body.Close()
		if cr, refused := g.stepUp(ctx, ex, resp); cr != nil || refused != nil { // connect.go
			if cr != nil {
				g.failPending(w, ex, http.StatusOK, g.connectionError(r, ex, cr))
			} else {
				g.failPending(w, ex, http.StatusOK, *refused)
			}
			return nil, false
		}
		if cr := g.refusedConnection(ctx, ex, resp.StatusCode); cr != nil { // connections.go
			g.failPending(w, ex, http.StatusOK, g.connectionError(r, ex, cr))
			return nil, false
		}
		g.log.Warn("upstream refused the gateway's downstream token", "upstream", ex.up.Slug, "status", resp.StatusCode)
		g.failPending(w, ex, http.StatusBadGateway, rpcError{Code: CodeUpstream, Message: "the upstream refused the gateway's credentials"})
		return nil, false
	}
	return resp, true
}

// killedSince reports whether the exchange's session was killed or its token
// revoked after the request's own checks.
func (g *Gateway) killedSince(ex *exchange) bool {
	if ex.sess != nil && ex.sess.killed.Load() {
		return true
	}
	if _, held := g.held.covers(ex.claims, g.now()); held {
		return true
	}
	if g.opts.Revocations != nil {
		_, revoked := g.opts.Revocations.Revoked(ex.claims)
		return revoked
	}
	return false
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

// upstreamRequest builds the request to the upstream on behalf of the client
// request r: the client's MCP headers, plus what upstreamRequestFor sets.
func (g *Gateway) upstreamRequest(ctx context.Context, r *http.Request, ex *exchange, method string, body io.Reader) (*http.Client, *http.Request, error) {
	client, req, err := g.upstreamRequestFor(ctx, ex, method, body)
	if err != nil {
		return nil, nil, err
	}
	copyRequestHeaders(req.Header, r.Header)
	return client, req, nil
}

// upstreamRequestFor builds a request of the gateway's own to the upstream of
// ex: static headers, the upstream session id and the credential the
// registry's auth section names (by default the downstream token for (caller
// token, upstream), minted or reused from the minter's cache).
func (g *Gateway) upstreamRequestFor(ctx context.Context, ex *exchange, method string, body io.Reader) (*http.Client, *http.Request, error) {
	client, endpoint, err := g.upstreamClient(ex.up)
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(withDialTimeout(ctx, ex.up.Timeouts.Connect), method, endpoint, body)
	if err != nil {
		return nil, nil, err
	}
	if ex.sess != nil {
		if v := ex.sess.version(); v != "" {
			req.Header.Set(headerProtocolVersion, v)
		}
	}
	for k, v := range ex.up.Headers {
		req.Header.Set(k, v)
	}
	if ex.sess != nil && ex.sess.upstreamID != "" {
		req.Header.Set(headerSessionID, ex.sess.upstreamID)
	}
	if err := g.setCredential(ctx, ex, req); err != nil { // credentials.go
		return nil, nil, err
	}
	return client, req, nil
}

// copyRequestHeaders copies the MCP headers a client may send upstream. The
// caller's Authorization, cookies and the session id are never copied.
func copyRequestHeaders(dst, src http.Header) {
	for k, vv := range src {
		switch ck := http.CanonicalHeaderKey(k); {
		case ck == "Accept", ck == "Content-Type", ck == headerProtocolVersion, ck == headerMethod,
			ck == headerName, ck == canonicalLastEventID, ck == "User-Agent",
			strings.HasPrefix(ck, "Mcp-Param-"):
			dst[ck] = vv
		}
	}
}

// upstreamFailed answers the client when the upstream could not be reached or
// the request was cut.
func (g *Gateway) upstreamFailed(w http.ResponseWriter, ctx context.Context, ex *exchange, err error) {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errKilled):
		g.failPending(w, ex, http.StatusOK, killedError())
	case errors.Is(cause, errSessionEnded):
		g.failPending(w, ex, http.StatusNotFound, rpcError{Code: codeInvalidRequest, Message: "session ended"})
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		// 200: the answer is a JSON-RPC error the client's SDK hands to its
		// caller, like the same timeout met mid-stream (endSSE).
		g.failPending(w, ex, http.StatusOK, timeoutError())
	case ctx.Err() != nil:
		// The client went away: nobody to answer.
	default:
		g.log.Warn("upstream unreachable", "upstream", ex.up.Slug, "err", err)
		g.failPending(w, ex, http.StatusBadGateway, rpcError{Code: CodeUpstream, Message: "the upstream is unreachable"})
	}
}

// timeoutError answers requests cut by timeouts.call or timeouts.request.
func timeoutError() rpcError {
	return rpcError{Code: CodeUpstream, Message: "the upstream did not answer in time", Data: reasonData{Reason: "timeout"}}
}

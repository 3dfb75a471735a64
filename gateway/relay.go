package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/r3labs/sse/v2"
)

// forwardPost sends the exchange upstream and relays the answer.
func (g *Gateway) forwardPost(w http.ResponseWriter, r *http.Request, ex *exchange) {
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	if ex.sess != nil {
		stop := context.AfterFunc(ex.sess.ctx, func() { cancel(errSessionEnded) })
		defer stop()
	}
	if t := ex.up.Timeouts.Call; t > 0 && ex.hasCall {
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
	defer func() {
		done() // the client has its answer: a kill may now close the streams
		if errors.Is(context.Cause(ctx), errKilled) {
			g.cancelUpstream(ex)
		}
		ex.releaseAll(ctx)
	}()

	client, req, err := g.upstreamRequest(ctx, r, ex, http.MethodPost, bytes.NewReader(ex.outBody()))
	if err != nil {
		g.log.Error("could not prepare the upstream request", "upstream", ex.up.Slug, "err", err)
		g.failPending(w, ex, http.StatusBadGateway, rpcError{Code: CodeUpstream, Message: "the upstream is unavailable"})
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		g.upstreamFailed(w, ctx, ex, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		g.log.Warn("upstream refused the gateway's downstream token", "upstream", ex.up.Slug, "status", resp.StatusCode)
		g.failPending(w, ex, http.StatusBadGateway, rpcError{Code: CodeUpstream, Message: "the upstream refused the gateway's credentials"})
		return
	}
	if ex.initID != "" && resp.StatusCode/100 == 2 {
		g.openSession(ex, resp.Header.Get(headerSessionID))
	}
	copyResponseHeaders(w.Header(), resp.Header)
	if ex.sess != nil {
		w.Header().Set(headerSessionID, ex.sess.id)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case mt == "text/event-stream":
		g.relaySSE(ctx, w, resp, ex)
	case mt == "application/json" && resp.StatusCode/100 == 2:
		g.relayJSON(w, resp, ex)
	default:
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, io.LimitReader(resp.Body, maxEventBytes))
	}
}

// killedSince reports whether the exchange's session was killed or its token
// revoked after the request's own checks.
func (g *Gateway) killedSince(ex *exchange) bool {
	if ex.sess != nil && ex.sess.killed.Load() {
		return true
	}
	if g.opts.Revocations != nil {
		_, revoked := g.opts.Revocations.Revoked(ex.claims)
		return revoked
	}
	return false
}

func sessionID(s *session) string {
	if s == nil {
		return ""
	}
	return s.id
}

// upstreamRequest builds the request to the upstream: the client's MCP
// headers, the upstream's session id, and a fresh downstream token.
func (g *Gateway) upstreamRequest(ctx context.Context, r *http.Request, ex *exchange, method string, body io.Reader) (*http.Client, *http.Request, error) {
	client, req, err := g.upstreamRequestFor(ctx, ex, method, body)
	if err != nil {
		return nil, nil, err
	}
	copyRequestHeaders(req.Header, r.Header)
	return client, req, nil
}

// upstreamRequestFor builds a request of the gateway's own to the upstream of
// ex: static headers, the upstream session id and a fresh downstream token.
func (g *Gateway) upstreamRequestFor(ctx context.Context, ex *exchange, method string, body io.Reader) (*http.Client, *http.Request, error) {
	client, endpoint, err := g.upstreamClient(ex.up)
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint, body)
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
	tok, err := g.minter.token(ex.claims, ex.up, g.now())
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return client, req, nil
}

// openSession records the session an initialize opened.
func (g *Gateway) openSession(ex *exchange, upstreamID string) {
	s := newSession(ex.up.Slug, ex.claims, g.now())
	s.upstreamID = upstreamID
	g.sessions.put(s)
	ex.sess = s
	g.record(withPrincipal(Event{Kind: EventSessionStart, Upstream: ex.up.Slug, SessionID: s.id}, ex.claims))
}

// copyResponseHeaders copies what a client needs of an upstream response.
// Cookies, the upstream's session id and its auth challenges stay behind.
func copyResponseHeaders(dst, src http.Header) {
	for _, k := range []string{"Content-Type", "Cache-Control", "Allow", "Retry-After", headerProtocolVersion} {
		if v := src.Values(k); len(v) > 0 {
			dst[k] = v
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
		g.failPending(w, ex, http.StatusGatewayTimeout, rpcError{Code: CodeUpstream, Message: "the upstream did not answer in time"})
	case ctx.Err() != nil:
		// The client went away: nobody to answer.
	default:
		g.log.Warn("upstream unreachable", "upstream", ex.up.Slug, "err", err)
		g.failPending(w, ex, http.StatusBadGateway, rpcError{Code: CodeUpstream, Message: "the upstream is unreachable"})
	}
}

func killedError() rpcError {
	return rpcError{Code: CodeKilled, Message: "killed: this session's authority was revoked", Data: reasonData{Reason: "killed"}}
}

// failPending answers every request of the exchange with e (plus the local
// denials), as JSON.
func (g *Gateway) failPending(w http.ResponseWriter, ex *exchange, status int, e rpcError) {
	out := ex.local
	for _, pc := range ex.pending {
		out = append(out, errorResponse(pc.id, e))
	}
	w.Header().Set("Content-Type", "application/json")
	if len(out) == 0 {
		w.WriteHeader(status)
		return
	}
	w.WriteHeader(status)
	if ex.batch {
		w.Write(joinBatch(out))
	} else {
		w.Write(out[0])
	}
}

// relayJSON relays a JSON response, filtering tool lists and settling holds.
func (g *Gateway) relayJSON(w http.ResponseWriter, resp *http.Response, ex *exchange) {
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxEventBytes+1))
	if err != nil && errors.Is(context.Cause(resp.Request.Context()), errKilled) {
		g.failPending(w, ex, http.StatusOK, killedError())
		return
	}
	if err != nil || len(data) > maxEventBytes {
		g.failPending(w, ex, http.StatusBadGateway, rpcError{Code: CodeUpstream, Message: "the upstream's response could not be read"})
		return
	}
	parts, batch, changed, err := g.transformParts(resp.Request.Context(), ex, data)
	if err != nil {
		g.log.Warn("unusable upstream response", "upstream", ex.up.Slug, "err", err)
		g.failPending(w, ex, http.StatusBadGateway, rpcError{Code: CodeUpstream, Message: "the upstream's response could not be parsed"})
		return
	}
	out := data
	switch {
	case len(ex.local) > 0:
		out = joinBatch(append(append([][]byte{}, ex.local...), parts...))
	case !changed:
	case batch:
		out = joinBatch(parts)
	default:
		out = parts[0]
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

// transform applies the gateway's view to data, one JSON-RPC message or a
// batch from the upstream: tool lists are filtered, budget holds settled and
// the negotiated version noted. Data that is not changed is returned as is.
func (g *Gateway) transform(ctx context.Context, ex *exchange, data []byte) ([]byte, error) {
	parts, batch, changed, err := g.transformParts(ctx, ex, data)
	switch {
	case err != nil:
		return nil, err
	case !changed:
		return data, nil
	case batch:
		return joinBatch(parts), nil
	default:
		return parts[0], nil
	}
}

func (g *Gateway) transformParts(ctx context.Context, ex *exchange, data []byte) (parts [][]byte, batch, changed bool, err error) {
	msgs, batch, err := decodeBody(data)
	if err != nil {
		return nil, false, false, err
	}
	parts = make([][]byte, len(msgs))
	for i, m := range msgs {
		parts[i], err = g.transformMessage(ctx, ex, m)
		if err != nil {
			return nil, false, false, err
		}
		changed = changed || !bytes.Equal(parts[i], m.raw)
	}
	return parts, batch, changed, nil
}

func (g *Gateway) transformMessage(ctx context.Context, ex *exchange, m *message) ([]byte, error) {
	if m.kind != kindResponse {
		return m.raw, nil
	}
	key := string(m.id)
	if ex != nil {
		if pc, ok := ex.pending[key]; ok {
			if settle(ctx, pc, m) && ex.sess != nil {
				ex.sess.activity.add(0, 0, pc.amount, g.now())
			}
			delete(ex.pending, key)
		}
		if key == ex.initID && ex.sess != nil && m.result != nil {
			if v, ok := stringMember(m.result, "protocolVersion"); ok {
				ex.sess.setVersion(v)
			}
			g.saveSession(ctx, ex.sess)
		}
	}
	if m.result == nil {
		return m.raw, nil
	}
	if _, ok := memberOf(m.result, "tools"); !ok {
		return m.raw, nil
	}
	return filterToolsResponse(m, ex.up, ex.claims)
}

// relaySSE relays an event stream event by event, flushing each at once.
func (g *Gateway) relaySSE(ctx context.Context, w http.ResponseWriter, resp *http.Response, ex *exchange) {
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	for _, l := range ex.local {
		writeEvent(w, l)
	}
	rc.Flush()
	rd := sse.NewEventStreamReader(resp.Body, maxEventBytes)
	for {
		ev, err := rd.ReadEvent()
		if err != nil {
			break
		}
		out, err := g.transformEvent(ctx, ex, ev)
		if err != nil {
			g.log.Warn("unusable upstream event dropped", "upstream", ex.up.Slug, "err", err)
			continue
		}
		if _, err := w.Write(out); err != nil {
			return
		}
		rc.Flush()
	}
	if errors.Is(context.Cause(ctx), errKilled) {
		for _, pc := range ex.pending {
			writeEvent(w, errorResponse(pc.id, killedError()))
		}
		rc.Flush()
	}
}

// writeEvent writes one SSE message event.
func writeEvent(w io.Writer, data []byte) {
	var b bytes.Buffer
	b.WriteString("event: message\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	w.Write(b.Bytes())
}

// transformEvent returns the bytes to relay for one raw SSE event (without
// its terminating blank line): unchanged unless its data is a message the
// gateway must alter.
func (g *Gateway) transformEvent(ctx context.Context, ex *exchange, ev []byte) ([]byte, error) {
	lines := bytes.Split(ev, []byte("\n"))
	var data [][]byte
	var keep [][]byte
	for _, l := range lines {
		l = bytes.TrimSuffix(l, []byte("\r"))
		if v, ok := field(l, "data"); ok {
			data = append(data, v)
			continue
		}
		keep = append(keep, l)
	}
	raw := append(bytes.Clone(ev), '\n', '\n')
	if len(data) == 0 {
		return raw, nil
	}
	payload := bytes.Join(data, []byte("\n"))
	out, err := g.transform(ctx, ex, payload)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(out, payload) {
		return raw, nil
	}
	var b bytes.Buffer
	for _, l := range keep {
		b.Write(l)
		b.WriteByte('\n')
	}
	b.WriteString("data: ")
	b.Write(out)
	b.WriteString("\n\n")
	return b.Bytes(), nil
}

// field returns the value of an SSE line "name: value" (one optional space).
func field(line []byte, name string) ([]byte, bool) {
	if !bytes.HasPrefix(line, []byte(name)) {
		return nil, false
	}
	rest := line[len(name):]
	if len(rest) == 0 {
		return rest, true
	}
	if rest[0] != ':' {
		return nil, false
	}
	return bytes.TrimPrefix(rest[1:], []byte(" ")), true
}

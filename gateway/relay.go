package gateway

// Relay back: the fourth step. The upstream's answer goes to the client as it
// came (JSON or an event stream flushed event by event) except where the
// gateway's view applies: tool lists are filtered to what the token may call,
// budget holds are settled by the responses to their calls, the negotiated
// protocol version is noted, and refused or failed requests are answered here.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"sync"

	"github.com/openlegant/legant/policy"
)

// relay answers the client of a POST with the upstream's response resp.
func (g *Gateway) relay(ctx context.Context, w http.ResponseWriter, resp *http.Response, ex *exchange) streamEnd {
	copyResponseHeaders(w.Header(), resp.Header)
	if ex.sess != nil {
		w.Header().Set(headerSessionID, ex.sess.id)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case mt == "text/event-stream":
		return g.relaySSE(ctx, w, resp, ex)
	case mt == "application/json" && resp.StatusCode/100 == 2:
		g.relayJSON(w, resp, ex)
	case resp.StatusCode == http.StatusAccepted && len(ex.local) > 0:
		ex.writeLocal(w) // only notifications went upstream; the refusals still need their answer
	default:
		w.WriteHeader(resp.StatusCode)
		copyBody(w, resp.Body)
	}
	return streamEnd{}
}

// copyBuffers are copyBody's buffers: io.Copy would allocate 32 KiB for
// each response it copies, most of them empty (a notification's 202): 25%
// of the gateway's memory clearing while sessions were being opened.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// copyBody copies an upstream response body that the gateway relays as it
// is, up to maxEventBytes.
func copyBody(w io.Writer, body io.Reader) {
	buf := copyBuffers.Get().(*[]byte)
	io.CopyBuffer(w, io.LimitReader(body, maxEventBytes), *buf)
	copyBuffers.Put(buf)
}

// resumed reports whether ex relays a GET stream of a session, where the
// responses of calls whose POST stream was cut may arrive when the client
// resumes it.
func (ex *exchange) resumed() bool { return ex.body == nil && ex.sess != nil }

// copyResponseHeaders copies what a client needs of an upstream response.
// Cookies, the upstream's session id and its auth challenges stay behind.
func copyResponseHeaders(dst, src http.Header) {
	for _, k := range []string{"Content-Type", "Cache-Control", "Allow", "Retry-After", headerProtocolVersion} {
		if v := src.Values(k); len(v) > 0 {
			dst[k] = v
		}
	}
}

// writeLocal answers a POST entirely from the gateway (every request denied,
// or only dropped notifications: 202 Accepted).
func (ex *exchange) writeLocal(w http.ResponseWriter) {
	if len(ex.local) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if ex.status != 0 {
		w.WriteHeader(ex.status)
	}
	if !ex.batch {
		w.Write(ex.local[0])
		return
	}
	w.Write(joinBatch(ex.local))
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
	case len(parts) == 0: // nothing the token may see (a dropped notification)
		out = nil
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
	case len(parts) == 0:
		return nil, nil // everything dropped
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
	parts = make([][]byte, 0, len(msgs))
	for _, m := range msgs {
		part, err := g.transformMessage(ctx, ex, m)
		if err != nil {
			return nil, false, false, err
		}
		changed = changed || !bytes.Equal(part, m.raw)
		if part != nil { // nil: a message the token may not see, dropped
			parts = append(parts, part)
		}
	}
	return parts, batch, changed, nil
}

func (g *Gateway) transformMessage(ctx context.Context, ex *exchange, m *message) ([]byte, error) {
	if m.kind == kindNotification {
		return g.viewNotification(ex, m), nil
	}
	if m.kind != kindResponse {
		return m.raw, nil
	}
	key := string(m.id)
	var pc *pendingCall
	if ex != nil {
		var ok bool
		pc, ok = ex.pending[key]
		if !ok && ex.resumed() {
			pc, ok = ex.sess.takeOrphan(key)
		}
		if ok {
			if settle(ctx, pc, m) && ex.sess != nil {
				ex.sess.activity.add(0, 0, pc.amount, g.now())
			}
			delete(ex.pending, key)
		}
		if key == ex.initID && ex.sess != nil && m.result != nil {
			if v, ok := m.resultMembers.stringOf("protocolVersion"); ok {
				ex.sess.setVersion(v)
			}
			g.saveSession(ctx, ex.sess)
		}
	}
	if m.result == nil {
		return m.raw, nil
	}
	return g.viewResult(ex, pc, m)
}

// streamEnd says how an upstream event stream ended, for the caller to finish
// the client's request accordingly.
type streamEnd struct {
	// resumable: an event carried an id, so the client can resume the stream
	// (GET with Last-Event-ID) and requests left without a response may still
	// get it there.
	resumable bool
	// abort: the client's stream must be aborted, not ended, so that the
	// client sees the cut and resumes (as httputil.ReverseProxy does).
	abort bool
}

// relaySSE relays an event stream event by event, flushing each at once.
// Every event goes out byte for byte as the upstream sent it (id, event,
// retry, comments, empty data) unless its data is a message the gateway must
// change (a tool list to filter): then only its data lines are rewritten.
func (g *Gateway) relaySSE(ctx context.Context, w http.ResponseWriter, resp *http.Response, ex *exchange) streamEnd {
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	for _, l := range ex.local {
		writeEvent(w, l)
	}
	if len(ex.local) > 0 || ex.body == nil {
		// The gateway's own answers, or a GET stream's headers (its client
		// waits for them), go out at once. A POST stream's headers go out
		// with its first event, in one write, as httputil.ReverseProxy does.
		rc.Flush()
	}
	rd := newSSEReader(resp.Body, maxEventBytes, ex.body == nil)
	defer rd.release()
	var end streamEnd
	var err error
	for {
		var raw []byte
		if raw, err = rd.next(); err != nil {
			break
		}
		ev := parseEvent(raw)
		end.resumable = end.resumable || len(ev.id) > 0
		out, terr := g.transformEvent(ctx, ex, ev)
		if terr != nil {
			g.log.Warn("unusable upstream event dropped", "upstream", ex.up.Slug, "err", terr)
			continue
		}
		if _, werr := w.Write(out); werr != nil {
			return end
		}
		if !rd.ended() {
			rc.Flush()
		}
		// Once the upstream's stream has ended, the rest goes out with the
		// end of the response: a call's answer and the end of its stream in
		// one write (one DATA frame with END_STREAM on HTTP/2), not two.
	}
	end.abort = g.endSSE(ctx, w, ex, err, end.resumable)
	if end.abort || len(ex.pending) > 0 || !errors.Is(err, io.EOF) {
		// Delivered before the stream is cut, or before the clean-up of
		// the calls left without an answer (finishCalls) runs.
		rc.Flush()
	}
	return end
}

// endSSE finishes the client's stream after the upstream's ended with err,
// and reports whether the client's stream must be aborted. Requests still
// waiting get an answer unless the client can resume: a stream is never
// ended as if it were complete when it is not.
func (g *Gateway) endSSE(ctx context.Context, w io.Writer, ex *exchange, err error, resumable bool) (abort bool) {
	fail := func(e rpcError) {
		for _, pc := range ex.pending {
			writeEvent(w, errorResponse(pc.id, e))
		}
	}
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errKilled):
		fail(killedError())
		return false
	case errors.Is(cause, errSessionEnded):
		fail(rpcError{Code: codeInvalidRequest, Message: "session ended"})
		return false
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		fail(timeoutError())
		return false
	case ctx.Err() != nil:
		return false // the client went away: nobody to answer
	case errors.Is(err, io.EOF) && (len(ex.pending) == 0 || resumable):
		// Complete, or closed by the upstream for the client to resume
		// (SEP-1699 polling): end the client's stream the same way.
		return false
	case resumable:
		g.log.Warn("upstream stream cut; the client's stream is aborted so it resumes", "upstream", ex.up.Slug, "err", err)
		return true
	case len(ex.pending) == 0:
		g.log.Warn("upstream stream cut", "upstream", ex.up.Slug, "err", err)
		return true
	default:
		g.log.Warn("upstream stream ended without a response", "upstream", ex.up.Slug, "err", err)
		fail(rpcError{Code: CodeUpstream, Message: "the upstream ended the stream without a response"})
		return false
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

// transformEvent returns the bytes to relay for one raw SSE event: unchanged
// unless its data is a message the gateway must alter. An event without data
// (a priming event carrying only an id, a retry hint, a comment) is relayed
// as it came.
func (g *Gateway) transformEvent(ctx context.Context, ex *exchange, ev sseEvent) ([]byte, error) {
	if len(bytes.TrimSpace(ev.data)) == 0 {
		return ev.raw, nil
	}
	out, err := g.transform(ctx, ex, ev.data)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(out, ev.data) {
		return ev.raw, nil
	}
	if len(out) == 0 { // the whole message was withheld: keep the id and retry lines
		return droppedEvent(bytes.Split(ev.raw, []byte("\n"))), nil
	}
	return withData(ev.raw, out), nil
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

// settle finishes the budget hold of a call whose response arrived: a
// completed, successful result spends it; an error, an isError result or a
// result still waiting for input (multi-round-trip) releases it. It reports
// whether the call's amount was spent.
func settle(ctx context.Context, pc *pendingCall, m *message) bool {
	if pc.hold == nil && pc.amount == nil {
		return false // nothing held, nothing to count
	}
	spent := m.result != nil && !resultFailed(m.resultMembers)
	if pc.hold == nil {
		return spent
	}
	if q, ok := pc.hold.(policy.QueuedHold); ok {
		// The answer goes out without waiting for the settlement's commit:
		// it is queued ahead of anything this client sends next, and held
		// until then, so it counts against the budget either way.
		q.CloseQueued(spent)
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

func resultFailed(result members) bool {
	if v, ok := result.get("isError"); ok && string(v) == "true" {
		return true
	}
	if s, ok := result.stringOf("resultType"); ok && s == "input_required" {
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

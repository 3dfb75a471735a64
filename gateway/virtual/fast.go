package virtual

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// Transport returns a RoundTripper that serves a call for one member
// (tools/call, prompts/get) without the in-process HTTP hop: the member's
// response is the response, its body streamed through as it comes, with
// only the ids of the member's own requests to the client mapped. Every
// other request, and any call it cannot take (an unknown session or name,
// a member to open), goes to next: the handler served in process. The
// gateway reaches the handler through it (gateway/bridges.go).
func (h *Handler) Transport(next http.RoundTripper) http.RoundTripper {
	return &fastTransport{h: h, next: next}
}

type fastTransport struct {
	h    *Handler
	next http.RoundTripper
}

func (t *fastTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.Body == nil {
		return t.next.RoundTrip(req)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBodyBytes+1))
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	slow := func() (*http.Response, error) {
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		return t.next.RoundTrip(r)
	}
	var msg message
	if len(body) > maxBodyBytes || decodeMessage(body, &msg) != nil || !msg.isRequest() ||
		(msg.Method != "tools/call" && msg.Method != "prompts/get") {
		return slow()
	}
	ctx := req.Context()
	var s *session
	if id := req.Header.Get("Mcp-Session-Id"); id != "" {
		if s = t.h.lookup(id); s == nil {
			return slow()
		}
		s.setCredential(credentialFrom(ctx))
	} else if v := req.Header.Get("Mcp-Protocol-Version"); v >= statelessRevision {
		s = newSession(t.h, "", credentialFrom(ctx))
		s.caller, s.version, s.hdr = callerFrom(ctx), v, mcpHeaders(req.Header)
		if s.checkVersion() != nil {
			s.close()
			return slow()
		}
	} else {
		return slow()
	}
	resp, ok := t.call(req, s, &msg)
	if !ok {
		if s.id == "" {
			s.close()
		}
		return slow()
	}
	return resp, nil
}

// call sends the call to its member; ok false leaves it to the handler.
func (t *fastTransport) call(req *http.Request, s *session, msg *message) (*http.Response, bool) {
	params, err := decodeObject(msg.Params)
	if err != nil {
		return nil, false
	}
	if _, ok := params["task"]; ok && t.h.scopesTasks() {
		return nil, false // a task-augmented call: its task id is scoped (tasks.go)
	}
	full := params.str("name")
	m, name, found := t.h.up.MemberOf(full)
	if !found {
		return nil, false
	}
	idx := t.h.indexOf(m.Name)
	s.mu.Lock()
	sl := s.links[idx]
	s.mu.Unlock()
	if s.id != "" && (sl == nil || sl.l == nil) {
		return nil, false // not open (or failed): the handler opens it and reports failures
	}
	l, err := s.link(idx)
	if err != nil {
		return nil, false
	}
	if name != full {
		params.setStr("name", name)
	}
	ctx := req.Context()
	done := s.enter()
	// The member request outlives the gateway's by the end of its stream
	// (drained after the answer); until the answer, cutting the gateway's
	// request cuts it.
	mctx, mcancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, mcancel)
	cctx := mctx
	var ccancel context.CancelFunc = func() {}
	if d := m.Timeouts.Call; d > 0 {
		cctx, ccancel = context.WithTimeout(mctx, d)
	}
	key := idKey(msg.ID)
	f := &inflight{l: l}
	s.mu.Lock()
	s.inflight[key] = f
	s.mu.Unlock()
	b := &fastBody{s: s, l: l, id: msg.ID, key: key, f: f, done: done, stop: stop, cancel: func() { ccancel(); mcancel() }}
	resp, err := l.post(cctx, request(msg.ID, msg.Method, s.paramsFor(l, params.encode())), s.headersFor(l, name))
	if err == nil && resp.StatusCode == http.StatusNotFound && l.sid != "" {
		resp.Body.Close()
		b.finish(true)
		s.dropLink(l)
		return nil, false // the handler opens the member session again
	}
	if err != nil {
		s.mu.Lock()
		told := f.cancelled
		s.mu.Unlock()
		b.finish(ctx.Err() == nil)
		if ctx.Err() != nil {
			// Cut before the member's answer began (a kill, the client
			// gone): the member may be running the call, so it is told,
			// unless the client's own cancel was passed on. The handler
			// answers the cut request as it does.
			if !told {
				p := object{"requestId": msg.ID, "reason": quote("request cut by the gateway")}
				go s.sendCancel(l, request(nil, "notifications/cancelled", p.encode()))
			}
			return nil, false
		}
		s.dropLink(l)
		return errorResponse(req, msg.ID, unavailable(m, err)), true
	}
	resp.Header.Del("Mcp-Session-Id") // the member's own
	if resp.StatusCode/100 != 2 {
		if !isJSON(resp) {
			resp.Body.Close()
			b.finish(true)
			s.dropLink(l)
			return errorResponse(req, msg.ID, unavailable(m, &statusError{code: resp.StatusCode, status: resp.Status})), true
		}
		b.answered = true // the member's refusal, passed on as it gave it
	}
	b.body = resp.Body
	if isEventStream(resp) {
		b.sse = newSSEReader(resp.Body)
	}
	resp.Body = b
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	resp.Request = req
	return resp, true
}

func isJSON(resp *http.Response) bool {
	ct := resp.Header.Get("Content-Type")
	return len(ct) >= 16 && ct[:16] == "application/json"
}

func errorResponse(req *http.Request, id json.RawMessage, re *rpcError) *http.Response {
	body := response(id, nil, re.raw())
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}, "Content-Length": {strconv.Itoa(len(body))}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)), Request: req,
	}
}

// fastBody is a member's answer as the gateway reads it: a JSON body
// passed through, or an event stream whose events are passed on one by one
// (a member's request with its id mapped), ending after the answer.
type fastBody struct {
	s    *session
	l    *link
	id   json.RawMessage
	key  string
	f    *inflight
	done func()
	stop func() bool
	// cancel ends the member request
	cancel func()

	body     io.ReadCloser
	sse      *sseReader
	pending  []byte
	answered bool
	eof      bool
	once     sync.Once
}

func (b *fastBody) Read(p []byte) (int, error) {
	if b.sse == nil {
		n, err := b.body.Read(p)
		if errors.Is(err, io.EOF) {
			b.answered = true
		}
		return n, err
	}
	for len(b.pending) == 0 {
		if b.eof {
			return 0, io.EOF
		}
		data, err := b.sse.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, io.ErrUnexpectedEOF // the stream ended before the answer
			}
			return 0, err
		}
		var h head
		if decodeHead(data, &h) != nil {
			continue
		}
		if h.Method != "" {
			if len(h.ID) > 0 && string(h.ID) != "null" {
				if data, err = withID(data, mapMemberID(b.l.idx, h.ID)); err != nil {
					continue
				}
			}
		} else if idKey(h.ID) == idKey(b.id) {
			b.answered, b.eof = true, true
		}
		data = b.l.scopeTasks(data)
		b.pending = append(append(append(b.pending[:0], "event: message\ndata: "...), data...), "\n\n"...)
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, nil
}

func (b *fastBody) Close() error {
	b.finish(!b.answered)
	return nil
}

// finish ends the call once: the member's stream is read to its end in the
// background after an answer (so that its connection is used again), or
// cut, and then the member is told of the cut unless the client's own
// cancel was passed on.
func (b *fastBody) finish(cut bool) {
	b.once.Do(func() {
		if b.sse != nil {
			b.sse.release()
		}
		if !cut && b.body != nil && b.stop() {
			go func() {
				drain(b.body)
				b.cancel()
			}()
		} else {
			if b.body != nil {
				b.body.Close()
			}
			b.stop()
			b.cancel()
		}
		s := b.s
		s.mu.Lock()
		told := b.f.cancelled
		if s.inflight[b.key] == b.f {
			delete(s.inflight, b.key)
		}
		s.mu.Unlock()
		if cut && !told && b.body != nil {
			p := object{"requestId": b.id, "reason": quote("request cut by the gateway")}
			go s.sendCancel(b.l, request(nil, "notifications/cancelled", p.encode()))
		}
		b.done()
		if s.id == "" {
			go s.close()
		}
	})
}

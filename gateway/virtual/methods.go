package virtual

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// handle serves one message of the client.
func (s *session) handle(w http.ResponseWriter, r *http.Request, msg *message) {
	switch {
	case msg.isResponse():
		s.answer(w, r, msg)
		return
	case msg.isNotification():
		s.notification(r.Context(), msg)
		w.WriteHeader(http.StatusAccepted)
		return
	case !msg.isRequest():
		writeError(w, http.StatusBadRequest, msg.ID, &rpcError{Code: codeInvalidRequest, Message: "not a JSON-RPC request, notification or response"})
		return
	}
	if acceptsStream(r) {
		w = streamWriter{w}
	}
	ctx := r.Context()
	switch msg.Method {
	case "ping":
		writeResult(w, msg.ID, json.RawMessage("{}"))
	case "initialize":
		writeError(w, http.StatusBadRequest, msg.ID, &rpcError{Code: codeInvalidRequest, Message: "session already initialized"})
	case "tools/list":
		s.list(w, ctx, msg, "tools", "tools", true)
	case "prompts/list":
		s.list(w, ctx, msg, "prompts", "prompts", true)
	case "resources/list":
		s.list(w, ctx, msg, "resources", "resources", false)
	case "resources/templates/list":
		s.list(w, ctx, msg, "resources", "resourceTemplates", false)
	case "tools/call", "prompts/get":
		s.byName(w, r, msg)
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		params, err := decodeObject(msg.Params)
		if err != nil {
			writeError(w, http.StatusOK, msg.ID, &rpcError{Code: codeInvalidParams, Message: "invalid params"})
			return
		}
		s.byURI(w, r, msg, params.str("uri"), nil)
	case "completion/complete":
		s.complete(w, r, msg)
	case "logging/setLevel":
		s.setLevel(ctx, msg)
		writeResult(w, msg.ID, json.RawMessage("{}"))
	case "server/discover":
		s.discover(w, r, msg)
	case "subscriptions/listen":
		if len(s.h.up.Members) == 1 {
			s.forwardTo(w, r, 0, msg, msg.Params, "")
			return
		}
		s.listen(w, r, msg)
	case "tasks/get", "tasks/result", "tasks/cancel":
		if !s.h.scopesTasks() {
			s.forwardTo(w, r, 0, msg, msg.Params, "")
			return
		}
		s.task(w, r, msg)
	case "tasks/list":
		if !s.h.scopesTasks() {
			s.forwardTo(w, r, 0, msg, msg.Params, "")
			return
		}
		s.listTasks(w, ctx, msg)
	default:
		// A method of one member's (extensions): a virtual server of one
		// member passes it on; with several, whose it is is unknown.
		if len(s.h.up.Members) == 1 {
			s.forwardTo(w, r, 0, msg, msg.Params, "")
			return
		}
		writeError(w, http.StatusOK, msg.ID, &rpcError{Code: codeMethodNotFound, Message: fmt.Sprintf("method %q is not served by a virtual upstream of several members", msg.Method)})
	}
}

// answer passes the client's answer to a member's request to that member,
// under the member's own id.
func (s *session) answer(w http.ResponseWriter, r *http.Request, msg *message) {
	idx, orig, ok := unmapMemberID(msg.ID)
	if !ok || idx >= len(s.h.up.Members) {
		writeError(w, http.StatusBadRequest, nil, &rpcError{Code: codeInvalidRequest, Message: "answer to an unknown request"})
		return
	}
	l, err := s.link(idx)
	if err != nil {
		linkFailed(w, nil, &s.h.up.Members[idx], err)
		return
	}
	if err := l.notify(r.Context(), response(orig, msg.Result, msg.Error)); err != nil {
		s.h.opts.Logger.Warn("virtual: answer to member failed", "member", l.m.Name, "err", err)
	}
	w.WriteHeader(http.StatusAccepted)
}

// notification passes a client's notification on: a cancel to the member
// answering the request, roots/list_changed (and any other) to every member
// open; notifications/initialized was the virtual server's own to send.
func (s *session) notification(ctx context.Context, msg *message) {
	switch msg.Method {
	case "notifications/initialized":
		return
	case "notifications/cancelled":
		params, err := decodeObject(msg.Params)
		if err != nil {
			return
		}
		s.mu.Lock()
		f := s.inflight[idKey(params["requestId"])]
		if f != nil {
			f.cancelled = true
		}
		s.mu.Unlock()
		if f != nil {
			go s.sendCancel(f.l, request(nil, msg.Method, msg.Params))
		}
		return
	}
	body := request(nil, msg.Method, msg.Params)
	for _, l := range s.opened() {
		if l.stateless {
			continue
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
			defer cancel()
			_ = l.notify(ctx, body)
		}()
	}
}

func (s *session) sendCancel(l *link, body []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
	defer cancel()
	_ = l.notify(ctx, body)
}

// byName routes tools/call and prompts/get by the name's prefix.
func (s *session) byName(w http.ResponseWriter, r *http.Request, msg *message) {
	params, err := decodeObject(msg.Params)
	if err != nil {
		writeError(w, http.StatusOK, msg.ID, &rpcError{Code: codeInvalidParams, Message: "invalid params"})
		return
	}
	full := params.str("name")
	m, name, ok := s.h.up.MemberOf(full)
	if !ok {
		kind := "tool"
		if msg.Method == "prompts/get" {
			kind = "prompt"
		}
		writeError(w, http.StatusOK, msg.ID, unknown(kind, full))
		return
	}
	if name != full {
		params.setStr("name", name)
	}
	s.forwardTo(w, r, s.h.indexOf(m.Name), msg, params, name)
}

// complete routes completion/complete: a prompt's by its prefix, a
// resource's by its URI.
func (s *session) complete(w http.ResponseWriter, r *http.Request, msg *message) {
	params, err := decodeObject(msg.Params)
	var ref object
	if err == nil {
		ref, err = decodeObject(params["ref"])
	}
	if err != nil {
		writeError(w, http.StatusOK, msg.ID, &rpcError{Code: codeInvalidParams, Message: "invalid params"})
		return
	}
	if ref.str("type") == "ref/prompt" {
		full := ref.str("name")
		m, name, ok := s.h.up.MemberOf(full)
		if !ok {
			writeError(w, http.StatusOK, msg.ID, unknown("prompt", full))
			return
		}
		ref.setStr("name", name)
		params["ref"] = ref.encode()
		s.forwardTo(w, r, s.h.indexOf(m.Name), msg, params, "")
		return
	}
	s.byURI(w, r, msg, ref.str("uri"), params)
}

func unknown(kind, name string) *rpcError {
	return &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("unknown %s %q", kind, name)}
}

func (h *Handler) indexOf(name string) int {
	for i := range h.up.Members {
		if h.up.Members[i].Name == name {
			return i
		}
	}
	return -1
}

// byURI routes a request naming a resource to the member that listed it;
// a URI no member listed (a template's) is tried on each member in turn
// until one answers without an error.
func (s *session) byURI(w http.ResponseWriter, r *http.Request, msg *message, uri string, params object) {
	var raw json.RawMessage = msg.Params
	if params != nil {
		raw = params.encode()
	}
	s.mu.Lock()
	owner, listed := s.uris[uri]
	s.mu.Unlock()
	if listed || len(s.h.up.Members) == 1 {
		s.forwardTo(w, r, owner, msg, raw, uri)
		return
	}
	var last error = unknown("resource", uri)
	for i := range s.h.up.Members {
		l, err := s.link(i)
		if err != nil {
			last = unavailable(&s.h.up.Members[i], err)
			continue
		}
		res, err := l.call(r.Context(), msg.Method, s.paramsFor(l, raw), s.headersFor(l, uri))
		if err == nil {
			writeResult(w, msg.ID, res)
			return
		}
		var re *rpcError
		if !errors.As(err, &re) {
			re = unavailable(l.m, err)
		}
		last = re
		if r.Context().Err() != nil {
			return
		}
	}
	writeError(w, http.StatusOK, msg.ID, last)
}

// paramsFor returns params as member l takes them: without the client's
// hop _meta when l is reached in a session of its own.
func (s *session) paramsFor(l *link, params json.RawMessage) json.RawMessage {
	if s.initParams != nil || l.stateless || len(params) == 0 {
		return params
	}
	o, err := decodeObject(params)
	if err != nil {
		return params
	}
	return stripHopMeta(o).encode()
}

// headersFor returns the MCP headers of a request to l: a stateless
// request's own (with Mcp-Name set to name when not empty) for a member
// that speaks its revision, none for a member session.
func (s *session) headersFor(l *link, name string) http.Header {
	if !l.stateless || s.hdr == nil {
		return nil
	}
	hdr := s.hdr.Clone()
	if name != "" && hdr.Get("Mcp-Name") != "" {
		hdr.Set("Mcp-Name", name)
	}
	return hdr
}

// forwardTo sends the client's request to member idx, params rewritten,
// and streams the member's answer back.
func (s *session) forwardTo(w http.ResponseWriter, r *http.Request, idx int, msg *message, params any, name string) {
	var raw json.RawMessage
	switch p := params.(type) {
	case object:
		raw = p.encode()
	case json.RawMessage:
		raw = p
	}
	m := &s.h.up.Members[idx]
	l, err := s.link(idx)
	if err != nil {
		linkFailed(w, msg.ID, m, err)
		return
	}
	ctx := r.Context()
	if d := m.Timeouts.Call; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	key := idKey(msg.ID)
	f := &inflight{l: l}
	s.mu.Lock()
	s.inflight[key] = f
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.inflight[key] == f {
			delete(s.inflight, key)
		}
		s.mu.Unlock()
	}()
	answered, err := s.relay(ctx, w, l, msg, s.paramsFor(l, raw), s.headersFor(l, name))
	if answered {
		return
	}
	if ctx.Err() != nil {
		// Cut (a kill, the client gone, the call timeout): the member is
		// told, unless the client's own cancel already was passed on.
		s.mu.Lock()
		told := f.cancelled
		s.mu.Unlock()
		if !told {
			p := object{"requestId": msg.ID, "reason": quote("request cut by the gateway")}
			go s.sendCancel(l, request(nil, "notifications/cancelled", p.encode()))
		}
		if r.Context().Err() == nil { // the call timeout
			writeLate(w, msg.ID, &rpcError{Code: CodeMemberUnavailable, Message: fmt.Sprintf("upstream member %q did not answer in time", m.Name)})
		}
		return
	}
	var re *rpcError
	if !errors.As(err, &re) {
		s.dropLink(l)
		re = unavailable(m, err)
	}
	writeLate(w, msg.ID, re)
}

// writeLate answers with an error, as an event when the answer's stream
// has started.
func writeLate(w http.ResponseWriter, id json.RawMessage, re *rpcError) {
	writeError(w, http.StatusOK, id, re)
}

// relay sends one request to member l and streams its answer to w; it
// reports whether the client got its answer. A member session the member
// no longer knows (404) is opened again and the request sent once more.
func (s *session) relay(ctx context.Context, w http.ResponseWriter, l *link, msg *message, params json.RawMessage, hdr http.Header) (bool, error) {
	body := request(msg.ID, msg.Method, params)
	// The member request outlives this one by the end of its stream, read
	// after the answer is passed on (drain), so that the connection to the
	// member is used again; until the answer, cutting this request cuts it.
	mctx, mcancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, mcancel)
	resp, err := l.post(mctx, body, hdr)
	if err == nil && resp.StatusCode == http.StatusNotFound && l.sid != "" {
		resp.Body.Close()
		s.dropLink(l)
		if l, err = s.link(l.idx); err != nil {
			mcancel()
			return false, err
		}
		resp, err = l.post(mctx, body, hdr)
	}
	if err != nil {
		mcancel()
		return false, err
	}
	answered := false
	defer func() {
		if answered && stop() {
			go func() {
				drain(resp.Body)
				mcancel()
			}()
			return
		}
		resp.Body.Close()
		mcancel()
	}()
	if resp.StatusCode/100 != 2 {
		if re, ok := errorBody(resp); ok {
			// The member refused the request itself (bad params, headers):
			// its answer, as it gave it.
			writeError(w, resp.StatusCode, msg.ID, re)
			answered = true
			return true, nil
		}
		return false, fmt.Errorf("member answered %s", resp.Status)
	}
	if !isEventStream(resp) {
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxEventBytes))
		if err != nil {
			return false, err
		}
		if resp.StatusCode == http.StatusAccepted || len(data) == 0 {
			return false, errors.New("member accepted the request without answering it")
		}
		writeJSON(w, http.StatusOK, l.scopeTasks(data))
		answered = true
		return true, nil
	}
	startEventStream(w)
	rd := newSSEReader(resp.Body)
	defer rd.release()
	want := idKey(msg.ID)
	for {
		data, err := rd.next()
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return false, fmt.Errorf("member's stream ended before its answer: %w", err)
		}
		var h head
		if decodeHead(data, &h) != nil {
			continue
		}
		final := false
		if h.Method != "" {
			if len(h.ID) > 0 && string(h.ID) != "null" {
				if data, err = withID(data, mapMemberID(l.idx, h.ID)); err != nil {
					continue
				}
			}
		} else if idKey(h.ID) == want {
			final = true
		}
		if err := writeEvent(w, l.scopeTasks(data)); err != nil {
			return false, err
		}
		if final {
			answered = true
			return true, nil
		}
	}
}

// setLevel passes the client's logging level to the members open now that
// log; the others get it when they open.
func (s *session) setLevel(ctx context.Context, msg *message) {
	s.mu.Lock()
	s.level = msg.Params
	s.mu.Unlock()
	each(ctx, s, func(ctx context.Context, l *link) (struct{}, error) {
		if !l.has("logging") {
			return struct{}{}, nil
		}
		_, err := l.call(ctx, "logging/setLevel", s.paramsFor(l, msg.Params), s.headersFor(l, ""))
		return struct{}{}, err
	})
}

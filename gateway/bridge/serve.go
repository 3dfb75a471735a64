package bridge

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// servePost delivers a POST's messages to the session's server. A POST that
// carries requests is answered with an event stream that ends once every
// request has its response; one without requests gets 202 once written.
func (h *Handler) servePost(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(h.opts.MaxMessageBytes)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest,
				fmt.Sprintf("request body exceeds %d bytes", mbe.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeParseError, "could not read the request body")
		return
	}
	msgs, err := decodeBody(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeParseError, "invalid JSON-RPC message")
		return
	}
	s, ok := h.postSession(w, r, msgs)
	if !ok {
		return
	}
	if s.link.refresh != nil {
		s.link.refresh(r.Header)
	}
	calls := callsOf(msgs)
	if len(calls) == 0 {
		s.touch()
		select {
		case err := <-s.write(msgs):
			switch {
			case errors.Is(err, errSessionEnded):
				writeError(w, http.StatusNotFound, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "session not found")
			case err != nil:
				writeError(w, http.StatusBadGateway, jsonrpc.ID{}, jsonrpc.CodeInternalError, "the upstream is unavailable")
			default:
				w.WriteHeader(http.StatusAccepted)
			}
		case <-r.Context().Done():
		}
		return
	}
	st, err := s.openStream(calls)
	if err != nil {
		s.refuse(w, err, calls[0].ID)
		return
	}
	defer s.closeStream(st)
	written := s.write(msgs)
	startEventStream(w)
	s.relay(r.Context(), w, st, written)
}

// postSession returns the session a POST belongs to, creating it for an
// initialize request without Mcp-Session-Id. It answers the client itself
// and returns ok=false when there is none.
func (h *Handler) postSession(w http.ResponseWriter, r *http.Request, msgs []jsonrpc.Message) (*session, bool) {
	id := r.Header.Get(headerSessionID)
	if id != "" {
		s, ok := h.lookup(id)
		if !ok {
			writeError(w, http.StatusNotFound, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "session not found")
		}
		return s, ok
	}
	if !isInitialize(msgs) {
		writeError(w, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest,
			"Mcp-Session-Id is required (this server is stateful: initialize first)")
		return nil, false
	}
	initID := msgs[0].(*jsonrpc.Request).ID
	s, err := h.newSession(r)
	var refused *refusedError
	switch {
	case err == nil:
		w.Header().Set(headerSessionID, s.id)
		return s, true
	case errors.Is(err, errClosed):
		writeError(w, http.StatusServiceUnavailable, initID, jsonrpc.CodeInternalError, "the bridge is shutting down")
	case errors.As(err, &refused):
		h.log.Warn("the upstream refused the bridge's connection", "status", refused.status)
		writeError(w, refused.status, initID, jsonrpc.CodeInternalError, "the upstream refused the credentials")
	default:
		h.log.Error("could not start an upstream session", "err", err)
		writeError(w, http.StatusBadGateway, initID, jsonrpc.CodeInternalError, "the upstream could not be started")
	}
	return nil, false
}

// serveGet opens the session's standalone stream: server-initiated
// requests and notifications go there while it is open.
func (h *Handler) serveGet(w http.ResponseWriter, r *http.Request) {
	s, ok := h.lookup(r.Header.Get(headerSessionID))
	if !ok {
		status := http.StatusNotFound
		if r.Header.Get(headerSessionID) == "" {
			status = http.StatusBadRequest
		}
		writeError(w, status, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "session not found")
		return
	}
	if s.link.refresh != nil {
		s.link.refresh(r.Header)
	}
	st, backlog, err := s.openStandalone()
	if err != nil {
		s.refuse(w, err, jsonrpc.ID{})
		return
	}
	defer s.closeStandalone(st)
	startEventStream(w)
	s.stream(r.Context(), w, st, backlog)
}

// serveDelete ends the session and answers once its link is released (the
// child process is gone).
func (h *Handler) serveDelete(w http.ResponseWriter, r *http.Request) {
	s, ok := h.lookup(r.Header.Get(headerSessionID))
	if !ok {
		writeError(w, http.StatusNotFound, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "session not found")
		return
	}
	s.cancel()
	select {
	case <-s.done:
	case <-r.Context().Done():
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func startEventStream(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w).Flush()
}

// refuse answers a request the session could not take.
func (s *session) refuse(w http.ResponseWriter, err error, id jsonrpc.ID) {
	switch {
	case errors.Is(err, errDuplicateID):
		writeError(w, http.StatusBadRequest, id, jsonrpc.CodeInvalidRequest, "a request with this id is already in progress")
	case errors.Is(err, errStandaloneOpen):
		writeError(w, http.StatusConflict, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "the session's standalone stream is already open")
	default:
		writeError(w, http.StatusNotFound, id, jsonrpc.CodeInvalidRequest, "session not found")
	}
}

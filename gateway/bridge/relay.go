package bridge

import (
	"context"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// relay writes a POST stream's messages as SSE events, each flushed at once,
// until every call of the POST has its response. When the session ends or
// the write to the server fails first, the calls still waiting are answered
// with an error so the client is not left hanging.
func (s *session) relay(ctx context.Context, w http.ResponseWriter, st *stream, written <-chan error) {
	rc := http.NewResponseController(w)
	for len(st.waiting) > 0 {
		select {
		case m := <-st.out:
			if resp, ok := m.(*jsonrpc.Response); ok {
				delete(st.waiting, resp.ID)
			}
			if writeEvent(w, m) != nil || rc.Flush() != nil {
				return
			}
		case err := <-written:
			written = nil // a nil channel is never ready
			if err != nil {
				failWaiting(w, st, "the request could not be delivered to the upstream")
				return
			}
		case <-s.ctx.Done():
			failWaiting(w, st, "the upstream session ended")
			return
		case <-ctx.Done():
			return
		}
	}
}

// stream writes the standalone stream: the backlog, then every message
// routed to it until the client or the session goes away.
func (s *session) stream(ctx context.Context, w http.ResponseWriter, st *stream, backlog []jsonrpc.Message) {
	rc := http.NewResponseController(w)
	for _, m := range backlog {
		if writeEvent(w, m) != nil {
			return
		}
	}
	if rc.Flush() != nil {
		return
	}
	for {
		select {
		case m := <-st.out:
			if writeEvent(w, m) != nil || rc.Flush() != nil {
				return
			}
		case <-s.ctx.Done():
			return
		case <-ctx.Done():
			return
		}
	}
}

// failWaiting answers each call still waiting on st with an internal error.
func failWaiting(w http.ResponseWriter, st *stream, msg string) {
	for id := range st.waiting {
		resp := &jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: msg}}
		if writeEvent(w, resp) != nil {
			return
		}
	}
	http.NewResponseController(w).Flush()
}

package bridge

import (
	"slices"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// methodProgress is the notification routed by progress token.
const methodProgress = "notifications/progress"

// stream is one open SSE response (a POST's or the standalone GET's). The
// session's read loop hands it messages over out, which is unbuffered: a
// message handed over has been received by the stream's handler, so nothing
// is left in flight when the read loop ends. done is closed when the handler
// stops receiving.
type stream struct {
	out  chan jsonrpc.Message
	done chan struct{}
	// waiting holds the calls of a POST stream still without a response. Only
	// the stream's handler goroutine touches it.
	waiting map[jsonrpc.ID]struct{}
}

func newStream() *stream {
	return &stream{out: make(chan jsonrpc.Message), done: make(chan struct{}), waiting: map[jsonrpc.ID]struct{}{}}
}

// openStream registers a POST stream for calls, before they are written, so
// that no response can arrive unrouted.
func (s *session) openStream(calls []*jsonrpc.Request) (*stream, error) {
	st := newStream()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil, errSessionEnded
	}
	for _, c := range calls {
		_, dup := s.calls[c.ID]
		_, twice := st.waiting[c.ID]
		if dup || twice {
			return nil, errDuplicateID
		}
		st.waiting[c.ID] = struct{}{}
	}
	for _, c := range calls {
		s.calls[c.ID] = st
		if k, ok := progressKey(c.Params, true); ok {
			s.tokens[c.ID] = k
			s.progress[k] = st
		}
	}
	s.posts = append(s.posts, st)
	s.openedLocked()
	return st, nil
}

// closeStream unregisters a POST stream; responses to its unanswered calls
// that arrive later are dropped.
func (s *session) closeStream(st *stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range st.waiting {
		if s.calls[id] == st {
			s.forgetCallLocked(id)
		}
	}
	s.posts = slices.DeleteFunc(s.posts, func(p *stream) bool { return p == st })
	close(st.done)
	s.closedLocked()
}

// forgetCallLocked unregisters call id and its progress token.
func (s *session) forgetCallLocked(id jsonrpc.ID) {
	st := s.calls[id]
	delete(s.calls, id)
	if k, ok := s.tokens[id]; ok {
		delete(s.tokens, id)
		if s.progress[k] == st {
			delete(s.progress, k)
		}
	}
}

// openStandalone registers the GET stream and hands over the backlog.
func (s *session) openStandalone() (*stream, []jsonrpc.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ended:
		return nil, nil, errSessionEnded
	case s.standalone != nil:
		return nil, nil, errStandaloneOpen
	}
	st := newStream()
	s.standalone = st
	backlog := s.backlog
	s.backlog = nil
	s.openedLocked()
	return st, backlog, nil
}

func (s *session) closeStandalone(st *stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.standalone == st {
		s.standalone = nil
	}
	close(st.done)
	s.closedLocked()
}

// route hands one message from the server to the stream it belongs to:
// a response to the stream of its call, a progress notification to the
// stream of the call that named its token, anything else to the standalone
// stream if open, else to the newest POST stream, else to the backlog.
func (s *session) route(m jsonrpc.Message) {
	switch m := m.(type) {
	case *jsonrpc.Response:
		s.mu.Lock()
		st := s.calls[m.ID]
		if st != nil {
			s.forgetCallLocked(m.ID)
		}
		s.mu.Unlock()
		if st == nil || !s.deliver(st, m) {
			s.log.Debug("dropped a response nobody waits for", "id", m.ID.Raw())
		}
	case *jsonrpc.Request:
		if m.Method == methodProgress {
			if st := s.progressStream(m.Params); st != nil && s.deliver(st, m) {
				return
			}
		}
		s.deliverServerMessage(m)
	}
}

func (s *session) progressStream(params []byte) *stream {
	k, ok := progressKey(params, false)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.progress[k]
}

func (s *session) deliverServerMessage(m *jsonrpc.Request) {
	s.mu.Lock()
	target := s.standalone
	if target == nil && len(s.posts) > 0 {
		target = s.posts[len(s.posts)-1]
	}
	s.mu.Unlock()
	if target != nil && s.deliver(target, m) {
		return
	}
	s.park(m)
}

// deliver hands m to st; false when st closed or the session ended first.
func (s *session) deliver(st *stream, m jsonrpc.Message) bool {
	select {
	case st.out <- m:
		return true
	case <-st.done:
		return false
	case <-s.ctx.Done():
		return false
	}
}

// park keeps a server-initiated message for the next standalone stream.
func (s *session) park(m *jsonrpc.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.backlog) >= maxBacklog {
		s.log.Warn("no client stream is open and the backlog is full; dropped a server message", "method", m.Method)
		return
	}
	s.backlog = append(s.backlog, m)
}

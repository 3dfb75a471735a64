package virtual

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openlegant/legant/upstreams"
)

// session is one gateway session of the virtual server (or, for a
// stateless request, that request): its member links, opened on first use.
type session struct {
	h  *Handler
	id string // "" for a stateless request

	// initParams are the client's initialize params, with which each
	// member session is opened; nil for a stateless request.
	initParams json.RawMessage
	// hdr are the MCP headers of a stateless request, passed to members
	// that speak its revision.
	hdr     http.Header
	version string // the stateless request's revision
	caller  string // the stateless request's caller (WithCaller)
	pool    bool   // a caller's pooled member sessions (pooledSession)

	ctx    context.Context // ends with the session
	cancel context.CancelFunc

	mu       sync.Mutex
	cred     Credential
	links    map[int]*slot
	uris     map[string]int // resource URI -> member index, as listed
	level    json.RawMessage
	inflight map[string]*inflight // the client's requests now at a member, by id
	closed   bool

	out     chan []byte // to the client's standalone stream
	getOpen bool

	busy atomic.Int32 // requests (and the standalone stream) in progress
	last atomic.Int64 // when the last one ended, unix nanoseconds
}

// enter marks a request of the session in progress until the returned
// function is called.
func (s *session) enter() func() {
	s.busy.Add(1)
	return func() {
		s.last.Store(time.Now().UnixNano())
		s.busy.Add(-1)
	}
}

// idleSince reports whether the session has had nothing in progress since
// before t.
func (s *session) idleSince(t time.Time) bool {
	return s.busy.Load() == 0 && s.last.Load() < t.UnixNano()
}

// slot holds a member's link while it opens; a failed link is dropped so
// that the next use opens a new one.
type slot struct {
	once     sync.Once
	l        *link
	err      error
	borrowed bool // l is a pooled session's: not this session's to close
}

// inflight is a client request a member is answering.
type inflight struct {
	l         *link
	cancelled bool
}

// standaloneBacklog bounds what waits for the client's standalone stream.
const standaloneBacklog = 256

func newSession(h *Handler, id string, c Credential) *session {
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{h: h, id: id, cred: c, ctx: ctx, cancel: cancel,
		links: map[int]*slot{}, uris: map[string]int{}, inflight: map[string]*inflight{}}
	s.last.Store(time.Now().UnixNano())
	if id != "" { // a stateless request has no standalone stream
		s.out = make(chan []byte, standaloneBacklog)
	}
	return s
}

func (s *session) setCredential(c Credential) {
	if c == nil {
		return
	}
	s.mu.Lock()
	s.cred = c
	s.mu.Unlock()
}

// authorize puts the session's latest credential for member m on req.
func (s *session) authorize(req *http.Request, m *upstreams.Member) error {
	s.mu.Lock()
	c := s.cred
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	return c(req.Context(), m.Upstream, req)
}

func (s *session) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	ss := s.links
	s.links = map[int]*slot{}
	s.mu.Unlock()
	s.cancel()
	var wg sync.WaitGroup
	for _, sl := range ss {
		wg.Go(func() {
			sl.once.Do(func() { sl.err = errSessionClosed })
			if sl.l != nil && !sl.borrowed {
				sl.l.close()
			}
		})
	}
	wg.Wait()
}

var errSessionClosed = errors.New("session closed")

// link returns the open link of member i, opening it within the member's
// connect timeout if needed.
func (s *session) link(i int) (*link, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errSessionClosed
	}
	sl := s.links[i]
	if sl == nil {
		sl = &slot{}
		s.links[i] = sl
	}
	s.mu.Unlock()
	sl.once.Do(func() { sl.l, sl.borrowed, sl.err = s.open(i) })
	if sl.err != nil {
		s.drop(i, sl)
		return nil, sl.err
	}
	return sl.l, nil
}

// opened returns the links open now.
func (s *session) opened() []*link {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*link
	for _, sl := range s.links {
		if sl.l != nil {
			out = append(out, sl.l)
		}
	}
	return out
}

// drop forgets a failed link so that the next use reopens it.
func (s *session) drop(i int, sl *slot) {
	s.mu.Lock()
	if s.links[i] == sl {
		delete(s.links, i)
	}
	s.mu.Unlock()
	if sl.l != nil && !sl.borrowed {
		go sl.l.close()
	}
}

// dropLink drops l if it is still member i's link.
func (s *session) dropLink(l *link) {
	s.mu.Lock()
	sl := s.links[l.idx]
	s.mu.Unlock()
	if sl != nil && sl.l == l {
		s.drop(l.idx, sl)
	}
	if l.s != s { // a pooled session's
		l.s.dropLink(l)
	}
}

// open opens member i's link; borrowed reports a link of the caller's
// pooled session (a stateless request to a member that does not speak its
// revision: the member session is the caller's, kept for its next ones).
func (s *session) open(i int) (l *link, borrowed bool, err error) {
	m := &s.h.up.Members[i]
	client, endpoint, err := s.h.opts.Dial(m.Upstream)
	if err != nil {
		return nil, false, err
	}
	l = &link{s: s, m: m, idx: i, client: client, url: endpoint}
	ctx, cancel := context.WithTimeout(s.ctx, m.Timeouts.Connect)
	defer cancel()
	if s.initParams == nil { // a stateless request
		ok, err := s.h.speaksStateless(ctx, l, s.version)
		if err != nil {
			return nil, false, err
		}
		if ok {
			return l, false, nil
		}
		if s.caller != "" {
			p, err := s.h.pooledSession(s.caller, s.credential())
			if err != nil {
				return nil, false, err
			}
			l, err := p.link(i)
			return l, true, err
		}
		l = &link{s: s, m: m, idx: i, client: client, url: endpoint}
		params := object{"protocolVersion": quote(legacyRevision), "capabilities": json.RawMessage("{}"),
			"clientInfo": json.RawMessage(`{"name":"legant-virtual","version":"1"}`)}
		if err := l.initialize(ctx, params.encode()); err != nil {
			l.close()
			return nil, false, err
		}
		return l, false, nil
	}
	if err := l.initialize(ctx, s.initParams); err != nil {
		l.close()
		return nil, false, err
	}
	s.mu.Lock()
	level := s.level
	s.mu.Unlock()
	if level != nil && l.has("logging") {
		_, _ = l.call(ctx, "logging/setLevel", level, nil)
	}
	if s.pool { // stateless callers have no standalone stream
		return l, false, nil
	}
	lctx, stop := context.WithCancel(s.ctx)
	l.stop = stop
	go l.listen(lctx)
	return l, false, nil
}

func (s *session) credential() Credential {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cred
}

// send queues data for the client's standalone stream; when the backlog is
// full the message is dropped (the client is not reading).
func (s *session) send(ctx context.Context, data []byte) {
	if s.out == nil {
		return
	}
	select {
	case s.out <- data:
	case <-ctx.Done():
	case <-time.After(time.Second):
		s.h.opts.Logger.Warn("virtual: client's standalone stream is full, message dropped", "session", s.id)
	}
}

// each runs f on every member concurrently, each within its connect
// timeout, and returns the results of those that answered, in member order.
func each[T any](ctx context.Context, s *session, f func(ctx context.Context, l *link) (T, error)) []T {
	ms := s.h.up.Members
	out := make([]T, len(ms))
	ok := make([]bool, len(ms))
	var wg sync.WaitGroup
	for i := range ms {
		m := &ms[i]
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, m.Timeouts.Connect)
			defer cancel()
			l, err := s.link(i)
			if err != nil {
				s.h.opts.Logger.Warn("virtual: member unavailable", "member", m.Name, "err", err)
				return
			}
			v, err := f(ctx, l)
			if err != nil {
				var re *rpcError
				if !errors.As(err, &re) && ctx.Err() == nil {
					s.dropLink(l)
				}
				s.h.opts.Logger.Warn("virtual: member failed", "member", m.Name, "err", err)
				return
			}
			out[i], ok[i] = v, true
		})
	}
	wg.Wait()
	var res []T
	for i := range out {
		if ok[i] {
			res = append(res, out[i])
		}
	}
	return res
}

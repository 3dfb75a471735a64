package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openlegant/legant/authority"
)

// session maps one client session to one upstream session. The gateway mints
// its own id and never exposes the upstream's. A session is bound to the
// principal (user and agent chain) of the token that opened it.
type session struct {
	id         string
	slug       string
	upstreamID string // the upstream's Mcp-Session-Id; "" for a stateless upstream
	principal  string
	user       string
	chain      authority.Chain
	clientID   string
	claims     *authority.Claims // of the token that opened the session
	created    time.Time

	mu              sync.Mutex
	protocolVersion string          // negotiated at initialize
	tokens          map[string]bool // jti and delegation ids of every token used on the session

	lastActive atomic.Int64 // unix nanoseconds
	killed     atomic.Bool
	activity   activity // unflushed counters for the SessionStore

	// ctx is cancelled when the session ends (DELETE, kill, gateway close):
	// every upstream request of the session is derived from it, so ending the
	// session aborts them.
	ctx    context.Context
	cancel context.CancelFunc
}

func newSession(slug string, c *authority.Claims, now time.Time) *session {
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{
		id:        newID(),
		slug:      slug,
		principal: c.Principal(),
		user:      c.Subject,
		chain:     c.Chain(),
		clientID:  c.ClientID,
		claims:    c,
		created:   now,
		tokens:    map[string]bool{},
		ctx:       ctx,
		cancel:    cancel,
	}
	s.lastActive.Store(now.UnixNano())
	s.use(c)
	return s
}

// use notes a token used on the session, so a kill by jti or delegation finds it.
func (s *session) use(c *authority.Claims) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens["jti:"+c.ID] = true
	if c.DelegationID != "" {
		s.tokens["del:"+c.DelegationID] = true
	}
	if c.ParentID != "" {
		s.tokens["del:"+c.ParentID] = true
	}
}

func (s *session) hasToken(jti string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens["jti:"+jti]
}

func (s *session) hasDelegation(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens["del:"+id]
}

func (s *session) version() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.protocolVersion
}

func (s *session) setVersion(v string) {
	s.mu.Lock()
	s.protocolVersion = v
	s.mu.Unlock()
}

// newID returns 256 bits of randomness as lowercase hex: unguessable, visible
// ASCII as Mcp-Session-Id requires, and never starting with '-' (which a
// command line would read as a flag).
func newID() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sessionTable holds the live sessions of this replica. Safe for concurrent use.
type sessionTable struct {
	mu sync.RWMutex
	m  map[string]*session
}

func newSessionTable() *sessionTable { return &sessionTable{m: make(map[string]*session)} }

func (t *sessionTable) get(id string) (*session, bool) {
	t.mu.RLock()
	s, ok := t.m[id]
	t.mu.RUnlock()
	return s, ok
}

func (t *sessionTable) put(s *session) {
	t.mu.Lock()
	t.m[s.id] = s
	t.mu.Unlock()
}

// putIfAbsent adds s unless a session with its id is there, and returns the
// one in the table.
func (t *sessionTable) putIfAbsent(s *session) *session {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.m[s.id]; ok {
		return old
	}
	t.m[s.id] = s
	return s
}

func (t *sessionTable) all() []*session {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*session, 0, len(t.m))
	for _, s := range t.m {
		out = append(out, s)
	}
	return out
}

// remove ends a session and aborts its upstream requests. A killed session
// stays in the table as a tombstone, so later requests on it are refused and
// audited as such, until the janitor drops it.
func (t *sessionTable) remove(id string) (*session, bool) {
	t.mu.Lock()
	s, ok := t.m[id]
	if ok && !s.killed.Load() {
		delete(t.m, id)
	}
	t.mu.Unlock()
	if ok {
		s.cancel()
	}
	return s, ok
}

// expire drops sessions idle since before cutoff and tombstones older than it.
func (t *sessionTable) expire(cutoff time.Time) (dropped []*session) {
	t.mu.Lock()
	for id, s := range t.m {
		if s.lastActive.Load() < cutoff.UnixNano() {
			delete(t.m, id)
			dropped = append(dropped, s)
		}
	}
	t.mu.Unlock()
	for _, s := range dropped {
		s.cancel()
	}
	return dropped
}

func (t *sessionTable) closeAll() {
	t.mu.Lock()
	all := t.m
	t.m = make(map[string]*session)
	t.mu.Unlock()
	for _, s := range all {
		s.cancel()
	}
}

// count returns the number of live sessions.
func (t *sessionTable) count() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}

// inflight is one upstream request in progress, kept so a kill can find and
// cancel it whatever the protocol era (stateless requests have no session).
type inflight struct {
	sessionID    string
	user         string
	chain        authority.Chain
	jti          string
	delegationID string
	parentID     string
	stream       bool // a standalone GET stream, not a call
	cancel       context.CancelCauseFunc
	finished     chan struct{} // closed once the client has its answer
}

func newInflight(sessionID string, c *authority.Claims, cancel context.CancelCauseFunc) *inflight {
	return &inflight{sessionID: sessionID, user: c.Subject, chain: c.Chain(), jti: c.ID,
		delegationID: c.DelegationID, parentID: c.ParentID, cancel: cancel, finished: make(chan struct{})}
}

// inflightSet tracks the upstream requests in progress. Safe for concurrent use.
type inflightSet struct {
	mu sync.Mutex
	m  map[*inflight]struct{}
}

func newInflightSet() *inflightSet { return &inflightSet{m: make(map[*inflight]struct{})} }

// add tracks f until the returned func is called, which also marks it finished.
func (s *inflightSet) add(f *inflight) func() {
	s.mu.Lock()
	s.m[f] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.m, f)
		s.mu.Unlock()
		close(f.finished)
	}
}

// cancel cancels every in-flight request match selects, with cause, and
// returns them.
func (s *inflightSet) cancel(match func(*inflight) bool, cause error) []*inflight {
	s.mu.Lock()
	var hit []*inflight
	for f := range s.m {
		if match(f) {
			hit = append(hit, f)
		}
	}
	s.mu.Unlock()
	for _, f := range hit {
		f.cancel(cause)
	}
	return hit
}

// waitFinished waits until every f has answered its client, or until timeout.
func waitFinished(fs []*inflight, timeout time.Duration) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for _, f := range fs {
		select {
		case <-f.finished:
		case <-deadline.C:
			return
		}
	}
}

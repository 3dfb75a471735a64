package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/upstreams"
)

// errSessionEnded is the cancellation cause of requests of a session that ended.
var errSessionEnded = errors.New("session ended")

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

	// obsID names the session in traces and logs of calls (observeCall): a
	// digest of its id, never the id itself.
	obsID string

	mu              sync.Mutex
	lastJTI         string          // the token use noted last (most requests repeat it)
	protocolVersion string          // negotiated at initialize
	tokens          map[string]bool // jti and delegation ids of every token used on the session
	// orphans are calls whose POST stream ended before their response, on a
	// resumable stream: the response may come on a resumed stream (GET), which
	// settles the hold. Those still here when the session ends are released.
	orphans map[string]*pendingCall

	lastActive atomic.Int64 // unix nanoseconds
	calls      atomic.Int32 // POSTs in flight: a session is not idle while one runs
	streams    atomic.Int32 // GET streams open
	killed     atomic.Bool
	activity   activity // unflushed counters for the SessionStore
	pushes     pushes   // open GET streams and the visible set last shown (listchanged.go)
	// urlElicitation: the client declared elicitation.url at initialize; a
	// missing upstream connection is then offered as a URL-mode
	// elicitation (connect.go). Set before the session is published.
	urlElicitation bool

	// ctx is cancelled when the session ends (DELETE, kill, gateway close):
	// every upstream request of the session is derived from it, so ending the
	// session aborts them.
	ctx    context.Context
	cancel context.CancelFunc
}

func newSession(slug string, c *authority.Claims, now time.Time) *session {
	ctx, cancel := context.WithCancel(context.Background())
	id := authority.NewSecret()
	s := &session{
		id:        id,
		obsID:     observedID(id),
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

// observedID is the name of session id in traces and logs: the first 8 bytes
// of its SHA-256, in hex.
func observedID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:8])
}

// use notes a token used on the session, so a kill by jti or delegation finds it.
func (s *session) use(c *authority.Claims) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ID != "" && c.ID == s.lastJTI {
		return // noted already: the token of the session's previous request
	}
	s.lastJTI = c.ID
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

// maxOrphans bounds the calls a session keeps waiting for a resumed stream;
// beyond it, holds are released at once.
const maxOrphans = 1024

// adopt takes over the calls of pending (removing them from it): their
// responses may arrive on a resumed stream of the session.
func (s *session) adopt(pending map[string]*pendingCall) {
	if len(pending) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return // ended: the caller releases them
	}
	if s.orphans == nil {
		s.orphans = map[string]*pendingCall{}
		context.AfterFunc(s.ctx, s.releaseOrphans)
	}
	for k, pc := range pending {
		if len(s.orphans) < maxOrphans {
			s.orphans[k] = pc
			delete(pending, k)
		}
	}
}

// takeOrphan returns and forgets the adopted call whose raw id is key.
func (s *session) takeOrphan(key string) (*pendingCall, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pc, ok := s.orphans[key]
	delete(s.orphans, key)
	return pc, ok
}

// releaseOrphans releases the holds of adopted calls that never got a
// response; it runs when the session ends.
func (s *session) releaseOrphans() {
	s.mu.Lock()
	orphans := s.orphans
	s.orphans = map[string]*pendingCall{}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, pc := range orphans {
		if pc.hold != nil {
			pc.hold.Release(ctx)
		}
	}
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

// expire drops the sessions idle for longer than idle(s) at now (none while
// a call of theirs runs) and returns them, their upstream requests aborted.
func (t *sessionTable) expire(now time.Time, idle func(*session) time.Duration) (dropped []*session) {
	t.mu.Lock()
	for id, s := range t.m {
		if s.calls.Load() == 0 && s.lastActive.Load() < now.Add(-idle(s)).UnixNano() {
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

// takeAll empties the table and returns the sessions it held, ended (their
// upstream requests aborted).
func (t *sessionTable) takeAll() []*session {
	t.mu.Lock()
	all := t.m
	t.m = make(map[string]*session)
	t.mu.Unlock()
	out := make([]*session, 0, len(all))
	for _, s := range all {
		s.cancel()
		out = append(out, s)
	}
	return out
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

func sessionID(s *session) string {
	if s == nil {
		return ""
	}
	return s.id
}

// sessionFor resolves the Mcp-Session-Id of r. It answers the client itself
// and returns ok=false when the id names no live session of this principal.
// A request without the header gets a nil session.
func (g *Gateway) sessionFor(w http.ResponseWriter, r *http.Request, up *upstreams.Upstream, c *authority.Claims) (*session, bool) {
	id := r.Header.Get(headerSessionID)
	if id == "" {
		return nil, true
	}
	s, ok := g.sessions.get(id)
	reason := ""
	if !ok {
		s, reason = g.loadSession(r.Context(), id, c)
	}
	switch {
	case reason != "":
	case s.killed.Load():
		reason = "killed_session"
	case s.slug != up.Slug:
		reason = "session_of_other_upstream"
	case s.principal != c.Principal():
		reason = "session_of_other_principal"
	}
	if reason != "" {
		ev := withPrincipal(audit.Event{Kind: audit.KindEdge403, Upstream: up.Slug, Reason: reason, SessionID: id}, c)
		g.record(ev)
		// 404 tells a client to start a new session; it also reveals nothing
		// about sessions of other principals.
		writeRPCError(w, http.StatusNotFound, nil, rpcError{Code: codeInvalidRequest, Message: "session not found"})
		return nil, false
	}
	s.lastActive.Store(g.now().UnixNano())
	s.use(c)
	return s, true
}

// openSession opens the session an initialize of ex started; upstreamID is
// the upstream's Mcp-Session-Id ("" for a stateless upstream).
func (g *Gateway) openSession(ex *exchange, upstreamID string) {
	s := newSession(ex.up.Slug, ex.claims, g.now())
	s.upstreamID = upstreamID
	s.urlElicitation = ex.initURLElicit
	s.pushes.baseline(visibleOf(ex.up, ex.claims))
	g.sessions.put(s)
	ex.sess = s
	g.record(withPrincipal(audit.Event{Kind: audit.KindSessionStart, Upstream: ex.up.Slug, SessionID: s.id}, ex.claims))
}

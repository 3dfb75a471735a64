package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
)

// errKilled is the cancellation cause of requests cut by a kill.
var errKilled = errors.New("killed")

// Selector names what a kill stops. Every non-empty field must match (an
// empty Selector matches nothing): a session by id, or everything running
// under a token, a delegation, an agent anywhere in the chain, or a user.
type Selector struct {
	SessionID    string
	TokenID      string
	DelegationID string
	Agent        string
	User         string
}

func (s Selector) empty() bool { return s == Selector{} }

func (s Selector) String() string {
	var parts []string
	for _, f := range []struct{ k, v string }{{"session", s.SessionID}, {"jti", s.TokenID},
		{"delegation", s.DelegationID}, {"agent", s.Agent}, {"user", s.User}} {
		if f.v != "" {
			parts = append(parts, f.k+"="+f.v)
		}
	}
	return strings.Join(parts, ",")
}

// killAnswerWait bounds how long Kill waits for cut calls to answer their
// clients before it closes their sessions' streams.
const killAnswerWait = 2 * time.Second

// killStreamGrace separates the killed errors from the end of the streams.
const killStreamGrace = 100 * time.Millisecond

// KillReport says what a kill stopped on this replica.
type KillReport struct {
	Sessions []string // ids of the sessions ended
	Calls    int      // in-flight upstream requests cut
}

// Kill stops, on this replica, everything sel matches, now:
//  1. matching sessions are marked killed: any later request on them is
//     refused (404) without reaching the upstream;
//  2. their in-flight upstream requests are cancelled: the HTTP request is
//     aborted, the upstream gets notifications/cancelled for each request
//     still waiting, and the waiting client gets a JSON-RPC error with reason
//     "killed" before its stream closes;
//  3. their open streams (GET) close;
//  4. the upstream session is ended with DELETE.
//
// Kill does not revoke tokens: the caller (admin API, revocation feed) records
// the revocation in the store so every replica, and every later request with
// those tokens, is refused too. Kill is safe for concurrent use.
func (g *Gateway) Kill(ctx context.Context, sel Selector, reason string) KillReport {
	var rep KillReport
	if sel.empty() {
		return rep
	}
	killed := map[string]bool{}
	var delegations []string // of the killed sessions: their exchanged tokens go
	for _, s := range g.sessions.match(sel) {
		if s.claims != nil {
			delegations = append(delegations, s.claims.DelegationID)
		}
		if s.killed.Swap(true) {
			continue
		}
		killed[s.id] = true
		rep.Sessions = append(rep.Sessions, s.id)
		g.record(audit.Event{Kind: audit.KindKill, User: s.user, Agents: s.chain, Client: s.clientID,
			Upstream: s.slug, SessionID: s.id, Reason: reason, TokenID: sel.TokenID})
	}
	g.exchanged.forget(sel, delegations) // tokenexchange.go
	// A killed session's calls are cut as killed whatever token they carry
	// (a session may be used with several tokens of its principal). Calls
	// first: each client must have its killed error before its streams close,
	// or a client that sees its standalone stream end first reports a closed
	// connection instead. Then the streams.
	match := func(f *inflight) bool { return f.matches(sel) || killed[f.sessionID] }
	calls := g.inflight.cancel(func(f *inflight) bool { return !f.stream && match(f) }, errKilled)
	rep.Calls = len(calls)
	waitFinished(calls, killAnswerWait)
	closeStreams := func() {
		g.inflight.cancel(func(f *inflight) bool { return f.stream && match(f) }, errKilled)
		for _, id := range rep.Sessions {
			if s, ok := g.sessions.remove(id); ok {
				g.tasks.start(func() { g.endKilled(s, reason) })
			}
		}
	}
	if len(calls) == 0 {
		closeStreams()
	} else {
		// The errors are written; give clients a moment to read them before
		// their streams end (a client may fail pending calls as soon as its
		// standalone stream closes, whatever is still unread on another).
		g.tasks.after(killStreamGrace, closeStreams)
	}
	// Last, so that a store that is slow to answer never delays the kill:
	// the open approval requests of what sel covers are cancelled.
	g.cancelApprovals(ctx, sel, "killed: "+reason) // approval.go
	return rep
}

// tasks owns the goroutines a kill leaves behind (closing streams after a
// grace period, ending upstream sessions): Close waits for them. Once Close
// has begun, work is no longer deferred but run at once by the caller, so
// nothing starts that Close would not wait for. Safe for concurrent use.
type tasks struct {
	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup
}

// start runs f on a goroutine Close waits for.
func (t *tasks) start(f func()) { t.after(0, f) }

// after runs f after d on a goroutine Close waits for.
func (t *tasks) after(d time.Duration, f func()) {
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		f()
		return
	}
	t.wg.Add(1)
	t.mu.Unlock()
	run := func() {
		defer t.wg.Done()
		f()
	}
	if d <= 0 {
		go run()
		return
	}
	time.AfterFunc(d, run)
}

// wait stops deferring work and waits for what was started.
func (t *tasks) wait() {
	t.mu.Lock()
	t.closing = true
	t.mu.Unlock()
	t.wg.Wait()
}

// endKilled ends the upstream session of a killed session and records its
// end in the SessionStore, so that no replica loads it again (the admin API
// marks it killed first; a kill that came from a revocation only has this).
func (g *Gateway) endKilled(s *session, reason string) {
	if s.upstreamID != "" {
		g.deleteUpstreamSession(s)
	}
	g.endStored(s.id, true, reason)
}

// matches reports whether a selector picks this in-flight request.
func (f *inflight) matches(sel Selector) bool {
	return (sel.SessionID == "" || sel.SessionID == f.sessionID) &&
		(sel.TokenID == "" || sel.TokenID == f.jti) &&
		(sel.DelegationID == "" || sel.DelegationID == f.delegationID || sel.DelegationID == f.parentID) &&
		(sel.Agent == "" || f.chain.Contains(sel.Agent)) &&
		(sel.User == "" || sel.User == f.user)
}

func (t *sessionTable) match(sel Selector) []*session {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []*session
	for _, s := range t.m {
		if (sel.SessionID == "" || sel.SessionID == s.id) &&
			(sel.TokenID == "" || s.hasToken(sel.TokenID)) &&
			(sel.DelegationID == "" || s.hasDelegation(sel.DelegationID)) &&
			(sel.Agent == "" || s.chain.Contains(sel.Agent)) &&
			(sel.User == "" || sel.User == s.user) {
			out = append(out, s)
		}
	}
	return out
}

// deleteUpstreamSession ends the upstream session of a killed session.
func (g *Gateway) deleteUpstreamSession(s *session) {
	up, ok := g.upstream(s.slug)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ex := newExchange(up, s.claims, s, nil, false)
	client, req, err := g.upstreamRequestFor(ctx, ex, http.MethodDelete, nil)
	if err != nil {
		return
	}
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
	}
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

// count returns how many in-flight requests match selects.
func (s *inflightSet) count(match func(*inflight) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for f := range s.m {
		if match(f) {
			n++
		}
	}
	return n
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

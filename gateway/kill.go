package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

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
	for _, s := range g.sessions.match(sel) {
		if s.killed.Swap(true) {
			continue
		}
		killed[s.id] = true
		rep.Sessions = append(rep.Sessions, s.id)
		g.record(Event{Kind: EventKill, User: s.user, Agents: s.chain, Client: s.clientID,
			Upstream: s.slug, SessionID: s.id, Reason: reason, TokenID: sel.TokenID})
	}
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
				go g.endKilled(s, reason)
			}
		}
	}
	if len(calls) == 0 {
		closeStreams()
	} else {
		// The errors are written; give clients a moment to read them before
		// their streams end (a client may fail pending calls as soon as its
		// standalone stream closes, whatever is still unread on another).
		time.AfterFunc(killStreamGrace, closeStreams)
	}
	return rep
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

// cancelUpstream tells the upstream to stop the requests of ex that got no
// answer: the aborted HTTP request alone does not stop a server that keeps
// the request running for resumption.
func (g *Gateway) cancelUpstream(ex *exchange) {
	if len(ex.pending) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, pc := range ex.pending {
		body := fmt.Sprintf(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":%s,"reason":"killed by Legant"}}`, pc.id)
		client, req, err := g.upstreamRequestFor(ctx, ex, http.MethodPost, bytes.NewReader([]byte(body)))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}
}

// deleteUpstreamSession ends the upstream session of a killed session.
func (g *Gateway) deleteUpstreamSession(s *session) {
	up, ok := g.upstream(s.slug)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ex := &exchange{up: up, claims: s.claims, sess: s}
	client, req, err := g.upstreamRequestFor(ctx, ex, http.MethodDelete, nil)
	if err != nil {
		return
	}
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
	}
}

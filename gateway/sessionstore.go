package gateway

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
)

// SessionStore persists gateway sessions so that every replica sharing the
// store can serve any session (no sticky load balancing) and operators can
// list them. The gateway writes a record when a session opens, loads one only
// when a request names a session this replica has not seen, and flushes
// activity in the background: never a store round trip per call.
type SessionStore interface {
	SaveSession(ctx context.Context, r SessionRecord) error
	// LoadSession returns ErrSessionNotFound for an unknown id.
	LoadSession(ctx context.Context, id string) (*SessionRecord, error)
	// EndSession records the end of a session: killed (by an operator or a
	// revocation) or closed (by its client, or idle), with why.
	EndSession(ctx context.Context, id string, killed bool, reason string) error
	TouchSession(ctx context.Context, id string, a Activity) error
}

// ActivityBatcher is what a SessionStore may also implement to record the
// activity of many sessions at once (one transaction per flush instead of
// one per session). It returns the ids it did not find; an error means
// nothing was recorded.
type ActivityBatcher interface {
	TouchSessions(ctx context.Context, acts map[string]Activity) (notFound []string, err error)
}

// ErrSessionNotFound is what a SessionStore returns for an unknown session.
var ErrSessionNotFound = errors.New("gateway: session not found")

// SessionRecord is the stored form of a session.
type SessionRecord struct {
	ID              string
	Upstream        string // slug
	UpstreamID      string // the upstream's Mcp-Session-Id
	User            string
	Agents          []string
	Client          string
	ProtocolVersion string
	TokenID         string
	Started         time.Time
	Killed          bool // killed or ended: the session must not be served
	// End says how an ended session ended (one of the End* reasons); ""
	// while live, or for a record that does not say.
	End string
}

// Why a session ended: the reason stored (SessionStore.EndSession) and
// audited (KindSessionEnd, KindKill), and what a later request naming the
// session is refused with (edge_403 "session_<end>", "killed_session").
const (
	EndClosed       = "closed"        // its client sent DELETE
	EndIdle         = "idle"          // no request for its idle timeout
	EndKilled       = "killed"        // an operator or a revocation killed it
	EndUpstreamGone = "upstream_gone" // the upstream no longer knows its session (404)
	EndDrain        = "drain"         // the gateway drained before shutdown
)

// endedReason is the edge_403 reason of a request naming a session that ended.
func endedReason(end string) string {
	switch end {
	case EndClosed, EndIdle, EndUpstreamGone, EndDrain:
		return "session_" + end
	}
	return "killed_session"
}

// Activity is what a session did since the last flush.
type Activity struct {
	At      time.Time
	Allowed int64
	Denied  int64
	Spent   authority.Decimal
}

// activity accumulates a session's unflushed counters. Safe for concurrent use.
type activity struct {
	mu      sync.Mutex
	pending Activity
	dirty   bool
}

func (a *activity) add(allowed, denied int64, spent *authority.Money, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pending.Allowed += allowed
	a.pending.Denied += denied
	if spent != nil {
		a.pending.Spent = a.pending.Spent.Add(spent.Value)
	}
	a.pending.At = at
	a.dirty = true
}

// take returns and resets the unflushed counters.
func (a *activity) take() (Activity, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.dirty {
		return Activity{}, false
	}
	out := a.pending
	a.pending, a.dirty = Activity{}, false
	return out, true
}

// restore puts back counters a failed flush took.
func (a *activity) restore(x Activity) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pending.Allowed += x.Allowed
	a.pending.Denied += x.Denied
	a.pending.Spent = a.pending.Spent.Add(x.Spent)
	if x.At.After(a.pending.At) {
		a.pending.At = x.At
	}
	a.dirty = true
}

func (s *session) record() SessionRecord {
	return SessionRecord{ID: s.id, Upstream: s.slug, UpstreamID: s.upstreamID, User: s.user,
		Agents: s.chain, Client: s.clientID, ProtocolVersion: s.version(), TokenID: s.claims.ID,
		Started: s.created}
}

// sessionFromRecord rebuilds a session another replica opened. c is the
// verified token of the request naming it.
func sessionFromRecord(r *SessionRecord, c *authority.Claims, now time.Time) *session {
	var act *authority.Actor
	for _, a := range r.Agents {
		act = &authority.Actor{Subject: a, Actor: act}
	}
	opener := &authority.Claims{Subject: r.User, Actor: act, ClientID: r.Client, ID: r.TokenID}
	s := newSession(r.Upstream, opener, now)
	s.id, s.obsID = r.ID, observedID(r.ID)
	s.upstreamID = r.UpstreamID
	s.created = r.Started
	s.claims = c
	s.setVersion(r.ProtocolVersion)
	return s
}

// loadSession fetches a session this replica has not seen from the store.
func (g *Gateway) loadSession(ctx context.Context, id string, c *authority.Claims) (*session, string) {
	if g.opts.Sessions == nil {
		return nil, "unknown_session"
	}
	ctx, cancel := g.storeContext(ctx)
	defer cancel()
	r, err := g.opts.Sessions.LoadSession(ctx, id)
	switch {
	case errors.Is(err, ErrSessionNotFound):
		return nil, "unknown_session"
	case err != nil:
		g.health.markDown("session load", err)
		return nil, "session_store_unavailable"
	case r.Killed:
		return nil, endedReason(r.End)
	}
	s := sessionFromRecord(r, c, g.now())
	return g.sessions.putIfAbsent(s), ""
}

// saveSession records a new session; a failure is logged, not fatal: the
// session still works on this replica.
func (g *Gateway) saveSession(ctx context.Context, s *session) {
	if g.opts.Sessions == nil {
		return
	}
	ctx, cancel := g.storeContext(context.WithoutCancel(ctx))
	defer cancel()
	if err := g.opts.Sessions.SaveSession(ctx, s.record()); err != nil {
		g.log.Error("could not record session", "session", s.id, "err", err)
	}
}

// janitor flushes session activity and expires idle sessions until the
// gateway closes. It is started by New and stopped by Close.
func (g *Gateway) janitor(every time.Duration) {
	defer close(g.janitorDone)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-g.closed:
			g.flushActivity(context.Background())
			return
		case <-tick.C:
			g.flushActivity(context.Background())
			g.reap(g.sessions.expire(g.now(), g.idleTimeout))
			g.checkElicitations() // connect.go: connections stored by another replica
		}
	}
}

// FlushActivity records the unflushed counters of this gateway's sessions in
// the store now, rather than at the next tick of its janitor (every second):
// the admin API calls it before it reads sessions, so that what this replica
// served is counted. Safe to call concurrently with the janitor: each
// session's counters are taken once. ctx bounds the store's write (which
// gives up after 5 s in any case); what is not written stays for the next
// flush.
func (g *Gateway) FlushActivity(ctx context.Context) { g.flushActivity(ctx) }

func (g *Gateway) flushActivity(ctx context.Context) {
	if g.opts.Sessions == nil {
		return
	}
	if b, ok := g.opts.Sessions.(ActivityBatcher); ok {
		g.flushActivityBatch(ctx, b)
		return
	}
	for _, s := range g.sessions.all() {
		a, ok := s.activity.take()
		if !ok {
			continue
		}
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := g.opts.Sessions.TouchSession(tctx, s.id, a); err != nil {
			s.activity.restore(a)
		}
		cancel()
	}
}

// flushActivityBatch records every session's activity in one call; what
// was not recorded (the store failed, or does not know the session) is
// restored for the next flush, as flushActivity does.
func (g *Gateway) flushActivityBatch(ctx context.Context, b ActivityBatcher) {
	taken := map[string]Activity{}
	from := map[string]*session{}
	for _, s := range g.sessions.all() {
		if a, ok := s.activity.take(); ok {
			taken[s.id], from[s.id] = a, s
		}
	}
	if len(taken) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	notFound, err := b.TouchSessions(ctx, taken)
	if err != nil {
		for id, a := range taken {
			from[id].activity.restore(a)
		}
		return
	}
	for _, id := range notFound {
		from[id].activity.restore(taken[id])
	}
}

func (g *Gateway) endStored(id string, killed bool, reason string) {
	if g.opts.Sessions == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.opts.Sessions.EndSession(ctx, id, killed, reason); err != nil {
		g.log.Warn("could not record the end of a session", "session", id, "err", err)
	}
}

// idleTimeout is how long s may go without a request before it is reaped.
func (g *Gateway) idleTimeout(s *session) time.Duration {
	idle := g.opts.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
		if up, ok := g.upstream(s.slug); ok && up.Timeouts.Idle > 0 {
			idle = up.Timeouts.Idle
		}
	}
	if s.streams.Load() > 0 && g.opts.StreamIdleTimeout > 0 {
		return g.opts.StreamIdleTimeout
	}
	return idle
}

// reapWorkers bounds the upstream DELETEs of reaped sessions in flight.
const reapWorkers = 8

// reap ends sessions the janitor expired (their streams are already cut): the
// upstream session is closed with DELETE (a stdio child stops), the store
// records the end with reason "idle", and the end is audited. Tombstones of
// killed sessions were ended by their kill.
func (g *Gateway) reap(expired []*session) { g.endSessions(expired, EndIdle) }

// endSessions ends sessions already out of the table (see endSession), a few
// at a time.
func (g *Gateway) endSessions(ended []*session, reason string) {
	sem := make(chan struct{}, reapWorkers)
	var wg sync.WaitGroup
	for _, s := range ended {
		if s.killed.Load() {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			g.endSession(s, reason)
		})
	}
	wg.Wait()
}

// endSession ends a session the gateway itself closes (idle, drain): upstream,
// store and audit log. The session is already out of the table.
func (g *Gateway) endSession(s *session, reason string) {
	if s.upstreamID != "" {
		g.deleteUpstreamSession(s)
	}
	g.endStored(s.id, false, reason)
	g.record(audit.Event{Kind: audit.KindSessionEnd, User: s.user, Agents: s.chain, Client: s.clientID,
		Upstream: s.slug, SessionID: s.id, Reason: reason})
}

// upstreamGone ends s after its upstream answered 404 for its session id
// (the upstream restarted and lost it): store and audit log record the end
// as EndUpstreamGone. The upstream is not asked to DELETE what it lost.
func (g *Gateway) upstreamGone(s *session) {
	if _, ok := g.sessions.remove(s.id); !ok || s.killed.Load() {
		return
	}
	g.endStored(s.id, false, EndUpstreamGone)
	g.record(audit.Event{Kind: audit.KindSessionEnd, User: s.user, Agents: s.chain, Client: s.clientID,
		Upstream: s.slug, SessionID: s.id, Reason: EndUpstreamGone})
}

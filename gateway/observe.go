package gateway

// Observe: the hooks metrics and traces hang on. The gateway calls an
// Observer at four points of a request (its start, each JSON-RPC method, each
// tools/call decision, each HTTP request to an upstream) and answers Stats
// for gauges. Decisions themselves are not hooked: every one is an
// audit.Event, so a Recorder wrapper counts them.

import (
	"context"
	"net/http"
	"sync/atomic"
)

// Observer watches requests through the gateway (metrics, traces). Its
// methods are called on the request path and must not block. A nil
// Options.Observer observes nothing.
type Observer interface {
	// Request is called when a request to /mcp/<slug> arrives; upstream is
	// its registered slug, "" when no upstream has that slug. The returned
	// context replaces the request's (later hooks receive it); end is called
	// once the gateway has answered.
	Request(r *http.Request, upstream string) (ctx context.Context, end func())
	// Method is called for each JSON-RPC message of a POST with its method.
	Method(ctx context.Context, method string)
	// Call is called when a tools/call is being authorized. tool is "" when
	// the upstream's registry entry does not list it; session is the SHA-256
	// (hex, first 16 digits) of the gateway session id, "" outside a
	// session. end is called once the call is decided.
	Call(ctx context.Context, tool, session string) (end func())
	// Upstream is called before an HTTP request goes to an upstream; it may
	// add headers to req (trace context) unless it implements HeaderKeeper
	// and KeepsHeaders reports true. end is called with the response status,
	// or with the error when there is no response.
	Upstream(req *http.Request) (end func(status int, err error))
}

// HeaderKeeper is implemented by an Observer that may leave the headers of
// the upstream requests it observes alone (no tracing, say): the gateway then
// hands Upstream the request itself rather than a copy made for it to
// change, which an idle session's GET stream held for its whole life (1 KiB)
// and every call paid for.
type HeaderKeeper interface {
	KeepsHeaders() bool
}

// Stats are the gateway's gauges and counters at one instant.
type Stats struct {
	InFlight       int  // upstream requests in progress
	Sessions       int  // live sessions held by this process
	AuditQueue     int  // audit events queued, not yet handed to the Recorder
	AuditQueueSize int  // capacity of the audit queue (0 without a Recorder)
	AuditHealthy   bool // the last hand-over to the Recorder succeeded (true without a Recorder)
	StoreHealthy   bool // the store is not marked unavailable (health.go)
	HeldKills      int  // kills held in memory, not yet written to the store
	// VerifyCacheHits counts inbound tokens answered from the verification
	// cache; VerifyMisses those verified by signature (successfully or not).
	VerifyCacheHits, VerifyMisses uint64
}

// Stats returns the gateway's current figures. Safe for concurrent use.
func (g *Gateway) Stats() Stats {
	s := Stats{AuditHealthy: true, StoreHealthy: g.health.ok(), HeldKills: g.held.pending(),
		VerifyCacheHits: g.verifier.stats.hits.Load(), VerifyMisses: g.verifier.stats.misses.Load()}
	g.inflight.mu.Lock()
	s.InFlight = len(g.inflight.m)
	g.inflight.mu.Unlock()
	g.sessions.mu.RLock()
	s.Sessions = len(g.sessions.m)
	g.sessions.mu.RUnlock()
	if g.audit != nil {
		s.AuditQueue, s.AuditQueueSize, s.AuditHealthy = len(g.audit.ch), cap(g.audit.ch), g.audit.ok()
	}
	return s
}

// verifyStats counts verification cache hits and misses.
type verifyStats struct{ hits, misses atomic.Uint64 }

func (s *verifyStats) hit()  { s.hits.Add(1) }
func (s *verifyStats) miss() { s.misses.Add(1) }

// observeRequest starts observing *r (replacing it with a request carrying
// the observer's context) and returns the func that ends it.
func (g *Gateway) observeRequest(r **http.Request, slug string) (end func()) {
	if g.opts.Observer == nil {
		return func() {}
	}
	if _, ok := g.upstream(slug); !ok {
		slug = ""
	}
	ctx, end := g.opts.Observer.Request(*r, slug)
	*r = (*r).WithContext(ctx)
	return end
}

func (g *Gateway) observeMethod(ctx context.Context, method string) {
	if g.opts.Observer != nil {
		g.opts.Observer.Method(ctx, method)
	}
}

// observeCall reports a tools/call of ex about to be authorized; tools the
// upstream does not list are reported as "" (bounded label sets).
func (g *Gateway) observeCall(ctx context.Context, ex *exchange, tool string) (end func()) {
	if g.opts.Observer == nil {
		return func() {}
	}
	if _, ok := ex.up.Tool(tool); !ok {
		tool = ""
	}
	session := ""
	if ex.sess != nil {
		session = ex.sess.obsID
	}
	return g.opts.Observer.Call(ctx, tool, session)
}

// observedTransport reports every request to an upstream to obs.
type observedTransport struct {
	obs  Observer
	next http.RoundTripper
}

// observeTransport wraps next when obs is set.
func observeTransport(obs Observer, next http.RoundTripper) http.RoundTripper {
	if obs == nil {
		return next
	}
	return observedTransport{obs: obs, next: next}
}

func (t observedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if hk, ok := t.obs.(HeaderKeeper); !ok || !hk.KeepsHeaders() {
		// Upstream may add headers, and a RoundTripper must not modify its
		// request: a shallow copy with headers of its own.
		r := *req
		r.Header = req.Header.Clone()
		req = &r
	}
	end := t.obs.Upstream(req)
	resp, err := t.next.RoundTrip(req)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	end(status, err)
	return resp, err
}

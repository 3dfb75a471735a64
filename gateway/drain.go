package gateway

// Drain: how a gateway stops without cutting the calls it accepted.

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/openlegant/legant/authority/audit"
)

// drainRetryAfter is the Retry-After, in seconds, of requests refused while
// draining: by then another replica (or this one, restarted) takes them.
const drainRetryAfter = "5"

// drainPoll is how often Drain looks whether the calls in flight have ended.
const drainPoll = 20 * time.Millisecond

// Drain stops the gateway taking new work and lets the work it took end:
//  1. from now on, every new request (a POST carrying a request, a GET) is
//     refused with 503 and Retry-After; responses and notifications a client
//     owes to calls in flight (an elicitation's answer, a cancellation) and
//     DELETE still pass;
//  2. calls in flight run to their end, until ctx is done: those still
//     running then are cut and their clients answered "session ended";
//  3. open GET streams are closed, telling their clients to reconnect
//     (elsewhere, behind a load balancer);
//  4. every session is ended: upstream DELETE (a stdio child stops), the
//     store records the end with reason "drain", each end is audited.
//
// Beginning and end are audited as KindDrain. Close, called after Drain,
// flushes the audit queue. Drain is safe for concurrent use; calls after the
// first return at once.
func (g *Gateway) Drain(ctx context.Context) error {
	if g.draining.Swap(true) {
		return nil
	}
	g.record(audit.Event{Kind: audit.KindDrain, Reason: "started"})
	calls := func(f *inflight) bool { return !f.stream }
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	var err error
	for g.inflight.count(calls) > 0 && err == nil {
		select {
		case <-tick.C:
		case <-ctx.Done():
			err = fmt.Errorf("gateway: drain: %w", ctx.Err())
		}
	}
	cut := len(g.inflight.cancel(calls, errSessionEnded))
	g.inflight.cancel(func(f *inflight) bool { return f.stream }, errSessionEnded)
	sessions := g.sessions.takeAll()
	g.endSessions(sessions, EndDrain)
	g.record(audit.Event{Kind: audit.KindDrain,
		Reason: fmt.Sprintf("finished: %d sessions ended, %d calls cut", len(sessions), cut)})
	return err
}

// refuseDraining answers a request the gateway no longer takes.
func refuseDraining(w http.ResponseWriter) {
	w.Header().Set("Retry-After", drainRetryAfter)
	writeRPCError(w, http.StatusServiceUnavailable, nil, rpcError{Code: CodeUpstream, Message: "the gateway is shutting down; retry later"})
}

package gateway

// Cut: what happens to calls whose request ended before their answer. A call
// is cut by a kill, by the end of its session (DELETE, idle, a drain's
// deadline), by its timeout, or by its client going away. The upstream is
// told to stop (notifications/cancelled, whatever the cause), and the
// call's budget hold is not released: the gateway cannot tell whether the
// upstream ran it. It stays reserved, so a second call that would pass the
// budget is refused while the first is undecided, until the upstream's
// answer (on a resumed stream) settles it or Options.CutHoldTimeout passes;
// then it is counted as spent (fail closed: a budget is never exceeded by
// calls the gateway stopped waiting for).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// DefaultCutHoldTimeout is how long the hold of a cut call waits for the
// upstream's answer before it is counted as spent.
const DefaultCutHoldTimeout = time.Minute

// cutReason says why a request was cut: "" when it was not.
func cutReason(ctx context.Context) string {
	cause := context.Cause(ctx)
	switch {
	case ctx.Err() == nil:
		return ""
	case errors.Is(cause, errKilled):
		return "killed"
	case errors.Is(cause, errSessionEnded):
		return "session ended"
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "timed out"
	default:
		return "client gone"
	}
}

// finishCalls deals with the calls of ex still waiting once its request
// ended (ctx is the request's upstream context). On a resumable stream whose
// client went away, the answers may still come when it resumes: the session
// adopts them. Otherwise a cut call is cancelled upstream and its hold kept
// undecided; a call the upstream ended without answering (not a cut) is
// released.
func (g *Gateway) finishCalls(ctx context.Context, ex *exchange, end streamEnd) {
	if len(ex.pending) == 0 {
		return
	}
	reason := cutReason(ctx)
	if end.resumable && ex.sess != nil && (reason == "" || reason == "client gone") {
		// The responses may come on a resumed stream (GET with
		// Last-Event-ID): their holds are settled there, or released when
		// the session ends.
		ex.sess.adopt(ex.pending)
	}
	if len(ex.pending) == 0 {
		return
	}
	if reason == "" {
		ex.releaseAll(ctx)
		return
	}
	g.cancelUpstream(ex, reason)
	g.undecided.keep(ex.pending, g.opts.CutHoldTimeout)
	clear(ex.pending)
}

// cancelUpstream tells the upstream to stop the requests of ex that got no
// answer (an initialize is never cancelled): the aborted HTTP request alone
// does not stop a server that keeps the request running for resumption. The
// notifications are sent off the request's goroutine (the client has its
// answer; an upstream that does not answer must not hold it), by a task
// Close waits for.
func (g *Gateway) cancelUpstream(ex *exchange, reason string) {
	var ids []string
	for k, pc := range ex.pending {
		if k != ex.initID {
			ids = append(ids, string(pc.id))
		}
	}
	if len(ids) == 0 {
		return
	}
	g.tasks.start(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cancelNotifyTimeout)
		defer cancel()
		for _, id := range ids {
			body := fmt.Sprintf(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":%s,"reason":%s}}`,
				id, strconv.Quote("cancelled by Legant: "+reason))
			client, req, err := g.upstreamRequestFor(ctx, ex, http.MethodPost, bytes.NewReader([]byte(body)))
			if err != nil {
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			resp, err := client.Do(req)
			if err != nil {
				return // the upstream does not take it: no point trying the others
			}
			resp.Body.Close()
		}
	})
}

// cancelNotifyTimeout bounds sending the cancellations of one request.
const cancelNotifyTimeout = 5 * time.Second

// undecidedHolds keeps the budget holds of cut calls until their final
// timeout, then settles them. Close settles what is left. Safe for
// concurrent use.
type undecidedHolds struct {
	mu     sync.Mutex
	timers map[*pendingCall]*time.Timer
	closed bool
}

func newUndecidedHolds() *undecidedHolds {
	return &undecidedHolds{timers: map[*pendingCall]*time.Timer{}}
}

// keep holds the calls of pending that reserved something for d.
func (u *undecidedHolds) keep(pending map[string]*pendingCall, d time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, pc := range pending {
		if pc.hold == nil {
			continue
		}
		if u.closed {
			settleUndecided(pc)
			continue
		}
		u.timers[pc] = time.AfterFunc(d, func() {
			if u.take(pc) {
				settleUndecided(pc)
			}
		})
	}
}

// take forgets pc and reports whether it was still held.
func (u *undecidedHolds) take(pc *pendingCall) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.timers[pc]
	delete(u.timers, pc)
	return ok
}

// count returns how many holds are undecided.
func (u *undecidedHolds) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.timers)
}

// close settles every hold still undecided: the gateway stops, nobody will
// learn whether those calls ran.
func (u *undecidedHolds) close() {
	u.mu.Lock()
	u.closed = true
	left := u.timers
	u.timers = map[*pendingCall]*time.Timer{}
	u.mu.Unlock()
	for pc, t := range left {
		t.Stop() // a timer that already fired finds pc gone: it is settled here
		settleUndecided(pc)
	}
}

func settleUndecided(pc *pendingCall) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pc.hold.Settle(ctx)
}

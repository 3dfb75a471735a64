package gateway

// Health: the store as the request path sees it. The first store operation
// on the request path that fails or runs out of Options.StoreTimeout (a
// durable audit append, a budget reservation, loading a session; not one its
// client cut short by going away) marks the store unavailable: from then on
// tools/call is refused at once with CodeAudit (-32034), without waiting for
// a deadline, until a probe (Options.StorePing, and the audit writer's
// retries) finds it back; without StorePing, requests are let through again
// after a second. The outage is logged once when it begins and once when it
// ends.
//
// Kills hold whatever the store does: a kill whose revocation could not be
// written is held in memory here (HoldKill), refusing every request it
// covers, and written when the store returns.

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openlegant/legant/authority"
)

const (
	healthProbeMin = 100 * time.Millisecond
	healthProbeMax = time.Second
	// heldKillLinger is how long a held kill keeps refusing once written:
	// the revocation set of this replica learns of it in the meantime.
	heldKillLinger = time.Minute
)

// storeHealth says whether the store answers. Safe for concurrent use.
type storeHealth struct {
	log     *slog.Logger
	ping    func(context.Context) error // nil: the next operation after a pause is the probe
	timeout time.Duration
	closed  <-chan struct{}
	probing sync.WaitGroup

	down atomic.Bool
	// mu guards downSince.
	mu        sync.Mutex
	downSince time.Time // zero while up
}

func newStoreHealth(log *slog.Logger, ping func(context.Context) error, timeout time.Duration, closed <-chan struct{}) *storeHealth {
	return &storeHealth{log: log, ping: ping, timeout: timeout, closed: closed}
}

// ok reports whether the store is taken to answer.
func (h *storeHealth) ok() bool { return !h.down.Load() }

// markDown marks the store unavailable after op failed with err; the first
// failure of an outage is logged and starts the probe. An operation cut
// short by its caller (context.Canceled: the client went away while its
// session was loaded or its budget reserved, or the gateway is closing)
// says nothing about the store and marks nothing — it had refused every
// call for the next 100 ms (a conformance run in CI saw it); a store that
// does not answer within Options.StoreTimeout fails with
// context.DeadlineExceeded and does.
func (h *storeHealth) markDown(op string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down.Store(true)
	if !h.downSince.IsZero() {
		return
	}
	h.downSince = time.Now()
	h.log.Error("store unavailable: tools/call refused until it recovers", "op", op, "err", err)
	h.probing.Add(1)
	go h.probe()
}

// markUp marks the store available, logging the end of an outage.
func (h *storeHealth) markUp() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.downSince.IsZero() {
		h.log.Info("store recovered", "down_for", time.Since(h.downSince).Round(time.Millisecond).String())
		h.downSince = time.Time{}
	}
	h.down.Store(false)
}

// wrote reports a store write that succeeded. With a StorePing, only the
// probe marks the store back (a write may go to another database than the
// operation that failed); without one, the write is the probe.
func (h *storeHealth) wrote() {
	if h.ping == nil || h.ok() {
		h.markUp()
	}
}

// probe pings the store with back-off until it answers or the gateway closes.
func (h *storeHealth) probe() {
	defer h.probing.Done()
	wait := healthProbeMin
	for !h.ok() {
		select {
		case <-h.closed:
			return
		case <-time.After(wait):
		}
		if h.ping == nil {
			// Nothing to probe with: let requests through again after a
			// pause; the next failing operation marks the store down anew.
			if wait < healthProbeMax {
				wait = healthProbeMax
				continue
			}
			h.markUp()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
		err := h.ping(ctx)
		cancel()
		if err == nil {
			h.markUp()
			return
		}
		wait = min(wait*2, healthProbeMax)
	}
}

// heldKill is a kill this replica answered whose revocation is not yet in
// the store.
type heldKill struct {
	sel     Selector
	reason  string
	written atomic.Int64 // unix nanoseconds it was written; 0 until then
}

// heldKills refuses what kills held in memory cover. Safe for concurrent use.
type heldKills struct {
	mu    sync.RWMutex
	kills []*heldKill
}

// covers reports whether a held kill covers the token c, and why.
func (k *heldKills) covers(c *authority.Claims, now time.Time) (string, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, h := range k.kills {
		if w := h.written.Load(); w != 0 && now.Sub(time.Unix(0, w)) > heldKillLinger {
			continue
		}
		f := inflight{user: c.Subject, chain: c.Chain(), jti: c.ID, delegationID: c.DelegationID, parentID: c.ParentID}
		if h.sel.SessionID == "" && f.matches(h.sel) {
			return "killed: " + h.sel.String() + ", held on this replica", true
		}
	}
	return "", false
}

func (k *heldKills) add(h *heldKill) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.kills = append(k.kills, h)
}

// pending counts the held kills not yet written.
func (k *heldKills) pending() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	n := 0
	for _, h := range k.kills {
		if h.written.Load() == 0 {
			n++
		}
	}
	return n
}

// HoldKill keeps refusing, on this replica, every request sel covers, from
// now on, because the kill's revocation could not be written to the store:
// persist is retried (with back-off, and at once when the store is found
// back) until it succeeds, then the kill lingers a minute more while the
// revocation set takes over. A held kill not written when the gateway closes
// is lost with the process (logged). A session selector holds through the
// killed session's tombstone already; HoldKill ignores it. Safe for
// concurrent use.
func (g *Gateway) HoldKill(sel Selector, reason string, persist func(context.Context) error) {
	if sel.empty() || (sel.SessionID != "" && sel == (Selector{SessionID: sel.SessionID})) {
		return
	}
	h := &heldKill{sel: sel, reason: reason}
	g.held.add(h)
	g.log.Warn("kill held on this replica until the store takes it", "selector", sel.String())
	g.tasks.start(func() { g.persistKill(h, persist) })
}

func (g *Gateway) persistKill(h *heldKill, persist func(context.Context) error) {
	wait := healthProbeMin
	for {
		ctx, cancel := context.WithTimeout(context.Background(), g.opts.StoreTimeout)
		err := persist(ctx)
		cancel()
		if err == nil {
			h.written.Store(time.Now().UnixNano())
			g.log.Info("held kill written to the store", "selector", h.sel.String())
			return
		}
		select {
		case <-g.closed:
			g.log.Error("held kill not written: the gateway closed with the store unavailable", "selector", h.sel.String(), "err", err)
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, healthProbeMax)
	}
}

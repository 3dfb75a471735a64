package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/policy"
)

// freezableLedger is a MemoryLedger whose Reserve hangs until its deadline
// while frozen, as a SIGSTOPped database does.
// It counts the reservations that reached it while frozen and keeps the
// longest deadline any of them was given.
type freezableLedger struct {
	*policy.MemoryLedger
	frozen      atomic.Bool
	frozenCalls atomic.Int64
	mu          sync.Mutex
	maxBudget   time.Duration // the longest ctx deadline seen while frozen, from entry
	noDeadline  bool          // a frozen reservation came without a deadline
}

func (l *freezableLedger) Reserve(ctx context.Context, r policy.Reservation) (policy.Hold, error) {
	if l.frozen.Load() {
		l.frozenCalls.Add(1)
		dl, ok := ctx.Deadline()
		l.mu.Lock()
		if !ok {
			l.noDeadline = true
		} else {
			l.maxBudget = max(l.maxBudget, time.Until(dl))
		}
		l.mu.Unlock()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return l.MemoryLedger.Reserve(ctx, r)
}

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStoreOutageRefusedAtOnce: the first budget reservation that runs out of
// the store deadline marks the store unavailable; every later tools/call is
// refused at once with -32034 (not after the deadline), the gateway reports
// the store unhealthy, the probe finds it back once it answers, calls pass
// again, and the outage is logged exactly once down and once up.
func TestStoreOutageRefusedAtOnce(t *testing.T) {
	const storeTimeout = 400 * time.Millisecond
	ledger := &freezableLedger{MemoryLedger: policy.NewMemoryLedger()}
	logs := &syncBuffer{}
	r := newRig(t, rigOptions{gwOpts: func(o *gateway.Options) {
		o.Ledger, o.StoreTimeout = ledger, storeTimeout
		o.StorePing = func(context.Context) error {
			if ledger.frozen.Load() {
				return errors.New("frozen")
			}
			return nil
		}
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}})
	c := authority.Unrestricted()
	c.Budget = &authority.Money{Value: authority.MustDecimal("1000"), Currency: "USD"}
	cs := r.connect(r.token(tokenOptions{c: &c}), "2025-11-25", nil)
	call := func() error {
		_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "submit_expense",
			Arguments: map[string]any{"amount": 1, "category": "travel"}})
		return err
	}
	unavailable := func(err error) bool {
		var werr *jsonrpc.Error
		return errors.As(err, &werr) && werr.Code == policy.CodeUnavailable
	}
	if err := call(); err != nil {
		t.Fatalf("before the outage: %v", err)
	}

	// The first call of the outage waits on the store, but no longer than the
	// store deadline: the reservation reached the ledger with that deadline.
	ledger.frozen.Store(true)
	if err := call(); !unavailable(err) {
		t.Fatalf("first call of the outage: %v, want -32034", err)
	}
	ledger.mu.Lock()
	budget, noDeadline := ledger.maxBudget, ledger.noDeadline
	ledger.mu.Unlock()
	if n := ledger.frozenCalls.Load(); n != 1 || noDeadline || budget > storeTimeout {
		t.Fatalf("first call of the outage: %d reservations reached the frozen store (want 1), no deadline %v, deadline %v (want at most %v)",
			n, noDeadline, budget, storeTimeout)
	}
	if r.gw.Stats().StoreHealthy {
		t.Fatal("the gateway still reports the store healthy")
	}
	// Later refusals do not wait for the store at all: none of them reaches it.
	for range 20 {
		if err := call(); !unavailable(err) {
			t.Fatalf("during the outage: %v, want -32034", err)
		}
	}
	if n := ledger.frozenCalls.Load(); n != 1 {
		t.Fatalf("%d reservations reached the frozen store during the outage, want only the first: refusals must not wait on it", n)
	}

	ledger.frozen.Store(false)
	waitUntil(t, "a call to pass after the store is back", func() bool {
		return call() == nil
	})
	if !r.gw.Stats().StoreHealthy {
		t.Fatal("the store is back but reported unhealthy")
	}
	out := logs.String()
	if n, m := strings.Count(out, "store unavailable"), strings.Count(out, "store recovered"); n != 1 || m != 1 {
		t.Fatalf("logged %d outages and %d recoveries, want 1 and 1:\n%s", n, m, out)
	}
}

// TestClientLeavingIsNoOutage: a client that goes away while its budget
// reservation waits on the store cancels the reservation; that failure is
// the client's, not the store's: the store stays healthy, nothing is logged
// as an outage, and the next call passes at once. (A session load cut short
// the same way once refused every call for 100 ms in a CI run.)
func TestClientLeavingIsNoOutage(t *testing.T) {
	ledger := &freezableLedger{MemoryLedger: policy.NewMemoryLedger()}
	logs := &syncBuffer{}
	r := newRig(t, rigOptions{gwOpts: func(o *gateway.Options) {
		o.Ledger, o.StoreTimeout = ledger, 30*time.Second
		o.StorePing = func(context.Context) error { return nil }
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}})
	c := authority.Unrestricted()
	c.Budget = &authority.Money{Value: authority.MustDecimal("1000"), Currency: "USD"}
	tok := r.token(tokenOptions{c: &c})
	call := func(ctx context.Context, cs *mcp.ClientSession) error {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense",
			Arguments: map[string]any{"amount": 1, "category": "travel"}})
		return err
	}
	leaving := r.connect(tok, "2025-11-25", nil)
	staying := r.connect(tok, "2025-11-25", nil)

	ledger.frozen.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- call(ctx, leaving) }()
	waitUntil(t, "the reservation to reach the store", func() bool { return ledger.frozenCalls.Load() == 1 })
	cancel() // the client goes away mid-reservation
	if err := <-done; err == nil {
		t.Fatal("a call cancelled by its client succeeded")
	}
	ledger.frozen.Store(false)
	// The gateway judges the failure, then records the refusal (or, having
	// marked an outage, drops it and logs the outage): wait for either.
	refused := func() bool {
		r.events.mu.Lock()
		defer r.events.mu.Unlock()
		for _, e := range r.events.events {
			if e.Kind == audit.KindDeny && e.Reason == string(policy.ReasonUnavailable) {
				return true
			}
		}
		return false
	}
	waitUntil(t, "the gateway to judge the cancelled reservation", func() bool {
		return refused() || strings.Contains(logs.String(), "store unavailable")
	})
	if !r.gw.Stats().StoreHealthy {
		t.Fatal("a client leaving marked the store unhealthy")
	}
	if err := call(context.Background(), staying); err != nil {
		t.Fatalf("the next call, from another session: %v", err)
	}
	if out := logs.String(); strings.Contains(out, "store unavailable") {
		t.Fatalf("a client leaving was logged as an outage:\n%s", out)
	}
}

// TestHeldKillHolds: a kill whose revocation the store cannot take is held on
// this replica: the user's tokens are refused (401 revoked), new and old,
// while other users pass; the gateway retries the write until the store takes
// it, and keeps refusing meanwhile.
func TestHeldKillHolds(t *testing.T) {
	r := newRig(t, rigOptions{})
	var storeUp atomic.Bool
	var writes atomic.Int64
	r.gw.HoldKill(gateway.Selector{User: "carol"}, "incident", func(context.Context) error {
		if !storeUp.Load() {
			return errors.New("store down")
		}
		writes.Add(1)
		return nil
	})
	carol := r.token(tokenOptions{user: "carol"})
	if got := rawPost(t, r.endpoint(), carol, nil, init20251125); got.status != http.StatusUnauthorized {
		t.Fatalf("carol's new session: %d %s, want 401", got.status, got.body)
	}
	if got := rawPost(t, r.endpoint(), r.token(tokenOptions{}), nil, init20251125); got.status != http.StatusOK {
		t.Fatalf("alice: %d %s, want 200", got.status, got.body)
	}
	if n := r.gw.Stats().HeldKills; n != 1 {
		t.Fatalf("held kills: %d, want 1", n)
	}
	storeUp.Store(true)
	waitUntil(t, "the held kill to be written", func() bool { return writes.Load() == 1 && r.gw.Stats().HeldKills == 0 })
	if got := rawPost(t, r.endpoint(), r.token(tokenOptions{user: "carol"}), nil, init20251125); got.status != http.StatusUnauthorized {
		t.Fatalf("carol right after the write: %d, want 401 (the kill lingers while the revocation set catches up)", got.status)
	}
}

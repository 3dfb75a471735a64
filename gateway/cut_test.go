package gateway_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/gateway"
)

// TestTimedOutCallKeepsItsHold: a slow budgeted tool cut by timeouts.call.
// The client gets the timeout error, the upstream gets
// notifications/cancelled and stops the call, and the call's hold stays
// reserved: a second call that would pass the budget with it is refused while
// the first is undecided, and once CutHoldTimeout passes the cut call counts
// as spent (30 of 50: a 30 call is still refused, a 20 call passes).
func TestTimedOutCallKeepsItsHold(t *testing.T) {
	var started, stopped atomic.Int64
	const cutHold = 1500 * time.Millisecond
	r := newRig(t, rigOptions{
		timeouts:  "{call: 300ms}",
		extraYAML: "      slow_spend:\n        scope: expenses:write\n        amount: {pointer: /amount, currency: USD}\n",
		gwOpts:    func(o *gateway.Options) { o.CutHoldTimeout = cutHold },
		server: func(s *mcp.Server) {
			type in struct {
				Amount float64 `json:"amount"`
				Fast   bool    `json:"fast"`
			}
			mcp.AddTool(s, &mcp.Tool{Name: "slow_spend"}, func(ctx context.Context, _ *mcp.CallToolRequest, a in) (*mcp.CallToolResult, any, error) {
				started.Add(1)
				if a.Fast {
					return &mcp.CallToolResult{}, nil, nil
				}
				select {
				case <-ctx.Done():
					stopped.Add(1)
					return nil, nil, ctx.Err()
				case <-time.After(10 * time.Second):
					return &mcp.CallToolResult{}, nil, nil
				}
			})
		},
	})
	c := authority.Unrestricted()
	c.Budget = &authority.Money{Value: authority.MustDecimal("50"), Currency: "USD"}
	cs := r.connect(r.token(tokenOptions{c: &c}), "2025-11-25", nil)
	call := func(amount float64, fast bool) error {
		_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "slow_spend",
			Arguments: map[string]any{"amount": amount, "fast": fast}})
		return err
	}

	begin := time.Now()
	err := call(30, false)
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) || werr.Code != gateway.CodeUpstream || werr.Message != "the upstream did not answer in time" {
		t.Fatalf("slow call: %v, want %d the upstream did not answer in time", err, gateway.CodeUpstream)
	}
	cutAt := time.Now()
	if d := cutAt.Sub(begin); d > 3*time.Second {
		t.Fatalf("the call timeout of 300ms answered after %v", d)
	}
	waitUntil(t, "the upstream to get notifications/cancelled", func() bool {
		return r.seenMethods.count("notifications/cancelled") == 1
	})
	waitUntil(t, "the upstream to stop the call", func() bool { return stopped.Load() == 1 })

	// Undecided: 30 held of 50, so 30 more is refused (and never reaches the upstream).
	assertDenied(t, call(30, true), "budget")
	if n := started.Load(); n != 1 {
		t.Fatalf("the upstream started %d calls, want 1", n)
	}
	if time.Since(cutAt) >= cutHold {
		t.Fatalf("the check ran after the hold timeout; nothing proven")
	}

	// After the final timeout the cut call counts as spent: not released.
	time.Sleep(time.Until(cutAt.Add(cutHold + 300*time.Millisecond)))
	assertDenied(t, call(30, true), "budget")
	if err := call(20, true); err != nil {
		t.Fatalf("the last 20 of the budget: %v", err)
	}
	if n := started.Load(); n != 2 {
		t.Fatalf("the upstream started %d calls, want 2", n)
	}
}

// waitUntil polls cond for up to 10 seconds (a hang bound, not a timing assertion).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

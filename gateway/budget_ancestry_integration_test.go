package gateway_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
)

// childToken attenuates parent into a delegation of its own for actor and
// signs it with the rig's issuer key, as an agent minting offline would.
func (r *rig) childToken(parent *authority.Claims, actor, delegationID string) string {
	r.t.Helper()
	c, err := authority.Attenuate(parent, authority.Request{Actor: actor, ID: "jti-" + delegationID,
		DelegationID: delegationID, IssuedAt: time.Now(), Constraints: authority.Unrestricted()}, authority.AttenuateOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	tok, err := authority.Sign(r.key, c)
	if err != nil {
		r.t.Fatal(err)
	}
	return tok
}

// TestChildrenShareParentBudgetThroughGateway: two child delegations of one
// 100 USD parent (each clamped to 100) call at once, 10 calls of 10.00 each:
// exactly ten calls are allowed and the upstream records 100.00 in total, not
// 200. The parent's token is never presented.
func TestChildrenShareParentBudgetThroughGateway(t *testing.T) {
	r := newRig(t, rigOptions{})
	now := time.Now()
	c := authority.Unrestricted()
	c.Budget = &authority.Money{Value: authority.MustDecimal("100"), Currency: "USD"}
	parent := &authority.Claims{Issuer: testIssuer, Subject: "alice", Audience: []string{r.endpoint()},
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), ID: "jti-parent", ClientID: "test-client",
		Scopes: []string{"expenses:read", "expenses:write"}, Actor: authority.NewActor("planner"),
		DelegationID: "del-parent", Constraints: c}
	var sessions []*mcp.ClientSession
	for _, actor := range []string{"worker-a", "worker-b"} {
		tok := r.childToken(parent, actor, "del-child-"+actor)
		for range 2 {
			sessions = append(sessions, r.connect(tok, "2025-11-25", nil))
		}
	}
	var ok, denied atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 20 {
		cs := sessions[i%len(sessions)]
		wg.Go(func() {
			<-start
			_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "submit_expense",
				Arguments: map[string]any{"amount": 10.00, "category": "travel"}})
			if err == nil {
				ok.Add(1)
				return
			}
			assertDenied(t, err, "budget")
			denied.Add(1)
		})
	}
	close(start)
	wg.Wait()
	if ok.Load() != 10 || denied.Load() != 10 {
		t.Fatalf("allowed %d, denied %d; want 10 and 10", ok.Load(), denied.Load())
	}
	var total float64
	for _, e := range r.ledger.Expenses() {
		total += e.Amount
	}
	if n := len(r.ledger.Expenses()); n != 10 || total != 100 {
		t.Fatalf("upstream recorded %d expenses totalling %.2f; want 10 totalling 100.00", n, total)
	}
	// Both children are refused now, whichever of them spent what.
	for _, cs := range []*mcp.ClientSession{sessions[0], sessions[2]} {
		_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "submit_expense",
			Arguments: map[string]any{"amount": 0.01, "category": "travel"}})
		assertDenied(t, err, "budget")
	}
	if n := len(r.ledger.Expenses()); n != 10 {
		t.Fatalf("upstream ran %d submissions after the refusals, want 10", n)
	}
}

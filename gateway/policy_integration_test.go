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

// TestArgumentPolicyThroughGateway: the policy issue's acceptance cases, end
// to end with a real client and upstream.
func TestArgumentPolicyThroughGateway(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := authority.Unrestricted()
	c.MaxAmount = &authority.Money{Value: authority.MustDecimal("500"), Currency: "USD"}
	c.Categories = authority.Only("travel")
	cs := r.connect(r.token(tokenOptions{c: &c}), "2025-11-25", nil)
	ctx := context.Background()
	cases := []struct {
		name   string
		args   map[string]any
		reason string // "" = allowed
	}{
		{"just under", map[string]any{"amount": 499.99, "category": "travel"}, ""},
		{"at the limit", map[string]any{"amount": 500, "category": "travel"}, ""},
		{"just over", map[string]any{"amount": 500.01, "category": "travel"}, "max_amount"},
		{"a string", map[string]any{"amount": "700", "category": "travel"}, "invalid_argument"},
		{"negative", map[string]any{"amount": -5, "category": "travel"}, "invalid_argument"},
		{"missing amount", map[string]any{"category": "travel"}, "invalid_argument"},
		{"Travel", map[string]any{"amount": 10, "category": "Travel"}, ""},
		{"TRAVEL", map[string]any{"amount": 10, "category": "TRAVEL"}, ""},
		{"other category", map[string]any{"amount": 10, "category": "meals"}, "category"},
	}
	allowed := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "submit_expense", Arguments: tc.args})
			if tc.reason == "" {
				if err != nil || res.IsError {
					t.Fatalf("want allowed, got %v", err)
				}
				allowed++
				return
			}
			assertDenied(t, err, tc.reason)
		})
	}
	if got := len(r.ledger.Expenses()); got != allowed {
		t.Fatalf("upstream recorded %d expenses, want %d", got, allowed)
	}
}

func TestWindowThroughGateway(t *testing.T) {
	now := time.Now().UTC()
	// A one-hour window that ends an hour before now: outside, today.
	start := now.Add(-2 * time.Hour).Format("15:04")
	end := now.Add(-time.Hour).Format("15:04")
	outside, err := authority.NewWindow("UTC", nil, start, end)
	if err != nil {
		t.Fatal(err)
	}
	inside, err := authority.NewWindow("UTC", nil, now.Add(-time.Hour).Format("15:04"), now.Add(time.Hour).Format("15:04"))
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, rigOptions{})
	for name, w := range map[string]authority.Window{"outside": outside, "inside": inside} {
		c := authority.Unrestricted()
		c.Window = &w
		cs := r.connect(r.token(tokenOptions{c: &c}), "2025-11-25", nil)
		_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}})
		if name == "outside" {
			assertDenied(t, err, "window")
		} else if err != nil {
			t.Fatalf("inside the window: %v", err)
		}
	}
}

// TestBudgetExhaustedExactlyUnderConcurrency: 50 concurrent 30.00 calls
// against a budget of 1000: exactly 33 are allowed and the upstream ran 33.
func TestBudgetExhaustedExactlyUnderConcurrency(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := authority.Unrestricted()
	c.Budget = &authority.Money{Value: authority.MustDecimal("1000"), Currency: "USD"}
	tok := r.token(tokenOptions{c: &c})
	sessions := make([]*mcp.ClientSession, 5)
	for i := range sessions {
		sessions[i] = r.connect(tok, "2025-11-25", nil)
	}
	var ok, denied atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := sessions[i%len(sessions)].CallTool(context.Background(), &mcp.CallToolParams{Name: "submit_expense",
				Arguments: map[string]any{"amount": 30.00, "category": "travel"}})
			if err == nil {
				ok.Add(1)
			} else {
				denied.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok.Load() != 33 || denied.Load() != 17 {
		t.Fatalf("allowed %d, denied %d; want 33 and 17", ok.Load(), denied.Load())
	}
	if n := len(r.ledger.Expenses()); n != 33 {
		t.Fatalf("upstream ran %d submissions, want 33", n)
	}
	// 990 spent: 10.01 more would pass 1000, exactly 10 reaches it.
	_, err := sessions[0].CallTool(context.Background(), &mcp.CallToolParams{Name: "submit_expense",
		Arguments: map[string]any{"amount": 10.01, "category": "travel"}})
	assertDenied(t, err, "budget")
	if _, err := sessions[0].CallTool(context.Background(), &mcp.CallToolParams{Name: "submit_expense",
		Arguments: map[string]any{"amount": 10, "category": "travel"}}); err != nil {
		t.Fatalf("the last 10.00 of the budget: %v", err)
	}
}

// TestEraTranslation: a client and an upstream of different protocol eras
// still meet through the gateway, as they would directly.
func TestEraTranslation(t *testing.T) {
	t.Run("2026 client, session upstream", func(t *testing.T) {
		r := newRig(t, rigOptions{stateless: false})
		cs := r.connect(r.token(tokenOptions{}), "2026-07-28", nil)
		if v := cs.InitializeResult().ProtocolVersion; v != "2025-11-25" {
			t.Fatalf("negotiated %s, want the fallback 2025-11-25", v)
		}
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("2025 client, stateless upstream", func(t *testing.T) {
		r := newRig(t, rigOptions{stateless: true})
		cs := r.connect(r.token(tokenOptions{}), "2025-06-18", nil)
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}}); err != nil {
			t.Fatal(err)
		}
	})
}

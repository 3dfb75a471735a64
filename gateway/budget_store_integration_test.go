package gateway_test

import (
	"context"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// TestBudgetOnStoreLedger: budgeted calls through a gateway whose ledger is
// the store (both backends), which settles each call after answering it
// (the settlement queued, not waited for): one after another, a 30 USD
// budget takes exactly three calls of 10, the fourth is refused before it
// reaches the upstream, and the ledger holds 30 spent in three calls.
func TestBudgetOnStoreLedger(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st := storetest.Open(t, b.Options(t))
		r := newRig(t, rigOptions{gwOpts: func(o *gateway.Options) { o.Ledger = st }})
		c := authority.Unrestricted()
		c.Budget = &authority.Money{Value: authority.MustDecimal("30"), Currency: "USD"}
		id := "budget-" + b.Name
		cs := r.connect(r.token(tokenOptions{c: &c, id: id}), "2025-11-25", nil)
		call := func() error {
			_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "submit_expense",
				Arguments: map[string]any{"amount": 10.00, "category": "travel"}})
			return err
		}
		for i := range 3 {
			if err := call(); err != nil {
				t.Fatalf("call %d: %v", i+1, err)
			}
		}
		assertDenied(t, call(), "budget")
		if n := len(r.ledger.Expenses()); n != 3 {
			t.Fatalf("upstream recorded %d expenses, want 3", n)
		}
		spent, calls, err := st.Spent(context.Background(), "del-"+id)
		if err != nil {
			t.Fatal(err)
		}
		if spent.String() != "30" || calls != 3 {
			t.Errorf("ledger: %s spent in %d calls, want 30 in 3", spent, calls)
		}
	})
}

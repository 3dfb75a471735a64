package policy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/openlegant/legant/authority"
)

// ledgerFunc adapts a function to Ledger, for the one behaviour no real
// ledger here can produce on demand: an outage.
type ledgerFunc func(context.Context, Reservation) (Hold, error)

func (f ledgerFunc) Reserve(ctx context.Context, r Reservation) (Hold, error) { return f(ctx, r) }

func TestAuthorize(t *testing.T) {
	ctx := context.Background()
	budget := func(k *authority.Constraints) {
		k.MaxAmount = nil
		k.Budget = &authority.Money{Value: authority.MustDecimal("100"), Currency: "USD"}
		two := int64(3)
		k.MaxCalls = &two
	}
	call := func(amount string) Call {
		return Call{Tool: "submit_expense", At: noon,
			Arguments: json.RawMessage(`{"amount":` + amount + `,"currency":"USD","category":"meal"}`)}
	}
	c := aliceClaims(budget)
	l := NewMemoryLedger()

	d, h1 := Authorize(ctx, c, expenseBinding(), call("60"), l)
	if !d.Allow || h1 == nil {
		t.Fatalf("first call: %+v", d)
	}
	// The 60 is held: a concurrent 50 cannot also pass.
	d, h := Authorize(ctx, c, expenseBinding(), call("50"), l)
	if d.Allow || d.Reason != ReasonBudget || h != nil || d.Limit != "100" || d.Value != "110" {
		t.Fatalf("over budget while held: %+v", d)
	}
	if e := d.RPCError(); e.Code != CodeDenied || e.Data.Reason != ReasonBudget {
		t.Errorf("RPCError %+v", e)
	}
	if err := h1.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	d, h2 := Authorize(ctx, c, expenseBinding(), call("40"), l)
	if !d.Allow {
		t.Fatalf("exactly the remaining budget: %+v", d)
	}
	if err := h2.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if spent, n := l.Spent("del-1"); spent.String() != "100" || n != 2 {
		t.Errorf("Spent = %s, %d; want 100, 2", spent, n)
	}
	// A zero amount still counts as a call: the third is allowed, the fourth is not.
	d, h3 := Authorize(ctx, c, expenseBinding(), call("0"), l)
	if !d.Allow {
		t.Fatalf("zero amount: %+v", d)
	}
	_ = h3.Settle(ctx)
	d, _ = Authorize(ctx, c, expenseBinding(), call("0"), l)
	if d.Allow || d.Reason != ReasonMaxCalls {
		t.Fatalf("fourth call: %+v", d)
	}
	// A stateless denial never touches the ledger.
	d, h = Authorize(ctx, c, expenseBinding(), call(`"1"`), ledgerFunc(func(context.Context, Reservation) (Hold, error) {
		t.Fatal("Reserve called for a denied call")
		return nil, nil
	}))
	if d.Allow || d.Reason != ReasonInvalidArgument || h != nil {
		t.Fatalf("invalid argument: %+v", d)
	}
}

func TestAuthorizeFailsClosed(t *testing.T) {
	ctx := context.Background()
	withBudget := aliceClaims(func(k *authority.Constraints) {
		k.Budget = &authority.Money{Value: authority.MustDecimal("100"), Currency: "USD"}
	})
	call := Call{Tool: "submit_expense", At: noon, Arguments: json.RawMessage(`{"amount":1,"currency":"USD","category":"meal"}`)}
	outage := ledgerFunc(func(context.Context, Reservation) (Hold, error) {
		return nil, errors.New("connection refused to db.internal:5432")
	})

	d, h := Authorize(ctx, withBudget, expenseBinding(), call, outage)
	if d.Allow || d.Reason != ReasonUnavailable || h != nil || d.RPCError().Code != CodeUnavailable {
		t.Fatalf("ledger outage: %+v", d)
	}
	if d.Cause == nil || !strings.Contains(d.Cause.Error(), "connection refused") {
		t.Errorf("Cause = %v, want the ledger's error for the log", d.Cause)
	}
	if d.Message != "denied: authorization state unavailable" {
		t.Errorf("internal error leaked to the client: %q", d.Message)
	}
	if d, h = Authorize(ctx, withBudget, expenseBinding(), call, nil); d.Allow || d.Reason != ReasonUnavailable || h != nil {
		t.Fatalf("nil ledger: %+v", d)
	}
	noID := aliceClaims(func(k *authority.Constraints) { *k = withBudget.Constraints })
	noID.DelegationID = ""
	if d, h = Authorize(ctx, noID, expenseBinding(), call, NewMemoryLedger()); d.Allow || d.Reason != ReasonBudget || h != nil {
		t.Fatalf("no delegation id: %+v", d)
	}
	// Without budget or call limit, no ledger is needed and the hold is a no-op.
	d, h = Authorize(ctx, aliceClaims(), expenseBinding(), call, nil)
	if !d.Allow || h == nil || h.Settle(ctx) != nil || h.Release(ctx) != nil {
		t.Fatalf("stateless token: %+v", d)
	}
}

// TestAuthorizeChargesParent: Authorize passes the token's parent to the
// ledger, so a sibling is refused on the parent's account, and the client's
// message says so without naming the ancestor.
func TestAuthorizeChargesParent(t *testing.T) {
	ctx := context.Background()
	child := func(id string) *authority.Claims {
		c := aliceClaims(func(k *authority.Constraints) {
			k.Budget = &authority.Money{Value: authority.MustDecimal("100"), Currency: "USD"}
		})
		c.DelegationID, c.ParentID = id, "del-parent"
		return c
	}
	call := func(amount string) Call {
		return Call{Tool: "submit_expense", At: noon,
			Arguments: json.RawMessage(`{"amount":` + amount + `,"currency":"USD","category":"meal"}`)}
	}
	l := NewMemoryLedger()
	d, h := Authorize(ctx, child("del-a"), expenseBinding(), call("70"), l)
	if !d.Allow {
		t.Fatalf("first child: %+v", d)
	}
	if err := h.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	d, h = Authorize(ctx, child("del-b"), expenseBinding(), call("31"), l)
	if d.Allow || h != nil || d.Reason != ReasonBudget || d.Limit != "100" || d.Value != "101" {
		t.Fatalf("sibling over the parent's budget: %+v", d)
	}
	if want := "denied: spending would reach 101, over budget 100 of an ancestor delegation"; d.Message != want || strings.Contains(d.Message, "del-parent") {
		t.Errorf("message %q, want %q", d.Message, want)
	}
	if spent, calls := l.Spent("del-parent"); spent.String() != "70" || calls != 1 {
		t.Errorf("parent spent %s in %d calls, want 70 in 1", spent, calls)
	}
}

package policy_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
)

func ExampleDecide() {
	// Alice's agent may submit travel or meal expenses up to 500 USD.
	claims := &authority.Claims{Subject: "alice", Scopes: []string{"expenses:write"}, Constraints: authority.Unrestricted()}
	claims.Constraints.Tools = authority.Only("submit_expense")
	claims.Constraints.Categories = authority.Only("travel", "meal")
	claims.Constraints.MaxAmount = &authority.Money{Value: authority.MustDecimal("500"), Currency: "USD"}

	binding := &policy.Binding{
		Tool:     "submit_expense",
		Scope:    "expenses:write",
		Amount:   &policy.AmountBinding{Value: policy.MustPointer("/amount"), Currency: "USD"},
		Category: policy.MustPointer("/category"),
	}
	for _, args := range []string{
		`{"amount":120.50,"category":"Travel"}`,
		`{"amount":700,"category":"travel"}`,
		`{"amount":"120","category":"travel"}`,
		`{"amount":12,"category":"gifts"}`,
	} {
		d := policy.Decide(claims, binding, policy.Call{Tool: "submit_expense", Arguments: json.RawMessage(args), At: time.Now()})
		if d.Allow {
			fmt.Println("allowed", d.Amount, d.Category)
			continue
		}
		e, _ := json.Marshal(d.RPCError())
		fmt.Println(string(e))
	}
	// Output:
	// allowed 120.5 USD travel
	// {"code":-32030,"message":"denied: amount 700 exceeds max_amount 500","data":{"reason":"max_amount","limit":"500","value":"700"}}
	// {"code":-32030,"message":"denied: argument /amount: string where a number is expected","data":{"reason":"invalid_argument","argument":"/amount","value":"\"120\""}}
	// {"code":-32030,"message":"denied: category \"gifts\" is not allowed","data":{"reason":"category","limit":"meal,travel","value":"gifts"}}
}

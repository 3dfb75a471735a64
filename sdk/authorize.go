package sdk

import (
	"context"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
)

// Action is one operation of a resource server, described by the values
// policy checks. A value left empty is a dimension the operation does not
// have: a token's max_amount does not restrict an Action without Amount,
// exactly as it does not restrict a gateway tool without an amount binding.
// Fill in every dimension your operation has.
type Action struct {
	// Tool names the operation; the token's tools allow-list must hold it.
	Tool string
	// Scope is the scope the operation requires; "" = none beyond a valid token.
	Scope string
	// Amount is the money the operation moves, an exact decimal ("499.99");
	// "" = none.
	Amount string
	// Currency is Amount's ISO 4217 code; "" = the operation states none
	// (refused when the token's max_amount or budget names a currency).
	Currency string
	// Category is checked against the token's categories (compared after
	// Unicode normalization and case folding); "" = none.
	Category string
	// Resource is what the operation touches; "" = none.
	Resource string
	// ResourceKind says how Resource is compared: policy.ResourceURL
	// (canonical URL), policy.ResourcePath (cleaned path, prefix entries
	// ending in "/"), or policy.ResourceName (exact; the zero value).
	ResourceKind policy.ResourceKind
	// At is when the operation happens, checked against the token's window;
	// zero = time.Now().
	At time.Time
}

// Binding and fixed argument names of the call an Action stands for.
var (
	amountPtr   = policy.MustPointer("/amount")
	currencyPtr = policy.MustPointer("/currency")
	categoryPtr = policy.MustPointer("/category")
	resourcePtr = policy.MustPointer("/resource")
)

// call turns a into the policy binding and tools/call that carry its values:
// the binding binds exactly the dimensions a has, and policy.SampleCall writes
// the values at those arguments. Authorize then runs policy.Decide, the
// gateway's own decision code, so the outcome for a token is the one the
// gateway reaches for a tool bound the same way.
func (a Action) call() (*policy.Binding, policy.Call, error) {
	b := &policy.Binding{Tool: a.Tool, Scope: a.Scope}
	if a.Amount != "" || a.Currency != "" {
		b.Amount = &policy.AmountBinding{Value: amountPtr}
		if a.Currency != "" {
			b.Amount.CurrencyPointer = currencyPtr
		}
	}
	if a.Category != "" {
		b.Category = categoryPtr
	}
	if a.Resource != "" {
		b.Resource = &policy.ResourceBinding{Value: resourcePtr, Kind: a.ResourceKind}
	}
	at := a.At
	if at.IsZero() {
		at = time.Now()
	}
	call, err := policy.SampleCall(b, a.Tool, policy.Sample{
		Amount: a.Amount, Currency: a.Currency, Category: a.Category, Resource: a.Resource,
	}, at)
	return b, call, err
}

// Authorize decides whether the token's claims allow a, with the gateway's
// decision code (policy.Decide): scope, tools, amount and currency against
// max_amount, category, resource, time window, in that order, deny by
// default. The Decision carries a machine-readable Reason, the constraint,
// limit and value at fault, and a Message for the client.
//
// Authorize is stateless: budget and max_calls need a ledger, see
// Verifier.Reserve. It is safe for concurrent use.
func Authorize(c *authority.Claims, a Action) policy.Decision {
	if a.Tool == "" {
		return policy.Deny(policy.ReasonToolNotBound, "the action names no tool")
	}
	b, call, err := a.call()
	if err != nil {
		d := policy.Deny(policy.ReasonInvalidArgument, "%v", err)
		d.Constraint = "arguments"
		return d
	}
	return policy.Decide(c, b, call)
}

// Reserve is Authorize plus the token's budget and max_calls, held on the
// Verifier's ledger (policy.Authorize). With an allow it returns a Hold:
// Settle it when the operation succeeded (the amount is spent and the call
// counts), Release it otherwise; `defer hold.Release(ctx)` is safe. With a
// denial the Hold is nil.
func (v *Verifier) Reserve(ctx context.Context, c *authority.Claims, a Action) (policy.Decision, policy.Hold) {
	if a.Tool == "" {
		return policy.Deny(policy.ReasonToolNotBound, "the action names no tool"), nil
	}
	if a.At.IsZero() {
		a.At = v.now()
	}
	b, call, err := a.call()
	if err != nil {
		d := policy.Deny(policy.ReasonInvalidArgument, "%v", err)
		d.Constraint = "arguments"
		return d, nil
	}
	return policy.Authorize(ctx, c, b, call, v.ledger)
}

// AuthorizeCall decides one MCP tools/call exactly as the gateway does
// (policy.Authorize with the Verifier's ledger): b is the tool's binding
// (nil = not registered: denied) and call carries the raw arguments as the
// server will parse them. The guards for MCP servers use it.
func (v *Verifier) AuthorizeCall(ctx context.Context, c *authority.Claims, b *policy.Binding, call policy.Call) (policy.Decision, policy.Hold) {
	if call.At.IsZero() {
		call.At = v.now()
	}
	return policy.Authorize(ctx, c, b, call, v.ledger)
}

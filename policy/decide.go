package policy

import (
	"fmt"
	"strings"
	"time"

	"github.com/openlegant/legant/authority"
)

// Decide is the stateless decision for one call. It checks, in this order, and
// stops at the first failure:
//
//  1. claims and binding present (tool_not_bound; nil claims: unauthenticated)
//  2. the binding's scope (insufficient_scope)
//  3. the token's tools allow-list (tool_not_allowed)
//  4. arguments: a strict JSON object (invalid_argument)
//  5. amount, then its currency against max_amount and budget (invalid_argument, currency, max_amount)
//  6. category (invalid_argument, category)
//  7. resource (invalid_argument, resource)
//  8. time window (window)
//
// A constraint restricts a tool only through the argument its binding names:
// a token's max_amount does not restrict a tool with no amount binding. Bound
// arguments are required. Budgets and call counts need state: see Authorize.
//
// Visible reports whether the token may see a tool and so call it with some
// arguments: the registry binds it (b non-nil), the token holds its scope and
// the token's tool list allows it. It is the rule behind every filtered tool
// list (gateway, SDK guards); Decide denies exactly the calls it hides, with
// the reason, before it looks at arguments.
func Visible(c *authority.Claims, b *Binding) bool {
	return c != nil && b != nil && (b.Scope == "" || c.HasScope(b.Scope)) && c.Constraints.Tools.Contains(b.Tool)
}

// Decide is safe for concurrent use; it reads c and b and never modifies them.
func Decide(c *authority.Claims, b *Binding, call Call) Decision {
	var d Decision
	switch {
	case c == nil:
		return Deny(ReasonUnauthenticated, "no verified token")
	case b == nil || (b.Tool != "" && b.Tool != call.Tool):
		d = Deny(ReasonToolNotBound, "tool %s is not registered for this upstream", shorten(call.Tool))
		d.Value = shorten(call.Tool)
		return d
	case b.Scope != "" && !c.HasScope(b.Scope):
		d = Deny(ReasonInsufficientScope, "tool %s requires scope %s", call.Tool, b.Scope)
		d.Constraint, d.Limit = "scope", b.Scope
		return d
	case !c.Constraints.Tools.Contains(call.Tool):
		d = Deny(ReasonToolNotAllowed, "tool %s is not allowed by this token", call.Tool)
		d.Constraint, d.Value = "tools", call.Tool
		return d
	}
	args, aerr := argumentsObject(call.Arguments, call.ArgumentsChecked)
	if aerr != nil {
		return invalid(aerr)
	}
	cons := &c.Constraints
	if !checkAmount(&d, cons, b.Amount, args) ||
		!checkCategory(&d, cons, b.Category, args) ||
		!checkResource(&d, cons, b.Resource, args) ||
		!checkWindow(&d, cons, b, call.At) {
		return d
	}
	d.Allow, d.Reason = true, ReasonAllowed
	return d
}

// invalid is the denial for a malformed argument.
func invalid(e *argError) Decision {
	return Decision{
		Reason:     ReasonInvalidArgument,
		Constraint: "arguments",
		Argument:   e.ptr,
		Value:      e.value,
		Message:    "denied: " + e.Error(),
	}
}

// deny fills d with a constraint denial, keeping the values already read.
func deny(d *Decision, r Reason, constraint, limit, value, msg string) bool {
	d.Reason, d.Constraint, d.Limit, d.Value = r, constraint, limit, value
	d.Message = "denied: " + msg
	return false
}

// checkAmount reads the amount and currency and holds them against
// max_amount and the budget's currency.
func checkAmount(d *Decision, cons *authority.Constraints, ab *AmountBinding, args []byte) bool {
	if ab == nil {
		return true
	}
	amount, aerr := readAmount(args, ab.Value)
	if aerr != nil {
		*d = invalid(aerr)
		return false
	}
	cur, aerr := callCurrency(args, ab)
	if aerr != nil {
		*d = invalid(aerr)
		return false
	}
	d.Amount = &authority.Money{Value: amount, Currency: cur}
	for _, lim := range []struct {
		name string
		m    *authority.Money
	}{{"max_amount", cons.MaxAmount}, {"budget", cons.Budget}} {
		if lim.m == nil || lim.m.Currency == "" || lim.m.Currency == cur {
			continue
		}
		if cur == "" {
			return deny(d, ReasonCurrency, "currency", lim.m.Currency, "",
				fmt.Sprintf("the call states no currency; %s is in %s", lim.name, lim.m.Currency))
		}
		return deny(d, ReasonCurrency, "currency", lim.m.Currency, cur,
			fmt.Sprintf("currency %s differs from %s currency %s", cur, lim.name, lim.m.Currency))
	}
	if m := cons.MaxAmount; m != nil && amount.Cmp(m.Value) > 0 {
		return deny(d, ReasonMaxAmount, "max_amount", m.Value.String(), amount.String(),
			fmt.Sprintf("amount %s exceeds max_amount %s", amount, m.Value))
	}
	return true
}

// checkCategory compares the normalized category (authority.NormalizeCategory:
// NFC, then case folding, trimmed) with the token's categories.
func checkCategory(d *Decision, cons *authority.Constraints, p Pointer, args []byte) bool {
	if p.IsZero() {
		return true
	}
	raw, aerr := readString(args, p)
	if aerr != nil {
		*d = invalid(aerr)
		return false
	}
	cat := authority.NormalizeCategory(raw)
	if cat == "" {
		*d = invalid(&argError{ptr: p.String(), problem: "empty category"})
		return false
	}
	d.Category = cat
	if !categoryAllowed(cons.Categories, cat) {
		return deny(d, ReasonCategory, "categories", setLimit(cons.Categories), shorten(cat),
			fmt.Sprintf("category %q is not allowed", shorten(cat)))
	}
	return true
}

// categoryAllowed matches a normalized category against the set; items of a
// set built without authority.Constraints.Normalize are normalized here, so
// that such a set compares the same way (verified tokens are normalized).
func categoryAllowed(s authority.Set, cat string) bool {
	if s.Contains(cat) {
		return true
	}
	for _, item := range s.Items() {
		if authority.NormalizeCategory(item) == cat {
			return true
		}
	}
	return false
}

// checkResource canonicalizes the resource by kind and matches it (resourceAllowed).
func checkResource(d *Decision, cons *authority.Constraints, rb *ResourceBinding, args []byte) bool {
	if rb == nil {
		return true
	}
	raw, aerr := readString(args, rb.Value)
	if aerr != nil {
		*d = invalid(aerr)
		return false
	}
	res, err := canonicalResource(rb.Kind, raw)
	if err != nil {
		*d = invalid(&argError{ptr: rb.Value.String(), problem: err.Error(), value: shorten(raw)})
		return false
	}
	d.Resource = res
	if !resourceAllowed(cons.Resources, rb.Kind, res) {
		return deny(d, ReasonResource, "resources", setLimit(cons.Resources), shorten(res),
			fmt.Sprintf("resource %s is not allowed", shorten(res)))
	}
	return true
}

// windowApplies reports whether the token's window restricts calls of b's
// tool. The rule is deliberately simple: a window restricts every call, read
// or write. Binding.Mutating is the hook for a future rule where some windows
// (freeze windows) restrict only mutating tools.
func windowApplies(*Binding) bool { return true }

// checkWindow holds the call's instant against the token's window. A window
// whose zone cannot be loaded, or a call without an instant, fails closed.
func checkWindow(d *Decision, cons *authority.Constraints, b *Binding, at time.Time) bool {
	w := cons.Window
	if w == nil || !windowApplies(b) {
		return true
	}
	if at.IsZero() {
		return deny(d, ReasonWindow, "window", w.String(), "", "the call has no instant to check against the window")
	}
	ok, err := w.Contains(at)
	if err != nil {
		return deny(d, ReasonWindow, "window", w.String(), "", fmt.Sprintf("window cannot be evaluated: %v", err))
	}
	if !ok {
		when := at.UTC().Format(time.RFC3339)
		return deny(d, ReasonWindow, "window", w.String(), when,
			fmt.Sprintf("%s is outside the window %s", when, w))
	}
	return true
}

// setLimit renders an allow-list for Decision.Limit: "" when unrestricted,
// the items joined by commas, shortened.
func setLimit(s authority.Set) string {
	if s.Unrestricted() {
		return ""
	}
	return shorten(strings.Join(s.Items(), ","))
}

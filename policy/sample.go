package policy

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/openlegant/legant/authority"
)

// Sample describes a hypothetical call by the values policy checks, for
// offline tools such as `legant who-can` that ask "who could do this?".
// Empty fields are left out of the arguments.
type Sample struct {
	Amount   string // plain decimal, e.g. "300"
	Currency string // ISO 4217, e.g. "USD"
	Category string
	Resource string
}

// SampleBinding returns a binding of tool for when no registry describes it:
// it requires scope ("" = none) and binds each value s carries at an argument
// of its name: /amount with its currency at /currency, /category, and
// /resource compared as kind. A value s leaves empty is not bound, so
// policy does not check it. SampleCall then builds the matching call.
func SampleBinding(tool, scope string, s Sample, kind ResourceKind) *Binding {
	b := &Binding{Tool: tool, Scope: scope}
	if s.Amount != "" || s.Currency != "" {
		b.Amount = &AmountBinding{Value: MustPointer("/amount"), CurrencyPointer: MustPointer("/currency")}
	}
	if s.Category != "" {
		b.Category = MustPointer("/category")
	}
	if s.Resource != "" {
		b.Resource = &ResourceBinding{Value: MustPointer("/resource"), Kind: kind}
	}
	return b
}

// SampleCall builds the call of tool that carries s's values at the
// arguments b binds (objects are created along each pointer). A value the
// binding does not bind is an error, since policy would never see it; so is a
// currency given for a tool with a fixed currency that differs.
func SampleCall(b *Binding, tool string, s Sample, at time.Time) (Call, error) {
	args := map[string]any{}
	set := func(what string, p Pointer, v any) error {
		if p.IsZero() {
			return fmt.Errorf("tool %s binds no %s argument", tool, what)
		}
		return setPointer(args, p, v)
	}
	var err error
	if s.Amount != "" {
		if _, perr := authority.ParseDecimal(s.Amount); perr != nil {
			return Call{}, fmt.Errorf("amount: %w", perr)
		}
		err = set("amount", amountPointer(b), json.Number(s.Amount))
	}
	if err == nil && s.Currency != "" {
		err = sampleCurrency(b, tool, s.Currency, set)
	}
	if err == nil && s.Category != "" {
		err = set("category", categoryPointer(b), s.Category)
	}
	if err == nil && s.Resource != "" {
		err = set("resource", resourcePointer(b), s.Resource)
	}
	if err != nil {
		return Call{}, err
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return Call{}, err
	}
	return Call{Tool: tool, Arguments: raw, At: at}, nil
}

func sampleCurrency(b *Binding, tool, cur string, set func(string, Pointer, any) error) error {
	if b != nil && b.Amount != nil && b.Amount.Currency != "" && b.Amount.CurrencyPointer.IsZero() {
		if cur != b.Amount.Currency {
			return fmt.Errorf("tool %s is always in %s", tool, b.Amount.Currency)
		}
		return nil
	}
	var p Pointer
	if b != nil && b.Amount != nil {
		p = b.Amount.CurrencyPointer
	}
	return set("currency", p, cur)
}

func amountPointer(b *Binding) Pointer {
	if b == nil || b.Amount == nil {
		return Pointer{}
	}
	return b.Amount.Value
}

func categoryPointer(b *Binding) Pointer {
	if b == nil {
		return Pointer{}
	}
	return b.Category
}

func resourcePointer(b *Binding) Pointer {
	if b == nil || b.Resource == nil {
		return Pointer{}
	}
	return b.Resource.Value
}

// setPointer stores v at p inside doc, creating objects along the way.
func setPointer(doc map[string]any, p Pointer, v any) error {
	toks := p.Tokens()
	cur := doc
	for i, tok := range toks {
		if i == len(toks)-1 {
			if _, taken := cur[tok]; taken {
				return fmt.Errorf("two bound arguments share %s", p)
			}
			cur[tok] = v
			return nil
		}
		next, ok := cur[tok].(map[string]any)
		if !ok {
			if _, taken := cur[tok]; taken {
				return fmt.Errorf("two bound arguments overlap at %s", p)
			}
			next = map[string]any{}
			cur[tok] = next
		}
		cur = next
	}
	return nil
}

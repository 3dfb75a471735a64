package authority

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// DetailType is the RFC 9396 authorization_details type that carries
// Constraints.
const DetailType = "legant_delegation"

// Money is an amount with an optional ISO 4217 currency code ("" means any
// currency). Codes are upper case once normalized.
type Money struct {
	Value    Decimal `json:"value"`
	Currency string  `json:"currency,omitempty"`
}

// String returns "500 USD", or "500" without a currency.
func (m Money) String() string {
	if m.Currency == "" {
		return m.Value.String()
	}
	return m.Value.String() + " " + m.Currency
}

// UnmarshalJSON decodes {"value":"500","currency":"USD"} strictly: value is
// required and unknown keys are errors.
func (m *Money) UnmarshalJSON(data []byte) error {
	var in struct {
		Value    *Decimal `json:"value"`
		Currency string   `json:"currency"`
	}
	if err := decodeFields(data, map[string]any{"value": &in.Value, "currency": &in.Currency}); err != nil {
		return fmt.Errorf("money: %w", err)
	}
	if in.Value == nil {
		return errors.New("money: value missing")
	}
	*m = Money{Value: *in.Value, Currency: in.Currency}
	return nil
}

// normalizeMoney upper-cases the currency and checks it and the sign.
func normalizeMoney(m *Money, name string) (*Money, error) {
	if m == nil {
		return nil, nil
	}
	out := Money{Value: m.Value, Currency: strings.ToUpper(m.Currency)}
	if out.Value.Sign() < 0 {
		return nil, fmt.Errorf("%w: %s %s is negative", ErrConstraints, name, out.Value)
	}
	if out.Currency != "" && !IsCurrencyCode(out.Currency) {
		return nil, fmt.Errorf("%w: %s currency %q is not an ISO 4217 code", ErrConstraints, name, m.Currency)
	}
	return &out, nil
}

// IsCurrencyCode reports whether s is an ISO 4217 code: three uppercase
// ASCII letters. Tokens and tool arguments are held to the same rule.
func IsCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// Constraints are the limits signed into a delegation token, carried as its
// authorization_details entry of type DetailType. An unrestricted Set or a
// nil pointer means the dimension does not restrict; the zero value of
// Constraints is therefore deny-all for tools, resources and categories.
type Constraints struct {
	Tools      Set     // bare tool names (the token is audience-bound to one upstream)
	Resources  Set     // canonical resource identifiers (CanonicalResource)
	Categories Set     // normalized with NormalizeCategory
	MaxAmount  *Money  // per-call maximum, inclusive
	Budget     *Money  // cumulative over the delegation's life; enforced with state by policy
	MaxCalls   *int64  // calls over the delegation's life; enforced with state by policy
	Window     *Window // nil = any time
}

// Unrestricted returns Constraints that restrict nothing.
func Unrestricted() Constraints {
	return Constraints{Tools: AnyOf(), Resources: AnyOf(), Categories: AnyOf()}
}

// NormalizeCategory returns the comparison form of a category: trimmed,
// Unicode NFC, then full case folding ("Travel", "TRAVEL" and "travel" are
// one category; so are "Straße" and "STRASSE"). It uses golang.org/x/text,
// the one dependency besides the JWT library.
func NormalizeCategory(s string) string {
	s = norm.NFC.String(strings.TrimSpace(s))
	return norm.NFC.String(cases.Fold().String(s))
}

// Normalize returns a copy of c in canonical form: resources canonicalized,
// categories normalized, currency codes upper case. It fails, wrapping
// ErrConstraints, on a bad resource, a negative amount or count, or a bad
// window. Sign, Attenuate and JSON decoding apply it.
func (c Constraints) Normalize() (Constraints, error) {
	out := c
	var err error
	if out.Resources, err = mapSet(c.Resources, CanonicalResource); err != nil {
		return Constraints{}, fmt.Errorf("%w: resources: %w", ErrConstraints, err)
	}
	out.Categories, _ = mapSet(c.Categories, func(s string) (string, error) { return NormalizeCategory(s), nil })
	if out.MaxAmount, err = normalizeMoney(c.MaxAmount, "max_amount"); err != nil {
		return Constraints{}, err
	}
	if out.Budget, err = normalizeMoney(c.Budget, "budget"); err != nil {
		return Constraints{}, err
	}
	if c.MaxCalls != nil {
		if *c.MaxCalls < 0 {
			return Constraints{}, fmt.Errorf("%w: max_calls %d is negative", ErrConstraints, *c.MaxCalls)
		}
		n := *c.MaxCalls
		out.MaxCalls = &n
	}
	if c.Window != nil {
		w := Window{Zone: c.Window.Zone, Segments: normalizeSegments(c.Window.Segments)}
		if err := w.validate(); err != nil {
			return Constraints{}, fmt.Errorf("%w: %w", ErrConstraints, err)
		}
		out.Window = &w
	}
	return out, nil
}

// mapSet applies f to every item of a restricted Set.
func mapSet(s Set, f func(string) (string, error)) (Set, error) {
	if s.Unrestricted() {
		return s, nil
	}
	items := s.Items()
	for i, x := range items {
		y, err := f(x)
		if err != nil {
			return Set{}, err
		}
		items[i] = y
	}
	return Only(items...), nil
}

// Action is one concrete thing an agent wants to do, checked by Allows.
// A dimension the action does not carry ("" or nil) is not checked: policy,
// which knows the tool's bindings, must refuse a call whose bound argument is
// missing before it builds the Action.
type Action struct {
	Tool     string
	Amount   *Money    // nil = the call carries no amount
	Category string    // "" = none
	Resource string    // "" = none
	At       time.Time // when the call happens, checked against Window
}

// Allows evaluates the stateless constraints (tools, resources, categories,
// max_amount with its currency, window) against a. It returns nil when the
// action is allowed and a *ConstraintError naming the first constraint that
// refuses it otherwise. Budget and MaxCalls need state: policy checks them.
func (c Constraints) Allows(a Action) error {
	checks := []func(Action) *ConstraintError{c.allowsTool, c.allowsResource, c.allowsCategory, c.allowsAmount, c.allowsTime}
	for _, check := range checks {
		if err := check(a); err != nil {
			return err
		}
	}
	return nil
}

func (c Constraints) allowsTool(a Action) *ConstraintError {
	if c.Tools.Contains(a.Tool) {
		return nil
	}
	return &ConstraintError{Constraint: "tools", Limit: setLimit(c.Tools), Value: a.Tool,
		Msg: fmt.Sprintf("tool %q is not allowed (allowed: %s)", a.Tool, setLimit(c.Tools))}
}

func (c Constraints) allowsResource(a Action) *ConstraintError {
	if a.Resource == "" || c.Resources.Unrestricted() {
		return nil
	}
	r, err := CanonicalResource(a.Resource)
	if err == nil && containsMapped(c.Resources, r, CanonicalResource) {
		return nil
	}
	return &ConstraintError{Constraint: "resources", Limit: setLimit(c.Resources), Value: a.Resource,
		Msg: fmt.Sprintf("resource %q is not allowed (allowed: %s)", a.Resource, setLimit(c.Resources))}
}

func (c Constraints) allowsCategory(a Action) *ConstraintError {
	if a.Category == "" || c.Categories.Unrestricted() {
		return nil
	}
	norm := func(s string) (string, error) { return NormalizeCategory(s), nil }
	if containsMapped(c.Categories, NormalizeCategory(a.Category), norm) {
		return nil
	}
	return &ConstraintError{Constraint: "categories", Limit: setLimit(c.Categories), Value: a.Category,
		Msg: fmt.Sprintf("category %q is not allowed (allowed: %s)", a.Category, setLimit(c.Categories))}
}

// containsMapped reports whether some item of s maps to x under f, so that a
// Set built without Normalize still compares in canonical form.
func containsMapped(s Set, x string, f func(string) (string, error)) bool {
	if s.Contains(x) {
		return true
	}
	for _, item := range s.items {
		if y, err := f(item); err == nil && y == x {
			return true
		}
	}
	return false
}

func (c Constraints) allowsAmount(a Action) *ConstraintError {
	if a.Amount == nil || c.MaxAmount == nil {
		return nil
	}
	limit, amount := c.MaxAmount, a.Amount
	if limit.Currency != "" && !strings.EqualFold(limit.Currency, amount.Currency) {
		got := amount.Currency
		if got == "" {
			got = "no currency"
		}
		return &ConstraintError{Constraint: "currency", Limit: strings.ToUpper(limit.Currency), Value: amount.Currency,
			Msg: fmt.Sprintf("currency %s does not match max_amount currency %s", got, strings.ToUpper(limit.Currency))}
	}
	if amount.Value.Sign() < 0 {
		return &ConstraintError{Constraint: "max_amount", Limit: limit.Value.String(), Value: amount.Value.String(),
			Msg: fmt.Sprintf("amount %s is negative", amount.Value)}
	}
	if amount.Value.Cmp(limit.Value) > 0 {
		return &ConstraintError{Constraint: "max_amount", Limit: limit.Value.String(), Value: amount.Value.String(),
			Msg: fmt.Sprintf("amount %s exceeds max_amount %s", amount.Value, limit.Value)}
	}
	return nil
}

func (c Constraints) allowsTime(a Action) *ConstraintError {
	if c.Window == nil {
		return nil
	}
	ok, err := c.Window.Contains(a.At)
	if ok {
		return nil
	}
	e := &ConstraintError{Constraint: "window", Limit: c.Window.String(), Value: a.At.UTC().Format(time.RFC3339)}
	if err != nil {
		e.Msg = fmt.Sprintf("window cannot be checked: %v", err)
		return e
	}
	if loc, err := loadLocation(c.Window.Zone); err == nil {
		e.Value = a.At.In(loc).Format("Mon 15:04 MST")
	}
	e.Msg = fmt.Sprintf("%s is outside the window %s", e.Value, c.Window)
	return e
}

// setLimit renders a restricted Set for messages.
func setLimit(s Set) string {
	if s.Unrestricted() {
		return "any"
	}
	if s.Empty() {
		return "none"
	}
	return strings.Join(s.items, ", ")
}

// detailWire is the authorization_details entry. A nil Set pointer is an
// unrestricted (omitted) Set; a pointer to an empty slice is deny-all.
type detailWire struct {
	Type       string    `json:"type"`
	Actions    *[]string `json:"actions,omitempty"`
	Locations  *[]string `json:"locations,omitempty"`
	Categories *[]string `json:"categories,omitempty"`
	MaxAmount  *Money    `json:"max_amount,omitempty"`
	Budget     *Money    `json:"budget,omitempty"`
	MaxCalls   *int64    `json:"max_calls,omitempty"`
	Window     *Window   `json:"window,omitempty"`
}

func setWire(s Set) *[]string {
	if s.Unrestricted() {
		return nil
	}
	items := s.Items()
	return &items
}

// MarshalJSON encodes c as its RFC 9396 authorization_details entry:
// {"type":"legant_delegation","actions":[...],"locations":[...],
// "categories":[...],"max_amount":{...},"budget":{...},"max_calls":10,
// "window":{...}}; an omitted key is unrestricted, [] is deny-all.
func (c Constraints) MarshalJSON() ([]byte, error) {
	return json.Marshal(detailWire{
		Type: DetailType, Actions: setWire(c.Tools), Locations: setWire(c.Resources),
		Categories: setWire(c.Categories), MaxAmount: c.MaxAmount, Budget: c.Budget,
		MaxCalls: c.MaxCalls, Window: c.Window,
	})
}

// UnmarshalJSON decodes an authorization_details entry strictly: the type
// must be DetailType, unknown or duplicate keys and null values are errors
// (fail closed), and the result is normalized. Errors wrap ErrConstraints.
func (c *Constraints) UnmarshalJSON(data []byte) error {
	fields, err := decodeObject(data)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConstraints, err)
	}
	out := Unrestricted()
	for key, raw := range fields {
		if err := out.setField(key, raw); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrConstraints, key, err)
		}
	}
	if string(fields["type"]) == "" {
		return fmt.Errorf("%w: type missing", ErrConstraints)
	}
	if out, err = out.Normalize(); err != nil {
		return err
	}
	*c = out
	return nil
}

// setField decodes one member of the authorization_details entry into c.
func (c *Constraints) setField(key string, raw json.RawMessage) error {
	if string(raw) == "null" {
		return errors.New("null is not allowed")
	}
	switch key {
	case "type":
		var t string
		if err := json.Unmarshal(raw, &t); err != nil || t != DetailType {
			return fmt.Errorf("want %q", DetailType)
		}
		return nil
	case "actions":
		return c.Tools.UnmarshalJSON(raw)
	case "locations":
		return c.Resources.UnmarshalJSON(raw)
	case "categories":
		return c.Categories.UnmarshalJSON(raw)
	case "max_amount":
		return json.Unmarshal(raw, &c.MaxAmount)
	case "budget":
		return json.Unmarshal(raw, &c.Budget)
	case "max_calls":
		return json.Unmarshal(raw, &c.MaxCalls)
	case "window":
		return json.Unmarshal(raw, &c.Window)
	}
	return errors.New("unknown key")
}

package policy

import "fmt"

// ResourceKind says how a bound resource argument is canonicalized before it
// is compared with the token's resources allow-list.
type ResourceKind string

const (
	ResourceURL  ResourceKind = "url"  // canonical URL (authority.CanonicalResource)
	ResourcePath ResourceKind = "path" // cleaned slash path; ".." that escapes the root is denied
	ResourceName ResourceKind = "name" // an opaque name (table, bucket…), compared exactly
)

// ParseResourceKind returns the kind s names: "url", "path" or "name".
func ParseResourceKind(s string) (ResourceKind, error) {
	switch k := ResourceKind(s); k {
	case ResourceURL, ResourcePath, ResourceName:
		return k, nil
	}
	return "", fmt.Errorf("policy: resource kind %q: want %s, %s or %s", s, ResourceURL, ResourcePath, ResourceName)
}

// AmountBinding names the argument that carries the money a call moves.
type AmountBinding struct {
	// Value points at the amount: a JSON number (or, never coerced, nothing else).
	Value Pointer
	// CurrencyPointer, when set, points at a string argument holding the ISO 4217 code.
	CurrencyPointer Pointer
	// Currency is a fixed currency for the tool; "" with a zero CurrencyPointer means
	// the call states no currency.
	Currency string
}

// ResourceBinding names the argument that identifies what a call touches.
type ResourceBinding struct {
	Value Pointer
	Kind  ResourceKind // zero means ResourceName
}

// Binding is what the registry knows about one tool of an upstream: the scope a
// caller needs and which arguments policy checks against the token's
// constraints. A nil *Binding means the tool is not registered: invisible and
// uncallable.
type Binding struct {
	Tool     string
	Scope    string // required scope; "" means no scope beyond holding a valid token
	Amount   *AmountBinding
	Category Pointer // zero = the tool has no category argument
	Resource *ResourceBinding
	Mutating bool     // true: the call changes state (freeze windows apply)
	Tags     []string // static labels, e.g. "finance"
	// Honeytool marks a bait: listed like any tool the token may see, never
	// forwarded; a call to it kills the session (the gateway's honeytool.go).
	Honeytool bool
}

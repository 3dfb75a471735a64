package policy

import (
	"fmt"
	"slices"
	"time"
)

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
	// Approval, when set, makes the tool a four-eyes tool: a call policy
	// allows is still not forwarded until a second, distinct human approves
	// that exact call (the gateway's approval.go). nil means no approval.
	Approval *Approval
}

// Approval says who may approve a call of a four-eyes tool (Binding.Approval)
// and for how long a request stays open. One approval admits one call: the
// tool with those exact arguments, under that token (jti). The approver is
// never the token's subject nor anyone in its act chain, whatever From says.
type Approval struct {
	// From lists the users (token subjects) who may approve; never empty.
	From []string
	// TTL bounds a request from its creation until the approved call is
	// made; zero means DefaultApprovalTTL.
	TTL time.Duration
}

// DefaultApprovalTTL is how long an approval request (and the approval it
// gets) stays valid when the registry names no ttl.
const DefaultApprovalTTL = 10 * time.Minute

// MaxApprovalTTL is the longest ttl the registry may give an approval.
const MaxApprovalTTL = 24 * time.Hour

// Approves reports whether user is one of those who may approve.
func (a *Approval) Approves(user string) bool { return a != nil && slices.Contains(a.From, user) }

// Lifetime returns the request's TTL, DefaultApprovalTTL when none is set.
func (a *Approval) Lifetime() time.Duration {
	if a == nil || a.TTL <= 0 {
		return DefaultApprovalTTL
	}
	return a.TTL
}

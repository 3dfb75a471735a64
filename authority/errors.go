package authority

import "errors"

// Sentinel errors returned (wrapped with detail) by Verify, Inspect and
// VerifyJWS. Callers branch on them with errors.Is; every one of them maps to
// the OAuth error "invalid_token". The wrapped detail is meant for logs, not
// for the client.
var (
	ErrMalformed    = errors.New("malformed token")
	ErrAlgorithm    = errors.New("signing algorithm not allowed")
	ErrUnknownKey   = errors.New("unknown signing key")
	ErrSignature    = errors.New("invalid signature")
	ErrExpired      = errors.New("token expired")
	ErrNotYetValid  = errors.New("token not yet valid")
	ErrIssuer       = errors.New("wrong issuer")
	ErrAudience     = errors.New("wrong audience")
	ErrMissingActor = errors.New("delegation token without actor")
	ErrType         = errors.New("wrong token type")
	// ErrConstraints reports constraints that are invalid as data (an unknown
	// key in the legant_delegation entry, a negative amount, a bad window).
	// An action refused by valid constraints is a *ConstraintError instead.
	ErrConstraints = errors.New("invalid constraints")
)

// ConstraintError reports an action refused by a token's constraints. Allows
// returns it; policy turns it into the machine-readable reason of a denial.
type ConstraintError struct {
	// Constraint is one of "tools", "resources", "categories", "max_amount",
	// "currency", "window", "budget", "max_calls".
	Constraint string
	Limit      string // the limit in text form, e.g. "500"; "" when the set is empty
	Value      string // the offending value, e.g. "700"
	Msg        string // a sentence for humans, e.g. "amount 700 exceeds max_amount 500"
}

func (e *ConstraintError) Error() string { return e.Msg }

// AttenuationError reports a request that Attenuate refuses because it would
// widen the parent's authority or break a chain rule.
type AttenuationError struct {
	// Field is one of "parent", "actor", "depth", "audience", "scope",
	// "expires_at", "cnf", "constraints", "tools", "resources", "categories",
	// "max_amount", "budget", "max_calls", "window".
	Field string
	Msg   string
}

func (e *AttenuationError) Error() string { return "attenuate: " + e.Msg }

// ErrorText says, in a sentence safe to show the client (an RFC 6750
// error_description), why Verify refused a token. It never echoes the token
// or the wrapped detail, which is for logs.
func ErrorText(err error) string {
	switch {
	case errors.Is(err, ErrExpired):
		return "the token has expired"
	case errors.Is(err, ErrNotYetValid):
		return "the token is not valid yet"
	case errors.Is(err, ErrAudience):
		return "the token's audience is not this resource"
	case errors.Is(err, ErrIssuer):
		return "the token's issuer is not trusted"
	case errors.Is(err, ErrMissingActor):
		return "the token is not a delegation token (no act claim)"
	case errors.Is(err, ErrUnknownKey):
		return "the token is signed with an unknown key"
	case errors.Is(err, ErrAlgorithm):
		return "the token's signing algorithm is not allowed"
	case errors.Is(err, ErrSignature):
		return "the token's signature is invalid"
	case errors.Is(err, ErrConstraints):
		return "the token's constraints are invalid"
	}
	return "the token is malformed"
}

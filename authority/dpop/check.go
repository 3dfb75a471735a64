package dpop

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openlegant/legant/authority"
)

// Mode says which tokens a resource accepts.
type Mode string

const (
	// ModeAllow (the default) accepts bearer tokens and DPoP-bound tokens; a
	// bound token must come with the DPoP scheme and a valid proof.
	ModeAllow Mode = "allow"
	// ModeRequire accepts only DPoP-bound tokens with a valid proof.
	ModeRequire Mode = "require"
	// ModeBearer accepts only bearer tokens: a bound token is refused (the
	// resource does not check proofs, so it must not honour one).
	ModeBearer Mode = "bearer"
)

// ParseMode reads a Mode; "" is ModeAllow.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeAllow:
		return ModeAllow, nil
	case ModeRequire, ModeBearer:
		return Mode(s), nil
	}
	return "", fmt.Errorf("dpop mode %q: want allow, require or bearer", s)
}

// More sentinels of Check, each an invalid_token (not a proof problem).
var (
	ErrBoundAsBearer = errors.New("the token is bound to a key (DPoP): present it with the DPoP scheme and a proof")
	ErrNotBound      = errors.New("the token is not bound to a key: this resource requires DPoP-bound tokens")
	ErrNotAccepted   = errors.New("this resource does not accept DPoP-bound tokens")
	ErrReplayed      = fmt.Errorf("%w: the proof was used before", ErrInvalidProof)
)

// Request is what Check needs of one request.
type Request struct {
	Scheme authority.Scheme  // how the token was presented
	Token  string            // the access token
	Claims *authority.Claims // its verified claims
	Proofs []string          // the values of the DPoP header
	Method string
	URL    string // absolute, as the client addressed it (the public URL plus the path)
}

// CheckOptions configure Check. The zero value is ModeAllow, the default
// proof window and algorithms, no nonce.
type CheckOptions struct {
	Mode  Mode
	Nonce string // when set, proofs must carry it (else ErrUseNonce)
	// Cache records accepted proofs' jti; nil means no replay protection,
	// which Check refuses for a proof it would accept (fail closed).
	Cache      ReplayCache
	Algorithms []string
}

// Check applies RFC 9449 §7 to one request whose token is verified: a bound
// token needs the DPoP scheme and a valid proof by its key, bound to this
// method, URL and token, not seen before; a bearer token is refused by
// ModeRequire; a bound token by ModeBearer. It returns the proof accepted,
// or nil for a bearer token. The gateway and the SDK share it.
func Check(ctx context.Context, r Request, o CheckOptions, now time.Time) (*Proof, error) {
	jkt := r.Claims.BoundKey()
	switch {
	case o.Mode == ModeBearer && (jkt != "" || r.Scheme == authority.SchemeDPoP):
		return nil, ErrNotAccepted
	case jkt == "" && o.Mode == ModeRequire:
		return nil, ErrNotBound
	case jkt == "" && r.Scheme == authority.SchemeDPoP:
		return nil, ErrNotBound // RFC 9449 §7.1: the DPoP scheme is for bound tokens
	case jkt == "":
		return nil, nil
	case r.Scheme != authority.SchemeDPoP:
		return nil, ErrBoundAsBearer
	case len(r.Proofs) != 1:
		return nil, fmt.Errorf("%w: exactly one DPoP header is required", ErrInvalidProof)
	case o.Cache == nil:
		return nil, fmt.Errorf("%w: no replay cache configured", ErrInvalidProof)
	}
	p, err := Verify(r.Proofs[0], VerifyOptions{Method: r.Method, URL: r.URL, AccessToken: r.Token, JKT: jkt,
		Nonce: o.Nonce, Algorithms: o.Algorithms}, now)
	if err != nil {
		return nil, err
	}
	fresh, err := o.Cache.Remember(ctx, p.ID, p.IssuedAt.Add(DefaultMaxAge+DefaultSkew))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: the replay cache is unavailable: %v", ErrInvalidProof, err)
	case !fresh:
		return nil, ErrReplayed
	}
	return p, nil
}

// ErrorCode returns the RFC 6750 / RFC 9449 error code for an error of
// Check: use_dpop_nonce, invalid_dpop_proof or invalid_token.
func ErrorCode(err error) string {
	switch {
	case errors.Is(err, ErrUseNonce):
		return "use_dpop_nonce"
	case errors.Is(err, ErrInvalidProof), errors.Is(err, ErrKeyMismatch):
		return "invalid_dpop_proof"
	}
	return "invalid_token"
}

// ErrorText is the client-safe description of an error of Check.
func ErrorText(err error) string {
	switch {
	case errors.Is(err, ErrUseNonce):
		return "a DPoP proof with the server's nonce is required"
	case errors.Is(err, ErrReplayed):
		return "the DPoP proof was used before"
	case errors.Is(err, ErrKeyMismatch):
		return "the DPoP proof is not signed by the key the token is bound to"
	case errors.Is(err, ErrInvalidProof):
		return "the DPoP proof is invalid"
	}
	// The sentinel's own text, never a wrapping caller's prefix ("sdk: …").
	for _, s := range []error{ErrBoundAsBearer, ErrNotBound, ErrNotAccepted} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "the DPoP check failed"
}

// Challenge returns the value of a WWW-Authenticate DPoP challenge (RFC
// 9449 §7.1): the algorithms accepted and, for err, its code and text.
func Challenge(err error, algs []string) string {
	if algs == nil {
		algs = Algorithms
	}
	s := fmt.Sprintf("DPoP algs=%q", strings.Join(algs, " "))
	if err != nil {
		s += fmt.Sprintf(", error=%q, error_description=%q", ErrorCode(err), ErrorText(err))
	}
	return s
}

package authority

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultLeeway is the clock skew allowed on exp, nbf and iat when
// VerifyOptions.Leeway is zero.
const DefaultLeeway = 30 * time.Second

// maxTokenSize bounds the compact token accepted by the verifiers.
const maxTokenSize = 64 << 10

// DefaultAlgorithms are the algorithms accepted when VerifyOptions.Algorithms
// is nil. Read-only: the verifiers use their own copy.
var DefaultAlgorithms = []string{AlgEdDSA, AlgRS256}

// VerifyOptions say what a token must satisfy besides its signature.
type VerifyOptions struct {
	Issuer   string // required by Verify; exact match with iss
	Audience string // required by Verify; compared with each aud after CanonicalResource
	// Leeway is the clock skew allowed on exp, nbf and iat: zero means
	// DefaultLeeway, a negative value means none.
	Leeway time.Duration
	// Algorithms allowed; nil means DefaultAlgorithms. Only AlgEdDSA and
	// AlgRS256 may be listed: "none", HS* and anything else are refused.
	Algorithms []string
	// RequireActor refuses a token without act (ErrMissingActor). The
	// gateway and the SDK set it: every delegation token names its agents.
	RequireActor bool
}

// Verify verifies a delegation token and returns its claims. It checks, in
// order: the compact form, the header (alg in the allow-list, typ "at+jwt",
// no crit, a kid found in ks and not retired at now, of the same alg), the
// signature, then the claims: exp (required) and nbf and iat with leeway,
// iss, aud, act when RequireActor, and the constraints. Errors wrap one of
// the Err* sentinels. Issuer and Audience must be set.
func Verify(token string, ks *KeySet, opts VerifyOptions, now time.Time) (*Claims, error) {
	if opts.Issuer == "" {
		return nil, fmt.Errorf("%w: VerifyOptions.Issuer is required", ErrIssuer)
	}
	if opts.Audience == "" {
		return nil, fmt.Errorf("%w: VerifyOptions.Audience is required", ErrAudience)
	}
	return Inspect(token, ks, opts, now)
}

// Inspect is Verify for offline tools that display a token: an empty
// opts.Issuer or opts.Audience is not checked (iss and aud are reported as
// they are). Everything else is checked as by Verify. Never authorize a
// request with Inspect.
func Inspect(token string, ks *KeySet, opts VerifyOptions, now time.Time) (*Claims, error) {
	payload, err := verifyCompact(token, ks, TokenType, opts.Algorithms, now)
	if err != nil {
		return nil, err
	}
	c := new(Claims)
	if err := c.UnmarshalJSON(payload); err != nil {
		if errors.Is(err, ErrConstraints) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	if err := checkClaims(c, opts, now); err != nil {
		return nil, err
	}
	return c, nil
}

// checkClaims validates the registered claims of a verified token.
func checkClaims(c *Claims, opts VerifyOptions, now time.Time) error {
	leeway := opts.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	switch {
	case c.Subject == "":
		return fmt.Errorf("%w: sub missing", ErrMalformed)
	case c.ExpiresAt.IsZero():
		return fmt.Errorf("%w: exp missing", ErrMalformed)
	case !now.Before(c.ExpiresAt.Add(leeway)):
		return fmt.Errorf("%w: expired at %s", ErrExpired, c.ExpiresAt.Format(time.RFC3339))
	case !c.NotBefore.IsZero() && now.Add(leeway).Before(c.NotBefore):
		return fmt.Errorf("%w: not before %s", ErrNotYetValid, c.NotBefore.Format(time.RFC3339))
	case !c.IssuedAt.IsZero() && now.Add(leeway).Before(c.IssuedAt):
		return fmt.Errorf("%w: issued in the future, at %s", ErrNotYetValid, c.IssuedAt.Format(time.RFC3339))
	case opts.Issuer != "" && c.Issuer != opts.Issuer:
		return fmt.Errorf("%w: %q", ErrIssuer, truncate(c.Issuer, 200))
	}
	if opts.Audience != "" && !audienceMatches(c.Audience, opts.Audience) {
		return fmt.Errorf("%w: %q not in %q", ErrAudience, opts.Audience, c.Audience)
	}
	return checkActor(c.Actor, opts.RequireActor)
}

func audienceMatches(auds []string, want string) bool {
	w, err := CanonicalResource(want)
	if err != nil {
		return false
	}
	for _, a := range auds {
		if ca, err := CanonicalResource(a); err == nil && ca == w {
			return true
		}
	}
	return false
}

// checkActor refuses a missing act when required and any link without sub.
func checkActor(a *Actor, required bool) error {
	if a == nil && required {
		return ErrMissingActor
	}
	for ; a != nil; a = a.Actor {
		if a.Subject == "" {
			return fmt.Errorf("%w: act without sub", ErrMalformed)
		}
	}
	return nil
}

// VerifyJWS verifies a compact JWS signed by SignJWS with the given typ and
// decodes its payload into out. The header rules are those of Verify (alg
// allow-list, kid in ks and not retired at now, no crit). It does not look
// at time claims in the payload: that is the caller's business.
func VerifyJWS(token string, ks *KeySet, typ string, now time.Time, out any) error {
	if typ == "" {
		return fmt.Errorf("%w: empty typ", ErrType)
	}
	payload, err := verifyCompact(token, ks, typ, nil, now)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(payload, out); err != nil {
		return fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	return nil
}

// header is the JOSE header as this package reads it.
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

// verifyCompact checks the header and signature of a compact JWS and
// returns its payload bytes.
func verifyCompact(token string, ks *KeySet, typ string, algs []string, now time.Time) ([]byte, error) {
	if ks == nil {
		return nil, fmt.Errorf("%w: no key set", ErrUnknownKey)
	}
	allowed, err := allowedAlgorithms(algs)
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(token)
	if err != nil {
		return nil, err
	}
	key, err := checkHeader(h, ks, typ, allowed, now)
	if err != nil {
		return nil, err
	}
	return verifySignature(token, key, allowed)
}

func allowedAlgorithms(algs []string) ([]string, error) {
	if algs == nil {
		return []string{AlgEdDSA, AlgRS256}, nil
	}
	for _, a := range algs {
		if a != AlgEdDSA && a != AlgRS256 {
			return nil, fmt.Errorf("%w: %q cannot be allowed", ErrAlgorithm, a)
		}
	}
	return slices.Clone(algs), nil
}

// parseHeader decodes the first segment of a compact JWS, strictly.
func parseHeader(token string) (header, error) {
	if len(token) > maxTokenSize {
		return header{}, fmt.Errorf("%w: token larger than %d bytes", ErrMalformed, maxTokenSize)
	}
	if strings.Count(token, ".") != 2 {
		return header{}, fmt.Errorf("%w: want three dot-separated segments", ErrMalformed)
	}
	seg, _, _ := strings.Cut(token, ".")
	data, err := b64.DecodeString(seg)
	if err != nil {
		return header{}, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	if _, err := decodeObject(data); err != nil {
		return header{}, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	var h header
	if err := json.Unmarshal(data, &h); err != nil {
		return header{}, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	return h, nil
}

// checkHeader applies the header rules and returns the verification key.
func checkHeader(h header, ks *KeySet, typ string, allowed []string, now time.Time) (*Key, error) {
	if !slices.Contains(allowed, h.Alg) {
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, truncate(h.Alg, 40))
	}
	if !sameType(h.Typ, typ) {
		return nil, fmt.Errorf("%w: typ %q, want %q", ErrType, truncate(h.Typ, 40), typ)
	}
	if h.Crit != nil {
		return nil, fmt.Errorf("%w: unsupported critical header parameters %s", ErrMalformed, truncate(string(h.Crit), 100))
	}
	if h.Kid == "" {
		return nil, fmt.Errorf("%w: kid missing", ErrUnknownKey)
	}
	key, ok := ks.Lookup(h.Kid, now)
	if !ok {
		return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, truncate(h.Kid, 100))
	}
	if key.alg != h.Alg {
		return nil, fmt.Errorf("%w: key %q is %s, token says %s", ErrAlgorithm, key.kid, key.alg, h.Alg)
	}
	return key, nil
}

// sameType compares JOSE typ values as media types: case-insensitive, with
// an optional "application/" prefix (RFC 7515 §4.1.9).
func sameType(got, want string) bool {
	got = strings.ToLower(got)
	return got == strings.ToLower(want) || got == "application/"+strings.ToLower(want)
}

func isTokenType(typ string) bool { return sameType(typ, TokenType) }

// verifySignature runs golang-jwt with the algorithm allow-list and strict
// base64, returning the raw payload.
func verifySignature(token string, key *Key, allowed []string) ([]byte, error) {
	p := jwt.NewParser(jwt.WithValidMethods(allowed), jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding())
	var payload jwsPayload
	_, err := p.ParseWithClaims(token, &payload, func(*jwt.Token) (any, error) { return key.public, nil })
	switch {
	case err == nil:
		return payload.raw, nil
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
}

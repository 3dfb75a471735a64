package authority

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// TokenType is the JOSE "typ" of a delegation token (RFC 9068).
const TokenType = "at+jwt"

// Sign signs c as a delegation token with k. The header carries alg, kid
// and typ "at+jwt". The signed claims are a normalized copy of c: audiences
// canonical, constraints normalized. iss, sub, exp and at least one aud are
// required; scopes must be non-empty and free of spaces.
func Sign(k *Key, c *Claims) (string, error) {
	if c == nil {
		return "", errors.New("authority: sign: nil claims")
	}
	out, err := prepareClaims(*c)
	if err != nil {
		return "", fmt.Errorf("authority: sign: %w", err)
	}
	return signCompact(k, TokenType, out)
}

// prepareClaims validates c and returns its canonical form.
func prepareClaims(c Claims) (Claims, error) {
	switch {
	case c.Issuer == "":
		return Claims{}, errors.New("iss is required")
	case c.Subject == "":
		return Claims{}, errors.New("sub is required")
	case c.ExpiresAt.IsZero():
		return Claims{}, errors.New("exp is required")
	case len(c.Audience) == 0:
		return Claims{}, errors.New("aud is required")
	}
	aud, err := canonicalAudiences(c.Audience)
	if err != nil {
		return Claims{}, err
	}
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return Claims{}, fmt.Errorf("scope %q is empty or contains spaces", s)
		}
	}
	if c.Constraints, err = c.Constraints.Normalize(); err != nil {
		return Claims{}, err
	}
	c.Audience = aud
	return c, nil
}

// canonicalAudiences applies CanonicalResource to each audience and drops
// duplicates, keeping order.
func canonicalAudiences(in []string) ([]string, error) {
	var out []string
	for _, a := range in {
		ca, err := CanonicalResource(a)
		if err != nil {
			return nil, fmt.Errorf("aud: %w", err)
		}
		if !slices.Contains(out, ca) {
			out = append(out, ca)
		}
	}
	return out, nil
}

// SignJWS signs payload, marshaled with encoding/json, as a compact JWS with
// the given typ (required): for signed documents that are not access
// tokens, such as the revocation feed and audit anchors. typ "at+jwt" is
// refused: access tokens go through Sign and its checks.
func SignJWS(k *Key, typ string, payload any) (string, error) {
	if typ == "" || isTokenType(typ) {
		return "", fmt.Errorf("authority: SignJWS: typ %q not allowed", typ)
	}
	return signCompact(k, typ, payload)
}

// signCompact signs payload with golang-jwt: header {alg, kid, typ}.
func signCompact(k *Key, typ string, payload any) (string, error) {
	if k == nil || !k.CanSign() {
		return "", errors.New("authority: sign: not a signing key")
	}
	method := signingMethod(k.alg)
	if method == nil {
		return "", fmt.Errorf("authority: sign: unsupported algorithm %q", k.alg)
	}
	tok := jwt.NewWithClaims(method, &jwsPayload{value: payload})
	tok.Header["kid"] = k.kid
	tok.Header["typ"] = typ
	return tok.SignedString(k.signer)
}

func signingMethod(alg string) jwt.SigningMethod {
	switch alg {
	case AlgEdDSA:
		return jwt.SigningMethodEdDSA
	case AlgRS256:
		return jwt.SigningMethodRS256
	}
	return nil
}

// jwsPayload adapts any JSON payload to jwt.Claims. It marshals value when
// signing and keeps the raw bytes when parsing, so that the claims are
// decoded by this package (strictly) only after the signature checks out.
// Its registered-claim getters return nothing: validation is done here.
type jwsPayload struct {
	value any
	raw   []byte
}

var _ jwt.Claims = (*jwsPayload)(nil)

func (p *jwsPayload) MarshalJSON() ([]byte, error) { return json.Marshal(p.value) }

func (p *jwsPayload) UnmarshalJSON(data []byte) error {
	p.raw = append([]byte(nil), data...)
	return nil
}

func (p *jwsPayload) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (p *jwsPayload) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (p *jwsPayload) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (p *jwsPayload) GetIssuer() (string, error)                   { return "", nil }
func (p *jwsPayload) GetSubject() (string, error)                  { return "", nil }
func (p *jwsPayload) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

package authority

import "strings"

// BearerToken extracts an RFC 6750 bearer token from the values of an
// Authorization header: exactly one value, scheme "Bearer" in any case, a
// non-empty token. Gateway and SDK share it so they accept the same requests.
func BearerToken(authorization []string) (string, bool) {
	if len(authorization) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(authorization[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// Scheme is the authorization scheme an access token was presented with.
type Scheme string

const (
	SchemeBearer Scheme = "Bearer" // RFC 6750
	SchemeDPoP   Scheme = "DPoP"   // RFC 9449: the token is sender-constrained, a proof travels in the DPoP header
)

// AccessToken extracts an access token from the values of an Authorization
// header: exactly one value, scheme "Bearer" or "DPoP" in any case, a
// non-empty token. Gateway and SDK share it.
func AccessToken(authorization []string) (Scheme, string, bool) {
	if len(authorization) != 1 {
		return "", "", false
	}
	scheme, tok, ok := strings.Cut(authorization[0], " ")
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" {
		return "", "", false
	}
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return SchemeBearer, tok, true
	case strings.EqualFold(scheme, "DPoP"):
		return SchemeDPoP, tok, true
	}
	return "", "", false
}

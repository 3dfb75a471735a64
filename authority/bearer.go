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

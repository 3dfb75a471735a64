package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"net/http"
	"slices"
	"strings"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/issuer/store"
)

// OpenID Connect scopes. They ask for identity, not for tools: they are
// split from the tool scopes of a request, and "openid" adds an ID token to
// the token response of the authorization code grant.
const (
	ScopeOpenID  = "openid"
	ScopeEmail   = "email"
	ScopeProfile = "profile"
)

var oidcScopes = []string{ScopeOpenID, ScopeEmail, ScopeProfile}

// UserinfoPath is the OpenID Connect UserInfo endpoint.
const UserinfoPath = "/oauth2/userinfo"

// RoleAdmin is the role of users who may see and revoke every delegation.
const RoleAdmin = "admin"

// splitOIDCScopes separates the OpenID Connect scopes of a scope parameter
// from the others. oidc is empty unless "openid" is among them (email and
// profile mean nothing without it).
func splitOIDCScopes(scope string) (oidc []string, rest string) {
	var others []string
	for _, sc := range strings.Fields(scope) {
		if slices.Contains(oidcScopes, sc) {
			if !slices.Contains(oidc, sc) {
				oidc = append(oidc, sc)
			}
			continue
		}
		others = append(others, sc)
	}
	if !slices.Contains(oidc, ScopeOpenID) {
		oidc = nil
	}
	slices.Sort(oidc)
	return oidc, strings.Join(others, " ")
}

// idTokenClaims are the claims of an ID token (OpenID Connect Core §2).
type idTokenClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	AZP       string   `json:"azp"`
	ExpiresAt int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	Nonce     string   `json:"nonce,omitempty"`
	AtHash    string   `json:"at_hash,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	userClaims
}

// userClaims are what the ID token and the UserInfo endpoint say about the
// user, by scope: email → email, email_verified; profile → name,
// preferred_username; roles always.
type userClaims struct {
	Email             string   `json:"email,omitempty"`
	EmailVerified     *bool    `json:"email_verified,omitempty"`
	Name              string   `json:"name,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Roles             []string `json:"roles,omitempty"`
}

// claimsFor reads user name from the store and returns the claims the
// scopes allow. An e-mail is set by an administrator or taken from an
// upstream provider that verified it, so it is reported verified.
func (s *Server) claimsFor(ctx context.Context, name string, scopes []string) (userClaims, error) {
	u, err := s.opts.Store.GetUser(ctx, name)
	if err != nil {
		return userClaims{}, err
	}
	var c userClaims
	if slices.Contains(scopes, ScopeEmail) && u.Email != "" {
		verified := true
		c.Email, c.EmailVerified = u.Email, &verified
	}
	if slices.Contains(scopes, ScopeProfile) {
		c.Name, c.PreferredUsername = u.Name, u.Name
	}
	if u.Admin {
		c.Roles = []string{RoleAdmin}
	}
	return c, nil
}

// tokenHashHalf is the at_hash of OpenID Connect Core §3.1.3.6: the left
// half of the access token's hash under the hash of the ID token's alg
// (SHA-256 for RS256, SHA-512 for EdDSA, as go-oidc and the OpenID errata).
func tokenHashHalf(alg, accessToken string) string {
	var h hash.Hash
	switch alg {
	case authority.AlgEdDSA:
		h = sha512.New()
	default:
		h = sha256.New()
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// idToken signs the ID token for code ac redeemed by client c, bound to
// accessToken by at_hash.
func (s *Server) idToken(ctx context.Context, c *client, ac *store.AuthCode, accessToken string) (string, error) {
	scopes := strings.Fields(ac.OIDCScopes)
	uc, err := s.claimsFor(ctx, ac.User, scopes)
	if err != nil {
		return "", err
	}
	key, err := s.opts.Keys.Signer()
	if err != nil {
		return "", err
	}
	now := s.now()
	claims := idTokenClaims{Issuer: s.opts.Issuer, Subject: ac.User, Audience: []string{c.ID}, AZP: c.ID,
		ExpiresAt: now.Add(s.opts.AccessTokenTTL).Unix(), IssuedAt: now.Unix(), Nonce: ac.Nonce,
		AtHash: tokenHashHalf(key.Algorithm(), accessToken), userClaims: uc}
	if !ac.AuthTime.IsZero() {
		claims.AuthTime = ac.AuthTime.Unix()
	}
	return authority.SignJWS(key, "JWT", claims)
}

// issueSignIn answers a sign-in only code (openid without a resource): an
// ID token and an access token for the UserInfo endpoint. That access
// token's audience is the issuer and it has no act: it is not a delegation,
// and the gateway refuses it.
func (s *Server) issueSignIn(ctx context.Context, c *client, ac *store.AuthCode) (*tokenResponse, error) {
	now := s.now()
	scopes := strings.Fields(ac.OIDCScopes)
	claims := &authority.Claims{Issuer: s.opts.Issuer, Subject: ac.User, Audience: []string{s.opts.Issuer},
		ExpiresAt: now.Add(s.opts.AccessTokenTTL), IssuedAt: now, ID: "at_" + authority.NewID(), ClientID: c.ID,
		Scopes: scopes}
	resp := &tokenResponse{}
	if err := s.sign(ctx, claims, "openid sign-in", resp); err != nil {
		return nil, err
	}
	resp.AuthorizationDetails = nil
	var err error
	if resp.IDToken, err = s.idToken(ctx, c, ac, resp.AccessToken); err != nil {
		return nil, err
	}
	return resp, nil
}

// userinfo is the OpenID Connect UserInfo endpoint (GET or POST with a
// bearer token): the claims about the token's user its scopes allow. The
// token must be one of this issuer's, unrevoked, with the openid scope.
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	tok, ok := bearerToken(r)
	claims, err := s.verifyAny(tok)
	if !ok || err != nil || !slices.Contains(claims.Scopes, ScopeOpenID) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token",
			"error_description": "a valid access token with the openid scope is required"})
		return
	}
	if _, revoked := s.opts.Store.Revocations().Revoked(claims); revoked {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "the token was revoked"})
		return
	}
	uc, err := s.claimsFor(r.Context(), claims.Subject, claims.Scopes)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Subject string `json:"sub"`
		userClaims
	}{claims.Subject, uc})
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:]), true
	}
	return "", false
}

// verifyAny verifies an access token of this issuer whose audience is the
// issuer (a sign-in token) or one of the registry's resources.
func (s *Server) verifyAny(tok string) (*authority.Claims, error) {
	aud, err := peekAudience(tok)
	if err != nil {
		return nil, err
	}
	known := []string{s.opts.Issuer}
	for _, up := range s.opts.Registry().Upstreams() {
		known = append(known, up.InboundAudience)
	}
	for _, a := range aud {
		if slices.Contains(known, a) {
			return authority.Verify(tok, s.opts.Keys, authority.VerifyOptions{Issuer: s.opts.Issuer, Audience: a}, s.now())
		}
	}
	return nil, errors.New("oauth: token for an unknown audience")
}

// peekAudience reads aud from a JWT without verifying it: only to choose the
// audience to verify it against.
func peekAudience(tok string) ([]string, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("oauth: not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var c struct {
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, err
	}
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	err = json.Unmarshal(c.Aud, &many)
	return many, err
}

// OpenIDConfiguration is the OpenID Connect Discovery 1.0 document: the
// RFC 8414 metadata plus the OpenID Provider fields.
type OpenIDConfiguration struct {
	Metadata
	UserinfoEndpoint                 string   `json:"userinfo_endpoint"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	ClaimsSupported                  []string `json:"claims_supported"`
	ClaimsParameterSupported         bool     `json:"claims_parameter_supported"`
	RequestParameterSupported        bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported     bool     `json:"request_uri_parameter_supported"`
}

// OpenIDConfiguration returns the discovery document. The ID token's
// algorithm is the signing key's (EdDSA by default, RS256 with an RSA key).
func (s *Server) OpenIDConfiguration() OpenIDConfiguration {
	algs := []string{authority.AlgEdDSA}
	if k, err := s.opts.Keys.Signer(); err == nil {
		algs = []string{k.Algorithm()}
	}
	return OpenIDConfiguration{Metadata: s.Metadata(), UserinfoEndpoint: s.endpoint(UserinfoPath),
		IDTokenSigningAlgValuesSupported: algs, SubjectTypesSupported: []string{"public"},
		ClaimsSupported: []string{"iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "at_hash", "amr",
			"email", "email_verified", "name", "preferred_username", "roles"}}
}

// recordLogin audits a sign-in through an upstream provider or a second
// factor (kind login).
func (s *Server) recordLogin(ctx context.Context, user, how string) error {
	return s.record(ctx, audit.Event{Kind: KindLogin, User: user, Decision: "login", Reason: how})
}

package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/store"
)

// tokenResponse is RFC 6749 §5.1, with RFC 8693 issued_token_type and the
// RFC 9396 authorization_details the token carries.
type tokenResponse struct {
	AccessToken          string                  `json:"access_token"`
	TokenType            string                  `json:"token_type"`
	ExpiresIn            int64                   `json:"expires_in"`
	Scope                string                  `json:"scope,omitempty"`
	RefreshToken         string                  `json:"refresh_token,omitempty"`
	IssuedTokenType      string                  `json:"issued_token_type,omitempty"`
	IDToken              string                  `json:"id_token,omitempty"`
	AuthorizationDetails []authority.Constraints `json:"authorization_details,omitempty"`
}

// readForm parses a form POST body (RFC 6749 §3.2: form-encoded, each
// parameter at most once).
func readForm(w http.ResponseWriter, r *http.Request) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return oauthErr(CodeInvalidRequest, "the request body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return oauthErr(CodeInvalidRequest, "the request body could not be parsed")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 && k != "resource" && k != "audience" {
			return oauthErr(CodeInvalidRequest, "parameter "+k+" is repeated")
		}
	}
	return nil
}

// token is the token endpoint.
func (s *Server) token(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	c, err := s.authenticateClient(r)
	if err != nil {
		return err
	}
	grant := r.PostForm.Get("grant_type")
	if !slices.Contains([]string{GrantAuthorizationCode, GrantRefreshToken, GrantTokenExchange, GrantClientCredentials}, grant) {
		return oauthErr(CodeUnsupportedGrantType, "grant_type must be authorization_code, refresh_token, client_credentials or "+GrantTokenExchange)
	}
	if !c.allows(grant) {
		return oauthErr(CodeUnauthorizedClient, "the client is not registered for the "+grant+" grant")
	}
	proof, err := s.tokenProof(r.Context(), w, r)
	if err != nil {
		return err
	}
	var jkt string // the key the tokens are bound to (RFC 9449 §5); "": bearer
	if proof != nil {
		jkt = proof.JKT
	}
	var resp *tokenResponse
	switch grant {
	case GrantAuthorizationCode:
		resp, err = s.grantCode(r.Context(), c, r.PostForm, jkt)
	case GrantRefreshToken:
		resp, err = s.grantRefresh(r.Context(), c, r.PostForm, jkt)
	case GrantClientCredentials:
		resp, err = s.grantClientCredentials(r.Context(), c, r.PostForm, jkt)
	default:
		resp, err = s.grantExchange(r.Context(), c, r.PostForm, jkt)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// pkceVerifier is RFC 7636 §4.1: 43 to 128 unreserved characters.
var pkceVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

func checkPKCE(verifier, challenge string) bool {
	if !pkceVerifier.MatchString(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return equalSecret(base64.RawURLEncoding.EncodeToString(sum[:]), challenge)
}

// grantCode redeems an authorization code. A code presented twice revokes
// the delegation it was issued for, and with it every token minted from it
// (RFC 9700 §4.2.4, OAuth 2.1 §4.1.3). With jkt the access token (and a
// public client's refresh token) is bound to that DPoP key; a sign-in
// token (for userinfo only) stays a bearer token.
func (s *Server) grantCode(ctx context.Context, c *client, form url.Values, jkt string) (*tokenResponse, error) {
	now := s.now()
	ac, err := s.opts.Store.RedeemAuthCode(ctx, hashSecret(form.Get("code")), now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, oauthErr(CodeInvalidGrant, "the authorization code is not valid")
	case errors.Is(err, store.ErrCodeUsed):
		if err := s.revokeGrant(ctx, ac.DelegationID, "authorization code replayed"); err != nil {
			return nil, err
		}
		return nil, oauthErr(CodeInvalidGrant, "the authorization code was already used: the tokens issued from it are revoked")
	case err != nil:
		return nil, err
	}
	switch {
	case ac.ClientID != c.ID:
		return nil, oauthErr(CodeInvalidGrant, "the authorization code was issued to another client")
	case !now.Before(ac.ExpiresAt):
		return nil, oauthErr(CodeInvalidGrant, "the authorization code has expired")
	case form.Get("redirect_uri") != ac.RedirectURI:
		return nil, oauthErr(CodeInvalidGrant, "redirect_uri does not match the authorization request")
	case !checkPKCE(form.Get("code_verifier"), ac.Challenge):
		return nil, oauthErr(CodeInvalidGrant, "the code_verifier does not match the code_challenge (PKCE)")
	}
	if ac.DelegationID == "" {
		return s.issueSignIn(ctx, c, ac)
	}
	if err := checkResource(form, ac.Resource); err != nil {
		return nil, err
	}
	g, err := s.opts.Store.GetGrant(ctx, ac.DelegationID)
	if err != nil {
		return nil, err
	}
	resp, err := s.issue(ctx, c, g, g.Scopes, GrantAuthorizationCode, "", jkt)
	if err != nil || ac.OIDCScopes == "" {
		return resp, err
	}
	if resp.IDToken, err = s.idToken(ctx, c, ac, resp.AccessToken); err != nil {
		return nil, err
	}
	return resp, nil
}

// checkResource accepts a resource parameter only when it names the
// grant's resource.
func checkResource(form url.Values, granted string) error {
	for _, r := range form["resource"] {
		canon, err := authority.CanonicalResource(r)
		if err != nil || canon != granted {
			return oauthErr(CodeInvalidTarget, "this grant is for "+granted+" only")
		}
	}
	return nil
}

// grantRefresh rotates a refresh token. A refresh token presented after it
// was rotated revokes its family and the delegation. A refresh token bound
// to a DPoP key is exchanged only with a proof by that key (jkt): without
// it, it is refused before rotation, so a thief can neither use nor burn it.
func (s *Server) grantRefresh(ctx context.Context, c *client, form url.Values, jkt string) (*tokenResponse, error) {
	h := hashSecret(form.Get("refresh_token"))
	old, err := s.opts.Store.GetRefreshToken(ctx, h)
	if errors.Is(err, store.ErrNotFound) || (err == nil && old.ClientID != c.ID) {
		return nil, oauthErr(CodeInvalidGrant, "the refresh token is not valid")
	}
	if err != nil {
		return nil, err
	}
	if bound := refreshKey(form.Get("refresh_token")); bound != "" && bound != jkt {
		return nil, oauthErr(CodeInvalidGrant, "the refresh token is bound to a DPoP key: present a DPoP proof signed by that key")
	}
	g, err := s.opts.Store.GetGrant(ctx, old.DelegationID)
	if err != nil {
		return nil, err
	}
	if err := checkResource(form, g.Resource); err != nil {
		return nil, err
	}
	scopes := g.Scopes
	if sc := form.Get("scope"); sc != "" {
		if scopes, err = narrowScopes(g.Scopes, sc); err != nil {
			return nil, err
		}
	}
	return s.issue(ctx, c, g, scopes, GrantRefreshToken, h, jkt)
}

// narrowScopes returns the requested scopes, each of which must be granted.
func narrowScopes(granted []string, requested string) ([]string, error) {
	var out []string
	for _, sc := range strings.Fields(requested) {
		if sc == ScopeOfflineAccess {
			continue
		}
		if !slices.Contains(granted, sc) {
			return nil, oauthErr(CodeInvalidScope, "scope "+sc+" was not granted")
		}
		out = append(out, sc)
	}
	return out, nil
}

// issue mints an access token from grant g for client c (and a refresh
// token when c may refresh). rotate is the hash of the refresh token being
// exchanged, rotated only once the grant is known usable. jkt binds the
// access token, and a public client's refresh token, to a DPoP key (a
// confidential client's refresh token is bound to its authentication).
func (s *Server) issue(ctx context.Context, c *client, g *store.Grant, scopes []string, how, rotate, jkt string) (*tokenResponse, error) {
	now := s.now()
	claims := s.grantClaims(g, scopes, now)
	if jkt != "" {
		claims.Confirmation = &authority.Confirmation{JKT: jkt}
	}
	if err := s.admit(ctx, g, claims, now); err != nil {
		return nil, err
	}
	resp := &tokenResponse{}
	if c.allows(GrantRefreshToken) && g.ParentID == "" {
		resp.RefreshToken = authority.NewSecret()
		if c.public() {
			resp.RefreshToken = newRefreshToken(resp.RefreshToken, jkt)
		}
		next := store.RefreshToken{Hash: hashSecret(resp.RefreshToken), DelegationID: g.DelegationID,
			ClientID: c.ID, CreatedAt: now, ExpiresAt: g.ExpiresAt}
		if err := s.storeRefresh(ctx, rotate, next, now); err != nil {
			return nil, err
		}
	} else if rotate != "" {
		return nil, oauthErr(CodeUnauthorizedClient, "the client is not registered for the refresh_token grant")
	}
	if err := s.sign(ctx, claims, how, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// storeRefresh stores next, rotating the token rotate when set.
func (s *Server) storeRefresh(ctx context.Context, rotate string, next store.RefreshToken, now time.Time) error {
	if rotate == "" {
		return s.opts.Store.CreateRefreshToken(ctx, next)
	}
	old, err := s.opts.Store.RotateRefreshToken(ctx, rotate, next, now)
	switch {
	case errors.Is(err, store.ErrRefreshReused):
		if err := s.revokeGrant(ctx, old.DelegationID, "refresh token reused"); err != nil {
			return err
		}
		return oauthErr(CodeInvalidGrant, "the refresh token was already used: every token of this grant is revoked")
	case errors.Is(err, store.ErrNotFound):
		return oauthErr(CodeInvalidGrant, "the refresh token has expired or was revoked")
	}
	return err
}

// grantClaims are the claims of an access token minted from g.
func (s *Server) grantClaims(g *store.Grant, scopes []string, now time.Time) *authority.Claims {
	exp := now.Add(s.opts.AccessTokenTTL)
	if g.ExpiresAt.Before(exp) {
		exp = g.ExpiresAt
	}
	act := authority.NewActor(g.Agents...)
	if act != nil {
		act.ClientID = g.ClientID
	}
	return &authority.Claims{Issuer: s.opts.Issuer, Subject: g.User, Audience: []string{g.Resource},
		ExpiresAt: exp, IssuedAt: now, ID: "at_" + authority.NewID(), ClientID: g.ClientID, Scopes: slices.Clone(scopes),
		Actor: act, DelegationID: g.DelegationID, ParentID: g.ParentID, Constraints: g.Constraints}
}

// admit checks that a token may be minted from g now: not revoked (in the
// store or the revocation set, which also covers the user and the agents),
// not expired, and under the hourly mint cap.
func (s *Server) admit(ctx context.Context, g *store.Grant, claims *authority.Claims, now time.Time) error {
	if g.RevokedVersion != 0 {
		return oauthErr(CodeInvalidGrant, "the delegation has been revoked")
	}
	if why, revoked := s.opts.Store.Revocations().Revoked(claims); revoked {
		return oauthErr(CodeInvalidGrant, "the delegation has been revoked ("+why+")")
	}
	if !now.Before(g.ExpiresAt) {
		return oauthErr(CodeInvalidGrant, "the delegation has expired")
	}
	limit := max(s.opts.MintsPerHour, 0)
	if err := s.opts.Store.RecordMint(ctx, g.DelegationID, now, limit); errors.Is(err, store.ErrMintLimit) {
		return oauthErr(CodeInvalidGrant, "the delegation reached its limit of tokens per hour; try again later")
	} else if err != nil {
		return err
	}
	return nil
}

// sign signs claims with the current key into resp and audits the mint.
func (s *Server) sign(ctx context.Context, claims *authority.Claims, how string, resp *tokenResponse) error {
	key, err := s.opts.Keys.Signer()
	if err != nil {
		return err
	}
	tok, err := authority.Sign(key, claims)
	if err != nil {
		return err
	}
	if err := s.record(ctx, audit.Event{Kind: audit.KindMint, User: claims.Subject, Agents: claims.Chain(),
		Client: claims.ClientID, Upstream: s.slugOf(claims.Audience), Decision: "mint", Reason: how,
		TokenID: claims.ID}); err != nil {
		return err
	}
	resp.AccessToken, resp.TokenType = tok, TokenTypeBearer
	if claims.BoundKey() != "" {
		resp.TokenType = TokenTypeDPoP
	}
	resp.ExpiresIn = int64(claims.ExpiresAt.Sub(claims.IssuedAt).Seconds())
	resp.Scope = strings.Join(claims.Scopes, " ")
	resp.AuthorizationDetails = []authority.Constraints{claims.Constraints}
	return nil
}

// slugOf names the upstream of an audience, for the audit log.
func (s *Server) slugOf(aud []string) string {
	for _, up := range s.opts.Registry().Upstreams() {
		if slices.Contains(aud, up.InboundAudience) {
			return up.Slug
		}
	}
	return ""
}

// revokeGrant revokes delegation id and its sub-tree (through the store, so
// the gateway's revocation set and kill path see it) and its refresh tokens.
func (s *Server) revokeGrant(ctx context.Context, id, reason string) error {
	ctx = context.WithoutCancel(ctx)
	if _, err := s.opts.Store.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindDelegation, Value: id, Reason: reason}); err != nil {
		return err
	}
	_, err := s.opts.Store.RevokeRefreshFamily(ctx, id, s.now())
	return err
}

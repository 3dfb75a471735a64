package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/store"
)

// TrustedIssuer is another issuer whose delegation tokens this server takes
// as the subject_token of a token exchange: a Legant gateway in front of an
// MCP server this server protects (registry auth kind exchange) trades a
// token it minted for this server for an access token of that MCP server.
//
// The trust is narrow and explicit: a subject token of Issuer is accepted
// only when signed by one of Keys with an algorithm of Algorithms, when its
// aud names this server's issuer (a token minted for another audience —
// the gateway's own resources, another server — is refused), when it is
// unexpired, not bound to a key, and presented by one of Clients. Its user
// (sub) is taken as the same user here. What the new token grants is
// attenuated from the subject token: its scopes, constraints and expiry are
// at most the subject token's, and its act chain grows by the client.
type TrustedIssuer struct {
	// Issuer is the exact iss of the tokens trusted.
	Issuer string
	// Keys are the issuer's published verification keys (its JWKS).
	Keys *authority.KeySet
	// Algorithms allowed; nil means authority.DefaultAlgorithms.
	Algorithms []string
	// Clients are the ids of the confidential clients (the gateway's
	// registration here) that may present this issuer's tokens; required.
	Clients []string
}

// Validate reports what is wrong with t, if anything.
func (t TrustedIssuer) Validate() error {
	u, err := url.Parse(t.Issuer)
	if t.Issuer == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("oauth: trusted issuer %q must be an http(s) URL", t.Issuer)
	}
	if t.Keys == nil || len(t.Clients) == 0 {
		return fmt.Errorf("oauth: trusted issuer %s needs Keys and at least one client", t.Issuer)
	}
	for _, a := range t.Algorithms {
		if a != authority.AlgEdDSA && a != authority.AlgRS256 {
			return fmt.Errorf("oauth: trusted issuer %s: algorithm %q is not allowed", t.Issuer, a)
		}
	}
	return nil
}

// unverifiedIssuer reads the iss of a JWT without verifying it: only to
// choose which issuer's keys verify it.
func unverifiedIssuer(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	return c.Iss
}

// trustedIssuer returns the trusted issuer named iss, if any.
func (s *Server) trustedIssuer(iss string) (TrustedIssuer, bool) {
	if iss == "" || iss == s.opts.Issuer {
		return TrustedIssuer{}, false
	}
	for _, t := range s.opts.TrustedSubjectIssuers {
		if t.Issuer == iss {
			return t, true
		}
	}
	return TrustedIssuer{}, false
}

// grantTrustedExchange is token exchange with a subject token of a trusted
// issuer (see TrustedIssuer). The new token is a root delegation of this
// server for resource.
func (s *Server) grantTrustedExchange(ctx context.Context, c *client, form url.Values, jkt, resource string, t TrustedIssuer) (*tokenResponse, error) {
	if !slices.Contains(t.Clients, c.ID) {
		return nil, oauthErr(CodeUnauthorizedClient, "this client may not exchange tokens of "+t.Issuer)
	}
	now := s.now()
	parent, err := authority.Verify(form.Get("subject_token"), t.Keys, authority.VerifyOptions{
		Issuer: t.Issuer, Audience: s.opts.Issuer, Algorithms: t.Algorithms, RequireActor: true}, now)
	switch {
	case errors.Is(err, authority.ErrAudience):
		return nil, oauthErr(CodeInvalidGrant, "the subject_token is not for this authorization server (aud)")
	case errors.Is(err, authority.ErrExpired):
		return nil, oauthErr(CodeInvalidGrant, "the subject_token has expired")
	case err != nil:
		return nil, oauthErr(CodeInvalidGrant, "the subject_token is not a valid delegation token of "+t.Issuer)
	case parent.BoundKey() != "":
		return nil, oauthErr(CodeInvalidGrant, "a subject_token of a trusted issuer must not be bound to a key")
	case parent.DelegationID == "":
		return nil, oauthErr(CodeInvalidGrant, "the subject_token names no delegation")
	}
	if why, revoked := s.opts.Store.Revocations().Revoked(parent); revoked {
		return nil, oauthErr(CodeInvalidGrant, "the subject_token has been revoked ("+why+")")
	}
	req, err := exchangeRequest(form, c, resource, now)
	if err != nil {
		return nil, err
	}
	req.KeyThumbprint = jkt
	// The subject token is rebased on this server as a root: same user,
	// chain, scopes, limits and expiry; its audience is the resource asked
	// for (its own aud was this server, checked above).
	rebased := *parent
	rebased.Issuer, rebased.Audience, rebased.DelegationID, rebased.ParentID = s.opts.Issuer, []string{resource}, "", ""
	child, err := authority.Attenuate(&rebased, req, authority.AttenuateOptions{Strict: true})
	if err != nil {
		return nil, attenuationError(err)
	}
	// Each exchange is a root delegation here (the trusted issuer's
	// delegation is not stored on this server): listed on the user's
	// account page, revocable, and audited as a mint.
	if err := s.opts.Store.CreateGrant(ctx, store.Grant{DelegationID: child.DelegationID, User: child.Subject,
		Agents: child.Chain(), ClientID: c.ID, Resource: resource, Scopes: child.Scopes,
		Constraints: child.Constraints, CreatedAt: now, ExpiresAt: child.ExpiresAt}); err != nil {
		return nil, err
	}
	resp := &tokenResponse{IssuedTokenType: TokenTypeAccessToken}
	return resp, s.sign(ctx, child, GrantTokenExchange, resp)
}

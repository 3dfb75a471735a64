package oauth

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/openlegant/legant/authority"
)

// grantClientCredentials issues a token to an agent acting for itself
// (RFC 6749 §4.4): sub and client_id are the client, there is no act and no
// delegation. Such a token is not a delegation token: the gateway, which
// requires act (a user and the agents acting for them), refuses it. It is
// for resource servers that accept an agent's own identity (SDK verification
// without RequireActor), for one resource and within the scopes the client
// registered (a client that registered no scope gets none of the tools).
// With jkt it is bound to that DPoP key.
func (s *Server) grantClientCredentials(ctx context.Context, c *client, form url.Values, jkt string) (*tokenResponse, error) {
	if c.public() {
		return nil, oauthErr(CodeUnauthorizedClient, "client_credentials requires a confidential client")
	}
	if len(form["resource"]) != 1 {
		return nil, oauthErr(CodeInvalidTarget, "client_credentials needs exactly one resource")
	}
	up, err := lookupResource(s.opts.Registry(), form.Get("resource"))
	if err != nil {
		return nil, err
	}
	allowed := strings.Fields(c.Scope)
	requested := strings.Fields(form.Get("scope"))
	if len(requested) == 0 {
		requested = allowed
	}
	var scopes []string
	for _, sc := range requested {
		if !slices.Contains(allowed, sc) || !slices.Contains(up.Scopes(), sc) {
			return nil, oauthErr(CodeInvalidScope, "scope "+sc+" is not registered for this client on "+up.Slug)
		}
		scopes = append(scopes, sc)
	}
	if len(scopes) == 0 {
		return nil, oauthErr(CodeInvalidScope, "the client registered no scope of "+up.Slug)
	}
	now := s.now()
	claims := &authority.Claims{Issuer: s.opts.Issuer, Subject: c.ID, Audience: []string{up.InboundAudience},
		ExpiresAt: now.Add(s.opts.AccessTokenTTL), IssuedAt: now, ID: "at_" + authority.NewID(), ClientID: c.ID, Scopes: scopes}
	if jkt != "" {
		claims.Confirmation = &authority.Confirmation{JKT: jkt}
	}
	resp := &tokenResponse{}
	if err := s.sign(ctx, claims, GrantClientCredentials, resp); err != nil {
		return nil, err
	}
	resp.AuthorizationDetails = nil
	return resp, nil
}

package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/store"
)

// grantExchange is RFC 8693 token exchange for delegation: the subject
// token is a delegation token of this issuer (the user's grant to an agent,
// or a token already derived from it); the authenticated client is the new
// actor; resource, scope and an RFC 9396 authorization_details entry of type
// legant_delegation say what the new token may do. The result is attenuated
// (authority.Attenuate, strict): the act chain grows by the client, and a
// request for anything the subject token does not grant is refused —
// invalid_target for a resource, invalid_scope for a scope,
// invalid_authorization_details for a constraint — naming what was refused.
//
// DPoP (RFC 9449): with a proof (jkt, the new actor's key) the child token
// is bound to that key, and the act hop of the new actor records it. A
// subject token bound to a key is a token its holder may use only with a
// proof, so it is exchanged only (a) with a DPoP proof — its child must be
// bound too, to the new actor's own key — and (b) with a proof by the
// subject token's key in the subject_token_dpop parameter: a DPoP proof for
// this token endpoint (htm POST, htu the token endpoint) whose ath is the
// hash of the subject token. The holder of the subject token makes it and
// hands it to the sub-agent with the token; it lives a minute and is
// accepted once. A stolen bound token therefore cannot be exchanged for a
// token bound to the thief's key.
func (s *Server) grantExchange(ctx context.Context, c *client, form url.Values, jkt string) (*tokenResponse, error) {
	if c.public() {
		return nil, oauthErr(CodeUnauthorizedClient, "token exchange requires a confidential client: the client becomes an actor of the delegation chain")
	}
	resource, err := s.exchangeParams(form)
	if err != nil {
		return nil, err
	}
	if t, ok := s.trustedIssuer(unverifiedIssuer(form.Get("subject_token"))); ok {
		return s.grantTrustedExchange(ctx, c, form, jkt, resource, t) // exchange_trusted.go
	}
	now := s.now()
	parent, err := authority.Verify(form.Get("subject_token"), s.opts.Keys, authority.VerifyOptions{
		Issuer: s.opts.Issuer, Audience: resource, RequireActor: true}, now)
	if errors.Is(err, authority.ErrAudience) {
		return nil, oauthErr(CodeInvalidTarget, "refused: the subject_token does not grant the resource "+resource)
	}
	if err != nil {
		return nil, oauthErr(CodeInvalidGrant, "the subject_token is not a valid delegation token of this issuer")
	}
	parentGrant, err := s.parentGrant(ctx, parent)
	if err != nil {
		return nil, err
	}
	if err := s.checkSubjectKey(ctx, parent, form, jkt, now); err != nil {
		return nil, err
	}
	req, err := exchangeRequest(form, c, resource, now)
	if err != nil {
		return nil, err
	}
	req.KeyThumbprint = jkt
	child, err := authority.Attenuate(parent, req, authority.AttenuateOptions{Strict: true})
	if err != nil {
		return nil, attenuationError(err)
	}
	if err := s.admit(ctx, parentGrant, parent, now); err != nil {
		return nil, err
	}
	err = s.opts.Store.CreateGrant(ctx, store.Grant{DelegationID: child.DelegationID, ParentID: parent.DelegationID,
		User: child.Subject, Agents: child.Chain(), ClientID: c.ID, Resource: resource, Scopes: child.Scopes,
		Constraints: child.Constraints, CreatedAt: now, ExpiresAt: child.ExpiresAt})
	if errors.Is(err, store.ErrRevoked) {
		return nil, oauthErr(CodeInvalidGrant, "the subject_token's delegation has been revoked")
	}
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{IssuedTokenType: TokenTypeAccessToken}
	return resp, s.sign(ctx, child, GrantTokenExchange, resp)
}

// SubjectTokenDPoPParam is the token exchange parameter carrying the proof of
// possession of a bound subject token's key (see grantExchange).
const SubjectTokenDPoPParam = "subject_token_dpop"

// checkSubjectKey requires, for a subject token bound to a key, a DPoP proof
// for the child (jkt) and a proof by the subject token's key.
func (s *Server) checkSubjectKey(ctx context.Context, parent *authority.Claims, form url.Values, jkt string, now time.Time) error {
	bound := parent.BoundKey()
	switch {
	case bound == "" && form.Get(SubjectTokenDPoPParam) != "":
		return oauthErr(CodeInvalidRequest, SubjectTokenDPoPParam+" is only for a subject_token bound to a key")
	case bound == "":
		return nil
	case jkt == "":
		return oauthErr(CodeInvalidRequest, "the subject_token is bound to a key (DPoP): the new token must be bound too — send a DPoP proof by the new actor's key")
	case form.Get(SubjectTokenDPoPParam) == "":
		return oauthErr(CodeInvalidGrant, "the subject_token is bound to a key (DPoP): "+SubjectTokenDPoPParam+" must carry a proof by that key")
	}
	p, err := s.checkProof(ctx, form.Get(SubjectTokenDPoPParam), form.Get("subject_token"), now)
	if err != nil {
		return err
	}
	if p.JKT != bound {
		return oauthErr(CodeInvalidGrant, SubjectTokenDPoPParam+" is not signed by the key the subject_token is bound to")
	}
	return nil
}

// exchangeParams checks the token types and returns the one resource the
// new token is for.
func (s *Server) exchangeParams(form url.Values) (string, error) {
	switch form.Get("subject_token_type") {
	case TokenTypeAccessToken, TokenTypeJWT:
	default:
		return "", oauthErr(CodeInvalidRequest, "subject_token_type must be "+TokenTypeAccessToken)
	}
	if form.Get("subject_token") == "" {
		return "", oauthErr(CodeInvalidRequest, "subject_token is required")
	}
	if rt := form.Get("requested_token_type"); rt != "" && rt != TokenTypeAccessToken {
		return "", oauthErr(CodeInvalidRequest, "requested_token_type must be "+TokenTypeAccessToken)
	}
	if form.Get("actor_token") != "" || form.Get("actor_token_type") != "" {
		return "", oauthErr(CodeInvalidRequest, "actor_token is not supported: the new actor is the authenticated client")
	}
	targets := append(form["resource"], form["audience"]...)
	if len(targets) == 0 {
		return "", oauthErr(CodeInvalidTarget, "resource is required: the MCP server the new token is for")
	}
	canon, err := authority.CanonicalResource(targets[0])
	if err != nil {
		return "", oauthErr(CodeInvalidTarget, "the resource is not a valid URL")
	}
	for _, t := range targets[1:] {
		if c, err := authority.CanonicalResource(t); err != nil || c != canon {
			return "", oauthErr(CodeInvalidTarget, "ask for one resource per token")
		}
	}
	if _, err := lookupResource(s.opts.Registry(), canon); err != nil {
		return "", err
	}
	return canon, nil
}

// parentGrant returns the grant of the subject token: it must be a
// delegation this issuer made, not revoked.
func (s *Server) parentGrant(ctx context.Context, parent *authority.Claims) (*store.Grant, error) {
	if why, revoked := s.opts.Store.Revocations().Revoked(parent); revoked {
		return nil, oauthErr(CodeInvalidGrant, "the subject_token has been revoked ("+why+")")
	}
	if parent.DelegationID == "" {
		return nil, oauthErr(CodeInvalidGrant, "the subject_token names no delegation")
	}
	g, err := s.opts.Store.GetGrant(ctx, parent.DelegationID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oauthErr(CodeInvalidGrant, "the subject_token's delegation was not made by this authorization server")
	}
	return g, err
}

// exchangeRequest reads the requested scopes and constraints.
func exchangeRequest(form url.Values, c *client, resource string, now time.Time) (authority.Request, error) {
	req := authority.Request{Actor: c.ID, ClientID: c.ID, Audience: []string{resource},
		ID: "at_" + authority.NewID(), DelegationID: "dlg_" + authority.NewID(), IssuedAt: now, Constraints: authority.Unrestricted()}
	if sc := strings.Fields(form.Get("scope")); len(sc) > 0 {
		req.Scopes = sc
	}
	if raw := form.Get("authorization_details"); raw != "" {
		cons, err := parseAuthorizationDetails(raw)
		if err != nil {
			return req, err
		}
		req.Constraints = cons
	}
	return req, nil
}

// parseAuthorizationDetails reads an RFC 9396 authorization_details array
// holding exactly one legant_delegation entry. Omitted keys of the entry
// inherit the parent's limits.
func parseAuthorizationDetails(raw string) (authority.Constraints, error) {
	var entries []json.RawMessage
	if err := json.Unmarshal([]byte(raw), &entries); err != nil || len(entries) != 1 {
		return authority.Constraints{}, oauthErr(CodeInvalidAuthorizationDetails,
			"authorization_details must be a JSON array with one entry of type "+authority.DetailType)
	}
	var c authority.Constraints
	if err := json.Unmarshal(entries[0], &c); err != nil {
		return c, oauthErr(CodeInvalidAuthorizationDetails, "authorization_details: "+strings.TrimPrefix(err.Error(), "authority: "))
	}
	return c, nil
}

// attenuationError maps a refusal of Attenuate to the OAuth error naming it.
func attenuationError(err error) error {
	var ae *authority.AttenuationError
	if !errors.As(err, &ae) {
		if errors.Is(err, authority.ErrConstraints) {
			return oauthErr(CodeInvalidAuthorizationDetails, "refused: "+err.Error())
		}
		return err
	}
	desc := fmt.Sprintf("refused: %s", ae.Msg)
	switch ae.Field {
	case "scope":
		return oauthErr(CodeInvalidScope, desc)
	case "audience":
		return oauthErr(CodeInvalidTarget, desc)
	case "actor", "depth", "expires_at", "parent":
		return oauthErr(CodeInvalidRequest, desc)
	}
	return oauthErr(CodeInvalidAuthorizationDetails, desc)
}

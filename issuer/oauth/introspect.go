package oauth

import (
	"context"
	"net/http"
	"strings"

	"github.com/openlegant/legant/authority"
)

// introspection is the RFC 7662 §2.2 response, with the delegation claims.
type introspection struct {
	Active               bool                    `json:"active"`
	Scope                string                  `json:"scope,omitempty"`
	ClientID             string                  `json:"client_id,omitempty"`
	Username             string                  `json:"username,omitempty"`
	TokenType            string                  `json:"token_type,omitempty"`
	Exp                  int64                   `json:"exp,omitempty"`
	Iat                  int64                   `json:"iat,omitempty"`
	Sub                  string                  `json:"sub,omitempty"`
	Aud                  []string                `json:"aud,omitempty"`
	Iss                  string                  `json:"iss,omitempty"`
	Jti                  string                  `json:"jti,omitempty"`
	Act                  *authority.Actor        `json:"act,omitempty"`
	DelegationID         string                  `json:"delegation_id,omitempty"`
	ParentDelegationID   string                  `json:"parent_delegation_id,omitempty"`
	AuthorizationDetails []authority.Constraints `json:"authorization_details,omitempty"`
}

// introspect is RFC 7662 token introspection, for confidential clients
// (resource servers). A token is active when it is a valid, unexpired token
// of this issuer whose jti, delegation (or an ancestor), user and agents are
// not revoked; a refresh token when it was neither rotated nor revoked and
// its grant stands.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	c, err := s.authenticateClient(r)
	if err != nil {
		return err
	}
	if c.public() {
		return errUnknownClient
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		return oauthErr(CodeInvalidRequest, "token is required")
	}
	resp, err := s.inspect(r.Context(), tok)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) inspect(ctx context.Context, tok string) (introspection, error) {
	now := s.now()
	if claims, err := authority.Inspect(tok, s.opts.Keys, authority.VerifyOptions{Issuer: s.opts.Issuer}, now); err == nil {
		if _, revoked := s.opts.Store.Revocations().Revoked(claims); revoked {
			return introspection{}, nil
		}
		return introspection{Active: true, Scope: strings.Join(claims.Scopes, " "), ClientID: claims.ClientID,
			Username: claims.Subject, TokenType: "Bearer", Exp: claims.ExpiresAt.Unix(), Iat: claims.IssuedAt.Unix(),
			Sub: claims.Subject, Aud: claims.Audience, Iss: claims.Issuer, Jti: claims.ID, Act: claims.Actor,
			DelegationID: claims.DelegationID, ParentDelegationID: claims.ParentID,
			AuthorizationDetails: []authority.Constraints{claims.Constraints}}, nil
	}
	rt, err := s.opts.Store.GetRefreshToken(ctx, hashSecret(tok))
	if err != nil || !rt.Active(now) {
		return introspection{}, nil
	}
	g, err := s.opts.Store.GetGrant(ctx, rt.DelegationID)
	if err != nil || g.RevokedVersion != 0 {
		return introspection{}, nil
	}
	if _, revoked := s.opts.Store.Revocations().Revoked(s.grantClaims(g, g.Scopes, now)); revoked {
		return introspection{}, nil
	}
	return introspection{Active: true, Scope: strings.Join(g.Scopes, " "), ClientID: rt.ClientID, Username: g.User,
		TokenType: "refresh_token", Exp: rt.ExpiresAt.Unix(), Iat: rt.CreatedAt.Unix(), Sub: g.User,
		Iss: s.opts.Issuer, DelegationID: g.DelegationID}, nil
}

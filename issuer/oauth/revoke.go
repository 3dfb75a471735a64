package oauth

import (
	"errors"
	"net/http"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/store"
)

// errNotYours refuses to revoke or read a token issued to another client.
var errNotYours = oauthErr(CodeUnauthorizedClient, "the token was not issued to this client")

// revoke is RFC 7009 token revocation. A refresh token revokes its whole
// grant: the delegation, every token minted from it and every delegation
// derived from it. An access token revokes its jti. Revocations go through
// the store, so the gateway's revocation set and kill path see them at once.
// Tokens that are invalid, expired or unknown are answered 200, as §2.2
// requires.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	c, err := s.authenticateClient(r)
	if err != nil {
		return err
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		return oauthErr(CodeInvalidRequest, "token is required")
	}
	rt, err := s.opts.Store.GetRefreshToken(r.Context(), hashSecret(tok))
	switch {
	case err == nil:
		if rt.ClientID != c.ID {
			return errNotYours
		}
		if err := s.revokeGrant(r.Context(), rt.DelegationID, "refresh token revoked by client "+c.ID); err != nil {
			return err
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	default:
		if err := s.revokeAccessToken(r, c, tok); err != nil {
			return err
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) revokeAccessToken(r *http.Request, c *client, tok string) error {
	claims, err := authority.Inspect(tok, s.opts.Keys, authority.VerifyOptions{Issuer: s.opts.Issuer}, s.now())
	if err != nil {
		return nil // not a live token of ours: nothing to revoke
	}
	if claims.ClientID != c.ID {
		return errNotYours
	}
	_, err = s.opts.Store.Revoke(r.Context(), store.RevokeRequest{Kind: revfeed.KindToken, Value: claims.ID,
		Reason: "revoked by client " + c.ID, ExpiresAt: claims.ExpiresAt})
	return err
}

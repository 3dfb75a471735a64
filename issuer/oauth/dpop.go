package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/openlegant/legant/authority/dpop"
)

// Error codes of RFC 9449 §5 and §8 at the token endpoint.
const (
	CodeInvalidDPoPProof = "invalid_dpop_proof"
	CodeUseDPoPNonce     = "use_dpop_nonce"
)

// Token types of a token response: a bound token is "DPoP" (RFC 9449 §5).
const (
	TokenTypeBearer = "Bearer"
	TokenTypeDPoP   = "DPoP"
)

// DefaultDPoPNonceRotation is how long a server nonce is current when
// DPoPNonceOptions.Rotation is zero.
const DefaultDPoPNonceRotation = dpop.DefaultNonceRotation

// DPoPNonceOptions turn on server-provided nonces in the DPoP proofs
// presented to the token endpoint (RFC 9449 §8): a proof without the current
// (or the previous) nonce is answered use_dpop_nonce with the current one in
// the DPoP-Nonce header (dpop.Nonces: replicas sharing Secret agree).
type DPoPNonceOptions = dpop.NonceOptions

func newNonces(o *DPoPNonceOptions) (*dpop.Nonces, error) {
	if o == nil {
		return nil, nil
	}
	n, err := dpop.NewNonces("legant dpop nonce\x00", *o)
	if err != nil {
		return nil, fmt.Errorf("oauth: DPoPNonces: %w", err)
	}
	return n, nil
}

// proofError is the token endpoint's answer to a refused proof.
func proofError(err error) *Error {
	if errors.Is(err, dpop.ErrUseNonce) {
		return oauthErr(CodeUseDPoPNonce, "a DPoP proof with the server's nonce (the DPoP-Nonce header) is required")
	}
	return oauthErr(CodeInvalidDPoPProof, dpop.ErrorText(err))
}

// tokenProof verifies the DPoP proof of a token request (RFC 9449 §5): htm
// POST, htu the token endpoint's public URL, the server nonce when nonces
// are on, a jti never seen before by any replica (the store's ProofCache).
// No proof is (nil, nil): the client asked for bearer tokens. When nonces
// are on, the current nonce is set on w's DPoP-Nonce header whatever the
// outcome, so the client can use it in its next proof.
func (s *Server) tokenProof(ctx context.Context, w http.ResponseWriter, r *http.Request) (*dpop.Proof, error) {
	now := s.now()
	if s.nonces != nil {
		w.Header().Set("DPoP-Nonce", s.nonces.At(now, 0))
	}
	values := r.Header.Values("DPoP")
	switch {
	case len(values) == 0:
		return nil, nil
	case len(values) > 1 || strings.Contains(values[0], ","):
		return nil, oauthErr(CodeInvalidDPoPProof, "exactly one DPoP proof is allowed")
	}
	return s.checkProof(ctx, values[0], "", now)
}

// checkProof verifies one proof for the token endpoint; accessToken, when
// set, must be its ath (a proof of possession of a subject token).
func (s *Server) checkProof(ctx context.Context, proof, accessToken string, now time.Time) (*dpop.Proof, error) {
	p, err := dpop.Verify(proof, dpop.VerifyOptions{Method: http.MethodPost, URL: s.endpoint("/oauth2/token"),
		AccessToken: accessToken}, now)
	if err != nil {
		return nil, proofError(err)
	}
	if s.nonces != nil && !s.nonces.Accepts(p.Nonce, now) {
		return nil, proofError(dpop.ErrUseNonce)
	}
	fresh, err := s.proofs.Remember(ctx, p.ID, p.IssuedAt.Add(dpop.DefaultMaxAge+dpop.DefaultSkew))
	if err != nil {
		return nil, err
	}
	if !fresh {
		return nil, proofError(dpop.ErrReplayed)
	}
	return p, nil
}

// boundRefreshSep separates a bound refresh token's secret from the
// thumbprint of its key. The stored hash covers the whole token, so the
// thumbprint cannot be altered; a hex secret and a base64url thumbprint
// never contain it.
const boundRefreshSep = "."

// newRefreshToken returns a refresh token, bound to the key jkt when set
// (RFC 9449 §5: a public client's refresh token is bound to its DPoP key).
func newRefreshToken(secret, jkt string) string {
	if jkt == "" {
		return secret
	}
	return secret + boundRefreshSep + jkt
}

// refreshKey returns the thumbprint a refresh token is bound to, or "".
func refreshKey(token string) string {
	_, jkt, _ := strings.Cut(token, boundRefreshSep)
	return jkt
}

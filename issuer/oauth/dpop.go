package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
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
const DefaultDPoPNonceRotation = 5 * time.Minute

// DPoPNonceOptions turn on server-provided nonces in the DPoP proofs
// presented to the token endpoint (RFC 9449 §8): a proof without the current
// (or the previous) nonce is answered use_dpop_nonce with the current one in
// the DPoP-Nonce header. Nonces are an HMAC of the time window, so replicas
// sharing the secret issue and accept the same nonces without talking.
type DPoPNonceOptions struct {
	// Secret keys the nonces; at least 32 bytes. Replicas share it.
	Secret []byte
	// Rotation is how long a nonce is current; the one before it stays
	// accepted for as long again. Zero means DefaultDPoPNonceRotation.
	Rotation time.Duration
}

// nonces issues and checks server DPoP nonces. Nil means nonces are off.
// Safe for concurrent use (immutable).
type nonces struct {
	secret   []byte
	rotation time.Duration
}

func newNonces(o *DPoPNonceOptions) (*nonces, error) {
	if o == nil {
		return nil, nil
	}
	if len(o.Secret) < 32 {
		return nil, errors.New("oauth: DPoPNonces.Secret must be at least 32 bytes")
	}
	n := &nonces{secret: o.Secret, rotation: o.Rotation}
	if n.rotation <= 0 {
		n.rotation = DefaultDPoPNonceRotation
	}
	return n, nil
}

// at returns the nonce of the window holding now, shifted by back windows.
func (n *nonces) at(now time.Time, back int64) string {
	var w [8]byte
	binary.BigEndian.PutUint64(w[:], uint64(now.UnixNano()/int64(n.rotation)-back))
	m := hmac.New(sha256.New, n.secret)
	m.Write([]byte("legant dpop nonce\x00"))
	m.Write(w[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// current is the nonce the server hands out at now.
func (n *nonces) current(now time.Time) string { return n.at(now, 0) }

// accepts reports whether nonce is the current or the previous one.
func (n *nonces) accepts(nonce string, now time.Time) bool {
	cur := hmac.Equal([]byte(nonce), []byte(n.at(now, 0)))
	prev := hmac.Equal([]byte(nonce), []byte(n.at(now, 1)))
	return cur || prev
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
		w.Header().Set("DPoP-Nonce", s.nonces.current(now))
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
	if s.nonces != nil && !s.nonces.accepts(p.Nonce, now) {
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

package gateway

// Resource-server DPoP nonces (RFC 9449 §9): with Options.DPoPNonces set, a
// proof for a bound token must carry the gateway's current nonce (or the
// previous one, for one rotation); otherwise the call is answered 401 with
// error="use_dpop_nonce" on the DPoP challenge and the current nonce in the
// DPoP-Nonce header, and the client retries with it. A nonce bounds how
// long a proof made in advance (by malware holding the key for a moment)
// stays usable: one rotation, not the proof's own iat window.
//
// Nonces are an HMAC of the time window under a secret the replicas share,
// so they issue and accept the same nonces without talking. Bearer tokens
// carry no proof and are unaffected.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/openlegant/legant/authority/dpop"
)

// DefaultDPoPNonceRotation is how long a nonce is current when
// DPoPNonceOptions.Rotation is zero.
const DefaultDPoPNonceRotation = 5 * time.Minute

// DPoPNonceOptions turn on resource-server DPoP nonces.
type DPoPNonceOptions struct {
	// Secret keys the nonces; at least 32 bytes, shared by the replicas.
	// It need not be (and should not be) the issuer's nonce secret.
	Secret []byte
	// Rotation is how long a nonce is current; the one before it stays
	// accepted for as long again. Zero means DefaultDPoPNonceRotation.
	Rotation time.Duration
}

// dpopNonces issues and checks the nonces; nil means nonces are off.
// Immutable, so safe for concurrent use.
type dpopNonces struct {
	secret   []byte
	rotation time.Duration
}

func newDPoPNonces(o *DPoPNonceOptions) (*dpopNonces, error) {
	if o == nil {
		return nil, nil
	}
	if len(o.Secret) < 32 {
		return nil, errors.New("gateway: DPoPNonces.Secret must be at least 32 bytes")
	}
	n := &dpopNonces{secret: o.Secret, rotation: o.Rotation}
	if n.rotation <= 0 {
		n.rotation = DefaultDPoPNonceRotation
	}
	return n, nil
}

// at returns the nonce of the window holding now, back windows earlier.
func (n *dpopNonces) at(now time.Time, back int64) string {
	var w [8]byte
	binary.BigEndian.PutUint64(w[:], uint64(now.UnixNano()/int64(n.rotation)-back))
	m := hmac.New(sha256.New, n.secret)
	m.Write([]byte("legant gateway dpop nonce\x00")) // not the issuer's label: its nonces are not ours
	m.Write(w[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// checkProof is dpop.Check with the gateway's nonces: the current one, then,
// when the proof carries another, the previous one. A proof refused for its
// nonce was not recorded in the replay cache (Check records only accepted
// proofs), so checking it twice is safe. It also returns the nonce to send
// back in DPoP-Nonce ("" when nonces are off).
func (g *Gateway) checkProof(ctx context.Context, r dpop.Request, o dpop.CheckOptions) (string, error) {
	now := g.now()
	if g.nonces == nil {
		_, err := dpop.Check(ctx, r, o, now)
		return "", err
	}
	cur := g.nonces.at(now, 0)
	o.Nonce = cur
	_, err := dpop.Check(ctx, r, o, now)
	if errors.Is(err, dpop.ErrUseNonce) {
		o.Nonce = g.nonces.at(now, 1)
		_, err = dpop.Check(ctx, r, o, now)
	}
	return cur, err
}

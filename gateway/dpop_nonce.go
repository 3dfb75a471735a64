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
	"errors"
	"fmt"

	"github.com/openlegant/legant/authority/dpop"
)

// DefaultDPoPNonceRotation is how long a nonce is current when
// DPoPNonceOptions.Rotation is zero.
const DefaultDPoPNonceRotation = dpop.DefaultNonceRotation

// DPoPNonceOptions turn on resource-server DPoP nonces: Secret (at least 32
// bytes, shared by the replicas; not the issuer's) and Rotation.
type DPoPNonceOptions = dpop.NonceOptions

// nonceLabel separates the gateway's nonces from the issuer's.
const nonceLabel = "legant gateway dpop nonce\x00"

func newDPoPNonces(o *DPoPNonceOptions) (*dpop.Nonces, error) {
	if o == nil {
		return nil, nil
	}
	n, err := dpop.NewNonces(nonceLabel, *o)
	if err != nil {
		return nil, fmt.Errorf("gateway: DPoPNonces: %w", err)
	}
	return n, nil
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
	cur := g.nonces.At(now, 0)
	o.Nonce = cur
	_, err := dpop.Check(ctx, r, o, now)
	if errors.Is(err, dpop.ErrUseNonce) {
		o.Nonce = g.nonces.At(now, 1)
		_, err = dpop.Check(ctx, r, o, now)
	}
	return cur, err
}

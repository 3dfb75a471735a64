package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// DefaultNonceRotation is how long a nonce is current when
// NonceOptions.Rotation is zero.
const DefaultNonceRotation = 5 * time.Minute

// NonceOptions turn on server-provided DPoP nonces (RFC 9449 §8 for an
// authorization server, §9 for a resource server).
type NonceOptions struct {
	// Secret keys the nonces; at least 32 bytes, shared by the replicas.
	Secret []byte
	// Rotation is how long a nonce is current; the one before it stays
	// accepted for as long again. Zero means DefaultNonceRotation.
	Rotation time.Duration
}

// Nonces issues and recognises server DPoP nonces: an HMAC of the time
// window under a secret the replicas share, so they issue and accept the
// same nonces without talking. A nonce bounds how long a proof made in
// advance stays usable: one rotation. Immutable, so safe for concurrent use.
type Nonces struct {
	label    string
	secret   []byte
	rotation time.Duration
}

// NewNonces returns the nonces of one server role; label separates roles
// that may share a secret (the issuer's nonces are not the gateway's).
func NewNonces(label string, o NonceOptions) (*Nonces, error) {
	if len(o.Secret) < 32 {
		return nil, errors.New("dpop: the nonce secret must be at least 32 bytes")
	}
	n := &Nonces{label: label, secret: o.Secret, rotation: o.Rotation}
	if n.rotation <= 0 {
		n.rotation = DefaultNonceRotation
	}
	return n, nil
}

// At returns the nonce of the window holding now, back windows earlier:
// At(now, 0) is the current nonce, At(now, 1) the previous one.
func (n *Nonces) At(now time.Time, back int64) string {
	var w [8]byte
	binary.BigEndian.PutUint64(w[:], uint64(now.UnixNano()/int64(n.rotation)-back))
	m := hmac.New(sha256.New, n.secret)
	m.Write([]byte(n.label))
	m.Write(w[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// Accepts reports, in constant time, whether nonce is the current or the
// previous one at now.
func (n *Nonces) Accepts(nonce string, now time.Time) bool {
	cur := hmac.Equal([]byte(nonce), []byte(n.At(now, 0)))
	prev := hmac.Equal([]byte(nonce), []byte(n.At(now, 1)))
	return cur || prev
}

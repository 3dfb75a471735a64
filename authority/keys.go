package authority

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// The signing algorithms this package implements (JWS "alg" values).
const (
	AlgEdDSA = "EdDSA" // Ed25519 (RFC 8037)
	AlgRS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256, keys of 2048 bits or more
)

// MinRSABits is the smallest RSA modulus accepted for signing or verifying.
const MinRSABits = 2048

// Key is a signing key (or a verify-only public key) with its key id.
// A Key is immutable and safe for concurrent use.
type Key struct {
	kid    string
	alg    string
	signer crypto.Signer    // ed25519.PrivateKey or *rsa.PrivateKey; nil for a verify-only key
	public crypto.PublicKey // ed25519.PublicKey or *rsa.PublicKey
}

// GenerateEd25519Key returns a new Ed25519 signing key.
func GenerateEd25519Key(kid string) (*Key, error) {
	if kid == "" {
		return nil, errors.New("authority: empty key id")
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Key{kid: kid, alg: AlgEdDSA, signer: priv, public: pub}, nil
}

// GenerateRSAKey returns a new RSA signing key of the given size (at least
// MinRSABits).
func GenerateRSAKey(kid string, bits int) (*Key, error) {
	if kid == "" {
		return nil, errors.New("authority: empty key id")
	}
	if bits < MinRSABits {
		return nil, fmt.Errorf("authority: RSA key of %d bits, want at least %d", bits, MinRSABits)
	}
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, err
	}
	return &Key{kid: kid, alg: AlgRS256, signer: priv, public: &priv.PublicKey}, nil
}

// newKey wraps a parsed private or public key, checking its type and size.
func newKey(kid string, k any) (*Key, error) {
	if kid == "" {
		return nil, errors.New("authority: empty key id")
	}
	switch k := k.(type) {
	case ed25519.PrivateKey:
		return &Key{kid: kid, alg: AlgEdDSA, signer: k, public: k.Public()}, nil
	case ed25519.PublicKey:
		return &Key{kid: kid, alg: AlgEdDSA, public: k}, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("authority: RSA key %s has %d bits, want at least %d", kid, k.N.BitLen(), MinRSABits)
		}
		return &Key{kid: kid, alg: AlgRS256, signer: k, public: &k.PublicKey}, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("authority: RSA key %s has %d bits, want at least %d", kid, k.N.BitLen(), MinRSABits)
		}
		return &Key{kid: kid, alg: AlgRS256, public: k}, nil
	}
	return nil, fmt.Errorf("authority: key %s: unsupported key type %T", kid, k)
}

// ID returns the key id ("kid").
func (k *Key) ID() string { return k.kid }

// Algorithm returns the JWS algorithm, AlgEdDSA or AlgRS256.
func (k *Key) Algorithm() string { return k.alg }

// Public returns the public key: ed25519.PublicKey or *rsa.PublicKey.
func (k *Key) Public() crypto.PublicKey { return k.public }

// CanSign reports whether k holds a private key.
func (k *Key) CanSign() bool { return k.signer != nil }

// MarshalPrivatePEM encodes the private key as a PKCS #8 "PRIVATE KEY" block.
func (k *Key) MarshalPrivatePEM() ([]byte, error) {
	if k.signer == nil {
		return nil, fmt.Errorf("authority: key %s has no private key", k.kid)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM parses a PKCS #8 "PRIVATE KEY" (Ed25519 or RSA) or a
// PKCS #1 "RSA PRIVATE KEY" block into a signing key with the given id.
func ParsePrivateKeyPEM(kid string, data []byte) (*Key, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("authority: key %s: no PEM block", kid)
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("authority: key %s: unsupported PEM block %q", kid, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("authority: key %s: %w", kid, err)
	}
	return newKey(kid, k)
}

// KeySet holds the keys of an issuer. The newest added signing key that is
// not scheduled for retirement signs; every key verifies until its retire
// time (zero = never). A KeySet is safe for concurrent use.
type KeySet struct {
	mu   sync.RWMutex
	keys []keyEntry // in the order added, oldest first; kids are unique
}

type keyEntry struct {
	key      *Key
	retireAt time.Time
}

// NewKeySet returns an empty KeySet.
func NewKeySet() *KeySet { return &KeySet{} }

// Add adds k, which verifies until retireAt (zero = never). Adding a kid
// again replaces the older key of that id and makes it the newest.
func (s *KeySet) Add(k *Key, retireAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = slices.DeleteFunc(s.keys, func(e keyEntry) bool { return e.key.kid == k.kid })
	s.keys = append(s.keys, keyEntry{key: k, retireAt: retireAt})
}

// Retire schedules key kid to stop verifying at at. A key scheduled for
// retirement no longer signs, from now on.
func (s *KeySet) Retire(kid string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if s.keys[i].key.kid == kid {
			s.keys[i].retireAt = at
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrUnknownKey, kid)
}

// Signer returns the current signing key: the newest added key that holds a
// private key and has no retire time.
func (s *KeySet) Signer() (*Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := len(s.keys) - 1; i >= 0; i-- {
		if e := s.keys[i]; e.key.CanSign() && e.retireAt.IsZero() {
			return e.key, nil
		}
	}
	return nil, fmt.Errorf("%w: no signing key", ErrUnknownKey)
}

// Lookup returns key kid if it is not retired at now.
func (s *KeySet) Lookup(kid string, now time.Time) (*Key, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, e := range s.keys {
		if e.key.kid == kid && e.live(now) {
			return e.key, true
		}
	}
	return nil, false
}

func (e keyEntry) live(now time.Time) bool { return e.retireAt.IsZero() || now.Before(e.retireAt) }

// live returns the keys not retired at now, oldest first.
func (s *KeySet) live(now time.Time) []*Key {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Key
	for _, e := range s.keys {
		if e.live(now) {
			out = append(out, e.key)
		}
	}
	return out
}

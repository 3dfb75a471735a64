package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// minSecretLen is the shortest key-encryption secret accepted.
const minSecretLen = 16

// hkdfInfo binds derived keys to their purpose.
const hkdfInfo = "legant signing-key encryption v1"

// kekCheck is sealed once with the derived key and stored, so a wrong secret
// is reported as such rather than as corrupt keys.
const kekCheck = "legant key-encryption check"

// sealer encrypts signing keys with AES-256-GCM under a key derived from the
// secret with HKDF-SHA256 and the store's random salt. Safe for concurrent use.
type sealer struct {
	aead cipher.AEAD
}

// newSealer derives the key and checks it against the stored check value,
// creating both salt and check value on first use.
func newSealer(ctx context.Context, s *Store, secret []byte) (*sealer, error) {
	if len(secret) < minSecretLen {
		return nil, fmt.Errorf("store: key-encryption secret too short (%d bytes, need at least %d)", len(secret), minSecretLen)
	}
	saltHex, err := s.ensureMeta(ctx, "kek_salt", func() (string, error) {
		b := make([]byte, 32)
		rand.Read(b)
		return hex.EncodeToString(b), nil
	})
	if err != nil {
		return nil, err
	}
	salt, err := hex.DecodeString(saltHex)
	if err != nil {
		return nil, fmt.Errorf("store: corrupt kek_salt: %w", err)
	}
	key, err := hkdf.Key(sha256.New, secret, salt, hkdfInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sl := &sealer{aead: aead}
	return sl, sl.check(ctx, s)
}

func (sl *sealer) check(ctx context.Context, s *Store) error {
	stored, err := s.ensureMeta(ctx, "kek_check", func() (string, error) {
		return base64.StdEncoding.EncodeToString(sl.seal([]byte(kekCheck), []byte("kek_check"))), nil
	})
	if err != nil {
		return err
	}
	sealed, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return fmt.Errorf("store: corrupt kek_check: %w", err)
	}
	if plain, err := sl.open(sealed, []byte("kek_check")); err != nil || string(plain) != kekCheck {
		return ErrWrongKeySecret
	}
	return nil
}

// seal returns nonce || ciphertext, authenticated with aad.
func (sl *sealer) seal(plain, aad []byte) []byte {
	nonce := make([]byte, sl.aead.NonceSize(), sl.aead.NonceSize()+len(plain)+sl.aead.Overhead())
	rand.Read(nonce)
	return sl.aead.Seal(nonce, nonce, plain, aad)
}

var errUnseal = errors.New("store: cannot decrypt")

func (sl *sealer) open(sealed, aad []byte) ([]byte, error) {
	n := sl.aead.NonceSize()
	if len(sealed) < n+sl.aead.Overhead() {
		return nil, errUnseal
	}
	plain, err := sl.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, errUnseal
	}
	return plain, nil
}

// ensureMeta returns store_meta[name], first setting it to initial() if absent.
// Concurrent first calls agree on one value.
func (s *Store) ensureMeta(ctx context.Context, name string, initial func() (string, error)) (string, error) {
	v, err := initial()
	if err != nil {
		return "", err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO store_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, v); err != nil {
		return "", fmt.Errorf("store: write %s: %w", name, err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM store_meta WHERE name = $1`, name).Scan(&v); err != nil {
		return "", fmt.Errorf("store: read %s: %w", name, err)
	}
	return v, nil
}

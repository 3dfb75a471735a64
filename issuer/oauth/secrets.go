package oauth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
)

// newSecret returns 256 random bits, base64url: client secrets, codes,
// refresh tokens, session ids, CSRF tokens.
func newSecret() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newID returns 128 random bits, base64url: client, token and delegation ids.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashSecret is how secrets are stored and looked up: hex SHA-256. The
// secrets are 256 random bits, so a fast hash is enough.
func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// equalSecret compares two secrets (or their hashes) in constant time.
func equalSecret(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

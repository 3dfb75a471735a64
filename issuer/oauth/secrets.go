package oauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
)

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

package authority

import (
	"crypto/rand"
	"encoding/hex"
)

// NewID returns 128 random bits as 32 lowercase hex digits: token ids (jti),
// delegation ids, hold ids and other names that must be unique but need not
// be secret.
func NewID() string { return randomHex(16) }

// NewSecret returns 256 random bits as 64 lowercase hex digits: client
// secrets, codes, refresh tokens, session ids, CSRF tokens, admin tokens —
// whatever must be unguessable. Hex is visible ASCII (as Mcp-Session-Id
// requires) and never starts with '-' (which a command line would read as a
// flag).
func NewSecret() string { return randomHex(32) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

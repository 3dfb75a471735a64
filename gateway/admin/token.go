package admin

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/openlegant/legant/issuer/keydir"
)

// TokenFile is the name of the admin token's file in the data directory.
const TokenFile = "admin-token"

// minTokenLen bounds how short an admin token may be (bytes of text).
const minTokenLen = 32

// EnsureToken returns the admin token stored at path, generating one (32
// random bytes, hex) into a new file of mode 0600 when there is none; created
// reports that. The directory is created (0700) when missing. The file is
// keydir.EnsureSecretFile's; the token is then read back through ReadToken,
// which judges it.
func EnsureToken(path string) (token string, created bool, err error) {
	if _, created, err = keydir.EnsureSecretFile(path); err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	token, err = ReadToken(path)
	return token, created, err
}

// ReadToken reads the admin token at path. It refuses a file other users
// may read, and a token shorter than 32 characters.
func ReadToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("admin token: %s is accessible to other users (mode %04o); chmod 600 it", path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("admin token: read %s: %w", path, err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < minTokenLen {
		return "", fmt.Errorf("admin token: %s holds fewer than %d characters", path, minTokenLen)
	}
	return tok, nil
}

package admin

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is the name of the admin token's file in the data directory.
const TokenFile = "admin-token"

// minTokenLen bounds how short an admin token may be (bytes of text).
const minTokenLen = 32

// EnsureToken returns the admin token stored at path, generating one (32
// random bytes, hex) into a new file of mode 0600 when there is none; created
// reports that. The directory is created (0700) when missing.
func EnsureToken(path string) (token string, created bool, err error) {
	tok, err := ReadToken(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tok, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	tok = hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // written meanwhile by another process
		tok, err := ReadToken(path)
		return tok, false, err
	}
	if err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(tok + "\n"); err != nil {
		return "", false, fmt.Errorf("admin token: write %s: %w", path, err)
	}
	return tok, true, nil
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

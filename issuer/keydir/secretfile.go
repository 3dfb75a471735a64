package keydir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/openlegant/legant/authority"
)

// EnsureSecretFile returns the secret kept in the file at path, first
// writing a new one there when the file does not exist: 256 random bits as
// 64 hex digits and a newline (authority.NewSecret), in a file of mode 0600,
// its directory created 0700 when missing. created reports that this call
// wrote it. The secret read back has surrounding white space trimmed.
//
// The file appears whole or not at all (written aside, then hard-linked into
// place), so a process starting at the same time never reads a partial
// secret; when several create it at once, one wins and all return its
// secret.
//
// It is the one rule for the secrets Legant generates on first start (the
// key-encryption secret of the embedded store, the admin token). It does not
// judge a secret it reads (length, file mode): callers that have a rule for
// that apply it.
func EnsureSecretFile(path string) (secret []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return bytes.TrimSpace(b), false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("secret file: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("secret file: %w", err)
	}
	secret = []byte(authority.NewSecret())
	tmp, err := writeAside(dir, filepath.Base(path), append(secret, '\n'))
	if err != nil {
		return nil, false, fmt.Errorf("secret file: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); errors.Is(err, fs.ErrExist) { // created meanwhile by another process
		return EnsureSecretFile(path)
	} else if err != nil {
		return nil, false, fmt.Errorf("secret file: %w", err)
	}
	return secret, true, nil
}

// writeAside writes data to a new 0600 file in dir and returns its path.
func writeAside(dir, name string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, "."+name+".*.tmp") // CreateTemp makes it 0600
	if err != nil {
		return "", err
	}
	_, werr := f.Write(data)
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		os.Remove(f.Name())
		return "", werr
	}
	return f.Name(), nil
}

package keydir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/openlegant/legant/authority"
)

// Ensure loads dir, first creating it with one key of alg when it has no
// keys.json yet (a zero-config start). created is that key's entry, nil when
// the keys were already there. Another process initializing dir at the same
// time is not an error: Ensure loads what it wrote.
func Ensure(dir string, alg Alg, opts *Options) (ks *authority.KeySet, created *Entry, err error) {
	if _, err := os.Stat(filepath.Join(dir, listFile)); errors.Is(err, fs.ErrNotExist) {
		e, err := Init(dir, alg, opts)
		switch {
		case err == nil:
			created = &e
		case !errors.Is(err, ErrExists):
			return nil, nil, fmt.Errorf("create keys in %s: %w", dir, err)
		}
	}
	if ks, err = Load(dir); err != nil {
		return nil, nil, fmt.Errorf("load keys from %s: %w", dir, err)
	}
	return ks, created, nil
}

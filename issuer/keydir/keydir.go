// Package keydir keeps an issuer's signing keys in a directory (by default
// .legant/keys): keys.json lists the keys (kid, alg, created, retire_at,
// current) and each private key is one PEM file named after its kid. The
// directory is created with mode 0700 and key files with 0600; Load refuses
// key files that group or others can read.
//
// Ensure is the zero-config start: load the directory, creating it with one
// key first when it is empty. EnsureSecretFile is the same rule for a
// generated secret (the embedded store's key-encryption secret, the admin
// token): one 0600 file, written once, read thereafter.
//
// It owns the files only: what a key is, rotation semantics (the newest
// signs, the previous ones verify until their retire time) and JWKS are
// authority's. The functions are not safe for concurrent use by several
// processes on one directory: rotate from one place.
//
//	if _, err := keydir.Init(keydir.DefaultDir, keydir.Ed25519, nil); err != nil { … }
//	ks, err := keydir.Load(keydir.DefaultDir) // *authority.KeySet
package keydir

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/openlegant/legant/authority"
)

// Defaults.
const (
	DefaultDir         = ".legant/keys"
	DefaultRetireAfter = 24 * time.Hour // should exceed the longest token lifetime
	DefaultRSABits     = 2048
	listFile           = "keys.json"
)

// Alg is the kind of key to generate.
type Alg string

// The key kinds.
const (
	Ed25519 Alg = "ed25519"
	RSA     Alg = "rsa"
)

// ParseAlg parses "ed25519" or "rsa".
func ParseAlg(s string) (Alg, error) {
	switch a := Alg(s); a {
	case Ed25519, RSA:
		return a, nil
	}
	return "", fmt.Errorf("keydir: unknown key algorithm %q (want ed25519 or rsa)", s)
}

// ErrExists is returned by Init when the directory already holds keys.
var ErrExists = errors.New("keydir: keys already initialized")

// Entry describes one key of keys.json.
type Entry struct {
	KID      string    `json:"kid"`
	Alg      string    `json:"alg"` // JWS algorithm: "EdDSA" or "RS256"
	Created  time.Time `json:"created"`
	RetireAt time.Time `json:"retire_at,omitzero"` // zero = verifies until rotated out
	Current  bool      `json:"current"`            // the signing key; exactly one
}

// Options tune Init and Rotate; a nil *Options means the defaults.
type Options struct {
	Now         func() time.Time // nil = time.Now
	RetireAfter time.Duration    // how long the previous key keeps verifying after Rotate; zero = DefaultRetireAfter
	RSABits     int              // zero = DefaultRSABits
}

func (o *Options) now() time.Time {
	if o == nil || o.Now == nil {
		return time.Now().UTC()
	}
	return o.Now().UTC()
}

func (o *Options) retireAfter() time.Duration {
	if o == nil || o.RetireAfter == 0 {
		return DefaultRetireAfter
	}
	return o.RetireAfter
}

func (o *Options) rsaBits() int {
	if o == nil || o.RSABits == 0 {
		return DefaultRSABits
	}
	return o.RSABits
}

// Init creates dir (0700) and its first key, which becomes current. It
// fails with ErrExists when dir already has a keys.json.
func Init(dir string, alg Alg, opts *Options) (Entry, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Entry{}, fmt.Errorf("keydir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, listFile)); err == nil {
		return Entry{}, fmt.Errorf("%w in %s", ErrExists, dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Entry{}, fmt.Errorf("keydir: %w", err)
	}
	e, err := newKey(dir, alg, opts)
	if err != nil {
		return Entry{}, err
	}
	return e, writeList(dir, []Entry{e})
}

// Rotate adds a new current key. The previous current key keeps verifying
// until now + RetireAfter; keys whose retire time has passed are removed,
// with their files.
func Rotate(dir string, alg Alg, opts *Options) (Entry, error) {
	entries, err := List(dir)
	if err != nil {
		return Entry{}, err
	}
	now := opts.now()
	e, err := newKey(dir, alg, opts)
	if err != nil {
		return Entry{}, err
	}
	var kept []Entry
	for _, old := range entries {
		if old.Current {
			old.Current, old.RetireAt = false, now.Add(opts.retireAfter())
		}
		if !old.RetireAt.IsZero() && !now.Before(old.RetireAt) {
			if err := os.Remove(keyPath(dir, old.KID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return Entry{}, fmt.Errorf("keydir: %w", err)
			}
			continue
		}
		kept = append(kept, old)
	}
	return e, writeList(dir, append(kept, e))
}

// List returns the entries of keys.json, oldest first.
func List(dir string) ([]Entry, error) {
	data, err := os.ReadFile(filepath.Join(dir, listFile))
	if err != nil {
		return nil, fmt.Errorf("keydir: %w (run \"legant keys init\")", err)
	}
	var entries []Entry
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("keydir: %s: %w", filepath.Join(dir, listFile), err)
	}
	return entries, validate(entries)
}

var kidPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// validate checks kids (they name files) and that exactly one key is current.
func validate(entries []Entry) error {
	current, seen := 0, map[string]bool{}
	for _, e := range entries {
		if !kidPattern.MatchString(e.KID) || seen[e.KID] {
			return fmt.Errorf("keydir: bad or duplicate kid %q", e.KID)
		}
		seen[e.KID] = true
		if e.Current {
			current++
			if !e.RetireAt.IsZero() {
				return fmt.Errorf("keydir: current key %s has a retire time", e.KID)
			}
		}
	}
	if current != 1 {
		return fmt.Errorf("keydir: %d current keys, want exactly 1", current)
	}
	return nil
}

// Load reads every listed key into a KeySet: retired keys with their retire
// time, the current key added last so that it signs.
func Load(dir string) (*authority.KeySet, error) {
	entries, err := List(dir)
	if err != nil {
		return nil, err
	}
	ks := authority.NewKeySet()
	var current *authority.Key
	for _, e := range entries {
		k, err := readKey(dir, e)
		if err != nil {
			return nil, err
		}
		if e.Current {
			current = k
			continue
		}
		ks.Add(k, e.RetireAt)
	}
	ks.Add(current, time.Time{})
	return ks, nil
}

func readKey(dir string, e Entry) (*authority.Key, error) {
	path := keyPath(dir, e.KID)
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keydir: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keydir: %s is accessible to group or others (mode %v); chmod 600 it", path, info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keydir: %w", err)
	}
	k, err := authority.ParsePrivateKeyPEM(e.KID, data)
	if err != nil {
		return nil, fmt.Errorf("keydir: %s: %w", path, err)
	}
	if k.Algorithm() != e.Alg {
		return nil, fmt.Errorf("keydir: %s holds an %s key, keys.json says %s", path, k.Algorithm(), e.Alg)
	}
	return k, nil
}

func keyPath(dir, kid string) string { return filepath.Join(dir, kid+".pem") }

// newKey generates a key, writes its PEM file (0600) and returns its entry.
func newKey(dir string, alg Alg, opts *Options) (Entry, error) {
	now := opts.now()
	kid, err := newKID(now)
	if err != nil {
		return Entry{}, err
	}
	var k *authority.Key
	switch alg {
	case Ed25519:
		k, err = authority.GenerateEd25519Key(kid)
	case RSA:
		k, err = authority.GenerateRSAKey(kid, opts.rsaBits())
	default:
		_, err = ParseAlg(string(alg))
	}
	if err != nil {
		return Entry{}, err
	}
	pem, err := k.MarshalPrivatePEM()
	if err != nil {
		return Entry{}, err
	}
	if err := writeFileExcl(keyPath(dir, kid), pem); err != nil {
		return Entry{}, err
	}
	return Entry{KID: kid, Alg: k.Algorithm(), Created: now, Current: true}, nil
}

// newKID returns "20261124-9f86d081": the creation day and 32 random bits.
func newKID(now time.Time) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return now.Format("20060102") + "-" + hex.EncodeToString(b[:]), nil
}

func writeFileExcl(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("keydir: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("keydir: %w", err)
	}
	return f.Close()
}

// writeList replaces keys.json atomically (temporary file, then rename).
func writeList(dir string, entries []Entry) error {
	data, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".keys-*.json")
	if err != nil {
		return fmt.Errorf("keydir: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("keydir: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keydir: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, listFile)); err != nil {
		return fmt.Errorf("keydir: %w", err)
	}
	return nil
}

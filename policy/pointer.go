package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Pointer is an RFC 6901 JSON pointer into a tool call's "arguments" object.
// The zero Pointer is "not bound"; "" (the whole document) is not a valid binding.
type Pointer struct {
	raw    string
	tokens []string
}

// ErrBadPointer reports a pointer that is not valid RFC 6901 syntax.
var ErrBadPointer = errors.New("invalid JSON pointer")

// ParsePointer parses s ("/amount", "/payee/iban", "/items/0/price").
func ParsePointer(s string) (Pointer, error) {
	if s == "" || s[0] != '/' {
		return Pointer{}, fmt.Errorf("%w %q: must start with '/'", ErrBadPointer, s)
	}
	parts := strings.Split(s[1:], "/")
	for i, p := range parts {
		if strings.Contains(strings.ReplaceAll(strings.ReplaceAll(p, "~0", ""), "~1", ""), "~") {
			return Pointer{}, fmt.Errorf("%w %q: bad escape in %q", ErrBadPointer, s, p)
		}
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
	}
	return Pointer{raw: s, tokens: parts}, nil
}

// MustPointer is ParsePointer for constants; it panics on a bad pointer.
func MustPointer(s string) Pointer {
	p, err := ParsePointer(s)
	if err != nil {
		panic(err)
	}
	return p
}

// IsZero reports whether the pointer is unset.
func (p Pointer) IsZero() bool { return p.raw == "" }

// String returns the pointer as written.
func (p Pointer) String() string { return p.raw }

// Tokens returns the unescaped reference tokens.
func (p Pointer) Tokens() []string { return p.tokens }

// Lookup returns the raw JSON value the pointer names inside doc, and whether
// it exists. doc must be a JSON object or array; the value is returned exactly
// as written (no re-encoding), so callers can validate its lexical form.
//
// Lookup is strict: doc must be valid UTF-8 JSON (ErrInvalidJSON), and every
// object on the pointer's path must hold the followed key exactly once
// (ErrDuplicateKey) with no other key equal to it under case folding
// (ErrAmbiguousKey), so that no JSON parser can read a different value there.
// An empty doc holds nothing.
func (p Pointer) Lookup(doc json.RawMessage) (json.RawMessage, bool, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil, false, nil
	}
	if err := validJSON(doc); err != nil {
		return nil, false, err
	}
	v, ok, err := lookupValid(bytes.TrimSpace(doc), p.tokens)
	if err != nil || !ok {
		return nil, false, err
	}
	return v, true, nil
}

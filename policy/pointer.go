package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
func (p Pointer) Lookup(doc json.RawMessage) (json.RawMessage, bool, error) {
	cur := doc
	for _, tok := range p.tokens {
		next, ok, err := child(cur, tok)
		if err != nil || !ok {
			return nil, ok, err
		}
		cur = next
	}
	return cur, true, nil
}

func child(doc json.RawMessage, tok string) (json.RawMessage, bool, error) {
	doc = bytes.TrimSpace(doc)
	if len(doc) == 0 {
		return nil, false, nil
	}
	switch doc[0] {
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(doc, &m); err != nil {
			return nil, false, err
		}
		v, ok := m[tok]
		return v, ok, nil
	case '[':
		var a []json.RawMessage
		if err := json.Unmarshal(doc, &a); err != nil {
			return nil, false, err
		}
		i, err := strconv.Atoi(tok)
		if err != nil || i < 0 || i >= len(a) || (len(tok) > 1 && tok[0] == '0') {
			return nil, false, nil
		}
		return a[i], true, nil
	default:
		return nil, false, nil
	}
}

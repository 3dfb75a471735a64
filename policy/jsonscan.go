package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Strict lookup of a JSON pointer in raw JSON.
//
// Two JSON parsers can read the same bytes differently when an object repeats a
// key (encoding/json keeps the last value, others keep the first) or when keys
// differ only by case (encoding/json matches struct fields case-insensitively).
// What policy checks must be exactly what the upstream acts on, so along the
// path of a pointer every object must hold the followed key exactly once and no
// other key equal to it under Unicode case folding.

var (
	// ErrDuplicateKey reports an object on a pointer's path that repeats the followed key.
	ErrDuplicateKey = errors.New("duplicate key")
	// ErrAmbiguousKey reports an object on a pointer's path holding a key that
	// differs from the followed key only by case, which some parsers would match.
	ErrAmbiguousKey = errors.New("ambiguous key")
	// ErrInvalidJSON reports a document that is not valid UTF-8 JSON.
	ErrInvalidJSON = errors.New("invalid JSON")
)

// validJSON reports whether doc is one valid JSON value encoded in valid UTF-8.
// encoding/json's validator alone accepts invalid UTF-8 inside strings, which
// parsers then repair in different ways; we refuse it.
func validJSON(doc []byte) error {
	if !utf8.Valid(doc) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidJSON)
	}
	if !json.Valid(doc) {
		var v any
		err := json.Unmarshal(doc, &v) // only to describe the syntax error
		return fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	return nil
}

// lookupValid walks tokens through doc, which must already be valid JSON
// (validJSON). It returns the value exactly as written.
func lookupValid(doc []byte, tokens []string) ([]byte, bool, error) {
	cur := doc
	for depth, tok := range tokens {
		i := skipSpace(cur, 0)
		if i >= len(cur) {
			return nil, false, nil
		}
		var (
			next []byte
			ok   bool
			err  error
		)
		switch cur[i] {
		case '{':
			next, ok, err = member(cur[i:], tok)
		case '[':
			next, ok = element(cur[i:], tok)
		default:
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("%w at %s", err, pathPrefix(tokens[:depth]))
		}
		if !ok {
			return nil, false, nil
		}
		cur = next
	}
	return cur, true, nil
}

// pathPrefix renders the tokens already followed as a pointer ("" is the root, shown as "/").
func pathPrefix(tokens []string) string {
	if len(tokens) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// member finds key tok in the object starting at obj[0] == '{'.
func member(obj []byte, tok string) ([]byte, bool, error) {
	var found []byte
	count := 0
	i := 1
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] == '}' {
			break
		}
		if obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
		keyEnd, escaped := skipString(obj, i)
		key := obj[i+1 : keyEnd-1]
		if escaped {
			k, err := unescapeKey(obj[i:keyEnd])
			if err != nil {
				return nil, false, err
			}
			key = k
		}
		i = skipSpace(obj, keyEnd)
		i = skipSpace(obj, i+1) // the ':'
		valEnd := skipValue(obj, i)
		// The string conversions below do not escape: no allocation.
		switch {
		case string(key) == tok:
			count++
			found = obj[i:valEnd]
		case strings.EqualFold(string(key), tok):
			return nil, false, fmt.Errorf("%w: %q differs from %q only by case", ErrAmbiguousKey, key, tok)
		}
		i = valEnd
	}
	if count > 1 {
		return nil, false, fmt.Errorf("%w %q", ErrDuplicateKey, tok)
	}
	return found, count == 1, nil
}

// unescapeKey decodes a JSON string token (with its quotes) holding escapes.
func unescapeKey(quoted []byte) ([]byte, error) {
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	return []byte(s), nil
}

// element finds index tok in the array starting at arr[0] == '['. RFC 6901:
// the index is "0" or digits without a leading zero.
func element(arr []byte, tok string) ([]byte, bool) {
	if tok == "" || (len(tok) > 1 && tok[0] == '0') || strings.Trim(tok, "0123456789") != "" {
		return nil, false
	}
	n, err := strconv.Atoi(tok)
	if err != nil {
		return nil, false
	}
	i := 1
	for idx := 0; ; idx++ {
		i = skipSpace(arr, i)
		if i >= len(arr) || arr[i] == ']' {
			return nil, false
		}
		if arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
		end := skipValue(arr, i)
		if idx == n {
			return arr[i:end], true
		}
		i = end
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"',
// and whether it contains an escape.
func skipString(b []byte, i int) (int, bool) {
	escaped := false
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i + 1, escaped
		}
	}
	return len(b), escaped
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		end, _ := skipString(b, i)
		return end
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i, _ = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // number, true, false, null
		for i < len(b) && !isDelimiter(b[i]) {
			i++
		}
		return i
	}
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

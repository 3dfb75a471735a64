package authority

import (
	"encoding/json"
	"errors"
	"fmt"
)

// decodeObject splits a JSON object into its members, refusing duplicate
// keys (two parsers must never read two different values), trailing data
// and anything that is not an object.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, errors.New("expected a JSON object")
	}
	if countKeys(data) != len(m) {
		return nil, errors.New("duplicate key")
	}
	return m, nil
}

// countKeys counts the members of the top-level object of valid JSON: the
// colons at depth one outside strings. With the length of the decoded map it
// detects duplicate keys without a second, token-by-token parse.
func countKeys(data []byte) int {
	n, depth, inString, escaped := 0, 0, false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		case c == ':' && depth == 1:
			n++
		}
	}
	return n
}

// decodeFields decodes a JSON object whose keys must be among fields
// (case-sensitive, no duplicates), each member into its pointer.
func decodeFields(data []byte, fields map[string]any) error {
	m, err := decodeObject(data)
	if err != nil {
		return err
	}
	for k, raw := range m {
		dst, ok := fields[k]
		if !ok {
			return fmt.Errorf("unknown key %q", k)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

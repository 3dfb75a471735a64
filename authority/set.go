package authority

import (
	"encoding/json"
	"errors"
	"slices"
)

// Set is an allow-list whose two extreme states are explicit: unrestricted
// (AnyOf) and deny-all (Only with no items, and the zero value, so that a
// forgotten field fails closed). A Set is immutable and safe for concurrent use.
type Set struct {
	any   bool
	items []string // sorted, deduplicated; never mutated once built
}

// AnyOf returns the unrestricted Set: it contains every string.
func AnyOf() Set { return Set{any: true} }

// Only returns the Set of exactly these items. Only() is deny-all.
func Only(items ...string) Set {
	s := slices.Clone(items)
	slices.Sort(s)
	return Set{items: slices.Compact(s)}
}

// Unrestricted reports whether s contains every string.
func (s Set) Unrestricted() bool { return s.any }

// Empty reports whether s is deny-all.
func (s Set) Empty() bool { return !s.any && len(s.items) == 0 }

// Items returns a sorted copy of the items: nil when s is unrestricted, an
// empty non-nil slice when s is deny-all.
func (s Set) Items() []string {
	if s.any {
		return nil
	}
	return append([]string{}, s.items...)
}

// Contains reports whether x is allowed by s.
func (s Set) Contains(x string) bool {
	if s.any {
		return true
	}
	_, found := slices.BinarySearch(s.items, x)
	return found
}

// Intersect returns the Set of strings allowed by both s and o.
func (s Set) Intersect(o Set) Set {
	switch {
	case s.any:
		return o
	case o.any:
		return s
	}
	var out []string
	for _, x := range s.items {
		if o.Contains(x) {
			out = append(out, x)
		}
	}
	return Set{items: out}
}

// Subset reports whether every string allowed by s is allowed by o.
func (s Set) Subset(o Set) bool {
	if o.any {
		return true
	}
	if s.any {
		return false
	}
	for _, x := range s.items {
		if !o.Contains(x) {
			return false
		}
	}
	return true
}

// Equal reports whether s and o allow the same strings (it lets go-cmp
// compare Sets).
func (s Set) Equal(o Set) bool { return s.Subset(o) && o.Subset(s) }

// MarshalJSON encodes a restricted Set as an array of strings ([] for
// deny-all). The unrestricted Set has no JSON form: a containing object omits
// the field instead (as Constraints does), so marshaling it is an error.
func (s Set) MarshalJSON() ([]byte, error) {
	if s.any {
		return nil, errors.New("authority: an unrestricted Set is encoded by omitting its field")
	}
	return json.Marshal(s.Items())
}

// UnmarshalJSON decodes an array of strings; null is an error (fail closed).
func (s *Set) UnmarshalJSON(data []byte) error {
	items, err := decodeStrings(data)
	if err != nil {
		return err
	}
	*s = Only(items...)
	return nil
}

// decodeStrings decodes a JSON array of strings, rejecting null.
func decodeStrings(data []byte) ([]string, error) {
	if string(data) == "null" {
		return nil, errors.New("expected an array of strings, got null")
	}
	var items []string
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, err
	}
	return items, nil
}

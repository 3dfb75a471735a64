package gateway

import (
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// Parse once: the envelope decoder records the top-level members of a
// message's params and result while it validates them (envelope.go), so the
// decision (tool name and arguments, requestState, uri) and the relay (list
// members, task, isError) look members up here instead of scanning the bytes
// again. A member's name and value are sub-slices of the message as received.

// member is one top-level member of an object: its name exactly as sent
// (quoted, escapes kept) and its value.
type member struct {
	name  jsontext.Value
	value jsontext.Value
}

// members are an object's members in order. Names are unique (the decoder
// refuses duplicate names), but two may differ only by case.
type members []member

// is reports whether the quoted name q is name once unescaped.
func (mb member) is(name string) bool {
	q := mb.name
	if len(q) < 2 {
		return false
	}
	if !hasEscape(q) {
		return string(q[1:len(q)-1]) == name
	}
	return unquote(q) == name
}

// foldsTo reports whether the name differs from name only by case (Unicode
// simple folding, as Go's encoding/json matches struct fields).
func (mb member) foldsTo(name string) bool {
	q := mb.name
	if len(q) < 2 {
		return false
	}
	if hasEscape(q) {
		s := unquote(q)
		return s != name && strings.EqualFold(s, name)
	}
	s := q[1 : len(q)-1]
	return string(s) != name && strings.EqualFold(string(s), name)
}

func hasEscape(q jsontext.Value) bool {
	for _, c := range q {
		if c == '\\' {
			return true
		}
	}
	return false
}

// get returns the value of member name and whether it is present.
func (ms members) get(name string) (jsontext.Value, bool) {
	for _, mb := range ms {
		if mb.is(name) {
			return mb.value, true
		}
	}
	return nil, false
}

// lookup returns the value of member name (nil when absent), and ambiguous
// when another member differs from name only by case: a decoder that matches
// keys case-insensitively could read that one instead.
func (ms members) lookup(name string) (v jsontext.Value, ambiguous bool) {
	for _, mb := range ms {
		switch {
		case mb.is(name):
			v = mb.value
		case mb.foldsTo(name):
			ambiguous = true
		}
	}
	return v, ambiguous
}

// strict returns the values of names present in ms, and false when a member
// differs from one of names only by case (strictParams' rule).
func (ms members) strict(names ...string) (map[string]jsontext.Value, bool) {
	out := make(map[string]jsontext.Value, len(names))
	for _, n := range names {
		v, ambiguous := ms.lookup(n)
		if ambiguous {
			return out, false
		}
		if v != nil {
			out[n] = v
		}
	}
	return out, true
}

// stringOf returns member name of ms as a Go string; false when absent or
// not a string.
func (ms members) stringOf(name string) (string, bool) {
	v, ok := ms.get(name)
	if !ok {
		return "", false
	}
	return stringValue(v)
}

// paramsStrict is strictParams(m.params, names...) without a rescan.
func (m *message) paramsStrict(names ...string) (map[string]jsontext.Value, bool) {
	if m.params.Kind() != '{' {
		return map[string]jsontext.Value{}, false
	}
	return m.paramsMembers.strict(names...)
}

// callParams is callParams(m.params) without a rescan: the tool name ("" when
// absent or not a string), the raw arguments, and false when a member differs
// from "name" or "arguments" only by case.
func (m *message) callParams() (name string, args jsontext.Value, ok bool) {
	if m.params.Kind() != '{' {
		return "", nil, true
	}
	nv, amb1 := m.paramsMembers.lookup("name")
	args, amb2 := m.paramsMembers.lookup("arguments")
	if amb1 || amb2 {
		return "", nil, false
	}
	name, _ = stringValue(nv)
	return name, args, true
}

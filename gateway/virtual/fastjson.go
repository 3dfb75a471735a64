package virtual

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"

	"github.com/go-json-experiment/json/jsontext"
)

// Decoding without reflection: a message's top-level members and an
// object's members are read with jsontext, their values kept raw (copied
// out of the decoder's buffer). encoding/json's reflection was a third of
// the virtual server's own work per call.

var errNotObject = errors.New("not a JSON object")

// eachMember calls f with each top-level member of the object data, its
// value valid only during the call.
func eachMember(data []byte, f func(name string, value jsontext.Value) error) error {
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != '{' {
		return errNotObject
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		name := tok.String() // before the next read voids the token
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		if err := f(name, v); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	return nil
}

// decodeMessage reads a JSON-RPC message's members.
func decodeMessage(data []byte, m *message) error {
	return eachMember(data, func(name string, v jsontext.Value) error {
		switch name {
		case "id":
			m.ID = raw(v)
		case "method":
			var s string
			if v.Kind() != '"' || json.Unmarshal(v, &s) != nil {
				return errors.New("method is not a string")
			}
			m.Method = s
		case "params":
			m.Params = raw(v)
		case "result":
			m.Result = raw(v)
		case "error":
			m.Error = raw(v)
		}
		return nil
	})
}

// decodeHead reads a member's message's id and method only.
func decodeHead(data []byte, h *head) error {
	return eachMember(data, func(name string, v jsontext.Value) error {
		switch name {
		case "id":
			h.ID = raw(v)
		case "method":
			if v.Kind() == '"' {
				h.Method = unquote(v)
			}
		}
		return nil
	})
}

// unquote returns the string value v (a quoted JSON string).
func unquote(v jsontext.Value) string {
	if !bytes.ContainsRune(v, '\\') && len(v) >= 2 {
		return string(v[1 : len(v)-1])
	}
	var s string
	_ = json.Unmarshal(v, &s)
	return s
}

// appendObject appends o as a JSON object, its members sorted by name.
func appendObject(dst []byte, o object) []byte {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst, _ = jsontext.AppendQuote(dst, k)
		dst = append(dst, ':')
		dst = append(dst, o[k]...)
	}
	return append(dst, '}')
}

// raw copies v out of the decoder's buffer.
func raw(v jsontext.Value) json.RawMessage { return json.RawMessage(slices.Clone(v)) }

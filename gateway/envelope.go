package gateway

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"
)

// kind is what a JSON-RPC message is.
type kind uint8

const (
	kindRequest kind = iota + 1
	kindNotification
	kindResponse
)

// message is one decoded JSON-RPC envelope. Only the envelope is decoded:
// params and result stay as the exact bytes the peer sent, so what the gateway
// authorizes is what the upstream will parse, and relayed bytes are never
// re-encoded.
type message struct {
	raw    []byte         // the message exactly as received
	kind   kind           //
	id     jsontext.Value // raw id; nil for notifications
	method string         // requests and notifications
	params jsontext.Value // nil when absent
	result jsontext.Value // responses
	err    jsontext.Value // error responses
}

// envelopeError is a message the gateway refuses before anything else looks at
// it. code is the JSON-RPC error code to answer with.
type envelopeError struct {
	code int
	msg  string
	id   jsontext.Value // the id when it could be read, else nil (answered as null)
}

func (e *envelopeError) Error() string { return e.msg }

const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeInternal       = -32603
	// codeHeaderMismatch is MCP's HeaderMismatch (2026-07-28): Mcp-Method or
	// Mcp-Name does not repeat the body.
	codeHeaderMismatch = -32020
)

// decodeBody decodes a POST body: one message, or a JSON array of messages (a
// batch). Duplicate object names at any depth, invalid UTF-8, trailing data and
// wrong member types are rejected: a lenient parser here and a different one
// upstream could disagree on what was authorized.
func decodeBody(body []byte) (msgs []*message, batch bool, err error) {
	if !jsontext.Value(body).IsValid() {
		return nil, false, &envelopeError{code: codeParseError, msg: "parse error: " + validityError(body)}
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return decodeBatch(trimmed)
	}
	m, err := decodeMessage(trimmed)
	if err != nil {
		return nil, false, err
	}
	return []*message{m}, false, nil
}

// validityError names why body is not valid JSON, without echoing it.
func validityError(body []byte) string {
	dec := jsontext.NewDecoder(bytes.NewBuffer(body))
	if _, err := dec.ReadValue(); err != nil {
		var se *jsontext.SyntacticError
		if errors.As(err, &se) {
			return fmt.Sprintf("%v at byte %d", se.Err, se.ByteOffset)
		}
		return err.Error()
	}
	return "trailing data after the JSON value"
}

func decodeBatch(body []byte) ([]*message, bool, error) {
	dec := jsontext.NewDecoder(bytes.NewBuffer(body))
	if _, err := dec.ReadToken(); err != nil { // '['
		return nil, true, &envelopeError{code: codeParseError, msg: "parse error"}
	}
	var msgs []*message
	for dec.PeekKind() != ']' {
		v, err := readValue(dec, body)
		if err != nil {
			return nil, true, &envelopeError{code: codeParseError, msg: "parse error"}
		}
		m, err := decodeMessage(v)
		if err != nil {
			return nil, true, err
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return nil, true, &envelopeError{code: codeInvalidRequest, msg: "invalid request: empty batch"}
	}
	return msgs, true, nil
}

// decodeMessage decodes one already-validated JSON value as a JSON-RPC 2.0 message.
func decodeMessage(raw []byte) (*message, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, &envelopeError{code: codeInvalidRequest, msg: "invalid request: a message must be a JSON object"}
	}
	m := &message{raw: raw}
	var version string
	var hasID bool
	dec := jsontext.NewDecoder(bytes.NewBuffer(raw))
	dec.ReadToken() // '{'; validity was checked by the caller
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, &envelopeError{code: codeParseError, msg: "parse error"}
		}
		key := name.String()
		val, err := readValue(dec, raw)
		if err != nil {
			return nil, &envelopeError{code: codeParseError, msg: "parse error"}
		}
		switch key {
		case "jsonrpc":
			if val.Kind() != '"' {
				return nil, invalid(m, `"jsonrpc" must be the string "2.0"`)
			}
			version = unquote(val)
		case "id":
			hasID = true
			if k := val.Kind(); k != '"' && k != '0' && k != 'n' {
				return nil, invalid(m, `"id" must be a string or a number`)
			}
			m.id = val
		case "method":
			if val.Kind() != '"' {
				return nil, invalid(m, `"method" must be a string`)
			}
			m.method = unquote(val)
		case "params":
			if k := val.Kind(); k != '{' && k != '[' {
				return nil, invalid(m, `"params" must be an object or an array`)
			}
			m.params = val
		case "result":
			m.result = val
		case "error":
			if val.Kind() != '{' {
				return nil, invalid(m, `"error" must be an object`)
			}
			m.err = val
		default:
			return nil, invalid(m, fmt.Sprintf("unknown member %q", key))
		}
	}
	if version != "2.0" {
		return nil, invalid(m, `"jsonrpc" must be "2.0"`)
	}
	return m, classify(m, hasID)
}

func classify(m *message, hasID bool) error {
	isNull := hasID && m.id.Kind() == 'n'
	switch {
	case m.method != "" && (m.result != nil || m.err != nil):
		return invalid(m, "a message cannot have both a method and a result or error")
	case m.method != "" && isNull:
		return invalid(m, `a request "id" must not be null`)
	case m.method != "" && hasID:
		m.kind = kindRequest
	case m.method != "":
		m.kind = kindNotification
	case !hasID:
		return invalid(m, `a message needs a "method" or an "id"`)
	case (m.result == nil) == (m.err == nil):
		return invalid(m, `a response needs exactly one of "result" and "error"`)
	case isNull && m.err == nil:
		return invalid(m, `only an error response may have a null "id"`)
	default:
		m.kind = kindResponse
	}
	return nil
}

func invalid(m *message, msg string) error {
	return &envelopeError{code: codeInvalidRequest, msg: "invalid request: " + msg, id: m.id}
}

// readValue reads the next value of dec, which decodes src, and returns it as
// a sub-slice of src: jsontext voids the slices it returns on the next read,
// and a sub-slice costs no copy.
func readValue(dec *jsontext.Decoder, src []byte) (jsontext.Value, error) {
	v, err := dec.ReadValue()
	if err != nil {
		return nil, err
	}
	end := int(dec.InputOffset())
	return jsontext.Value(src[end-len(v) : end]), nil
}

// unquote returns the Go string of a JSON string value that is known valid.
func unquote(v jsontext.Value) string {
	tok, err := jsontext.NewDecoder(bytes.NewBuffer(v)).ReadToken()
	if err != nil {
		return ""
	}
	return tok.String()
}

// memberOf returns the raw value of one member of a JSON object value, and
// whether it was present. obj must be valid (decodeBody checked it).
func memberOf(obj jsontext.Value, name string) (jsontext.Value, bool) {
	if obj.Kind() != '{' {
		return nil, false
	}
	dec := jsontext.NewDecoder(bytes.NewBuffer(obj))
	dec.ReadToken()
	for dec.PeekKind() != '}' {
		k, err := dec.ReadToken()
		if err != nil {
			return nil, false
		}
		if k.String() == name {
			v, err := readValue(dec, obj)
			return v, err == nil
		}
		if err := dec.SkipValue(); err != nil {
			return nil, false
		}
	}
	return nil, false
}

// stringMember returns a string member of obj; ok is false when it is absent
// or not a string.
func stringMember(obj jsontext.Value, name string) (string, bool) {
	v, ok := memberOf(obj, name)
	if !ok || v.Kind() != '"' {
		return "", false
	}
	return unquote(v), true
}

// rewriteMember returns obj with the value of member name replaced by fn's
// result; names and other members keep their exact bytes and order.
func rewriteMember(obj jsontext.Value, name string, fn func(jsontext.Value) (jsontext.Value, error)) (jsontext.Value, error) {
	if obj.Kind() != '{' {
		return nil, errors.New("result is not an object")
	}
	dec := jsontext.NewDecoder(bytes.NewBuffer(obj))
	dec.ReadToken()
	var b bytes.Buffer
	b.WriteByte('{')
	for first := true; dec.PeekKind() != '}'; first = false {
		k, err := readValue(dec, obj)
		if err != nil {
			return nil, err
		}
		v, err := readValue(dec, obj)
		if err != nil {
			return nil, err
		}
		if unquote(k) == name {
			if v, err = fn(v); err != nil {
				return nil, err
			}
		}
		if !first {
			b.WriteByte(',')
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// joinBatch encodes msgs as one JSON-RPC batch.
func joinBatch(msgs [][]byte) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(m)
	}
	b.WriteByte(']')
	return b.Bytes()
}

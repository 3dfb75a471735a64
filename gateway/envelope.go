package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

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

	// paramsMembers and resultMembers are the top-level members of params
	// and result when they are objects (members.go), recorded while the
	// message was decoded; memberBuf holds the first of them.
	paramsMembers, resultMembers members
	memberBuf                    [4]member
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
//
// The body is scanned once: the strict decoder that validates it also reads
// the envelope and records the top-level members of params and result
// (members.go). Only when that fails is the body scanned again, to answer a
// body that is not valid JSON with a parse error whatever came first.
func decodeBody(body []byte) (msgs []*message, batch bool, err error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	batch = len(trimmed) > 0 && trimmed[0] == '['
	if batch {
		msgs, err = decodeBatch(trimmed)
	} else {
		var m *message
		if m, err = decodeSingle(trimmed); err == nil {
			msgs = []*message{m}
		}
	}
	if err != nil {
		if !jsontext.Value(body).IsValid() {
			return nil, false, &envelopeError{code: codeParseError, msg: "parse error: " + validityError(body)}
		}
		return nil, batch, err
	}
	return msgs, batch, nil
}

// errParse is a syntax error met by the one-pass decoder; decodeBody answers
// it with the parse error that names where the body is invalid.
var errParse = &envelopeError{code: codeParseError, msg: "parse error"}

// validityError names why body is not valid JSON, without echoing it.
func validityError(body []byte) string {
	dec := getDecoder(body)
	defer putDecoder(dec)
	if _, err := dec.ReadValue(); err != nil {
		var se *jsontext.SyntacticError
		if errors.As(err, &se) {
			return fmt.Sprintf("%v at byte %d", se.Err, se.ByteOffset)
		}
		return err.Error()
	}
	return "trailing data after the JSON value"
}

// decodeSingle decodes a body holding one message; raw is the body without
// its leading white space.
func decodeSingle(raw []byte) (*message, error) {
	dec := getDecoder(raw)
	defer putDecoder(dec)
	m, err := decodeMessage(dec, raw)
	if err != nil {
		return nil, err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, errParse // trailing data
	}
	m.raw = raw
	return m, nil
}

func decodeBatch(body []byte) ([]*message, error) {
	dec := getDecoder(body)
	defer putDecoder(dec)
	if _, err := dec.ReadToken(); err != nil { // '['
		return nil, errParse
	}
	var msgs []*message
	for dec.PeekKind() != ']' {
		m, err := decodeMessage(dec, body)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	if _, err := dec.ReadToken(); err != nil { // ']'
		return nil, errParse
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, errParse // trailing data
	}
	if len(msgs) == 0 {
		return nil, &envelopeError{code: codeInvalidRequest, msg: "invalid request: empty batch"}
	}
	return msgs, nil
}

// decodeMessage decodes the next value of dec, which reads src, as a
// JSON-RPC 2.0 message. It validates the value as it goes (dec is strict), so
// a message it returns is valid JSON; m.raw is its sub-slice of src.
func decodeMessage(dec *jsontext.Decoder, src []byte) (*message, error) {
	if dec.PeekKind() != '{' {
		if _, err := dec.ReadValue(); err != nil {
			return nil, errParse
		}
		return nil, &envelopeError{code: codeInvalidRequest, msg: "invalid request: a message must be a JSON object"}
	}
	m := &message{}
	var version string
	var hasID bool
	dec.ReadToken() // '{'
	start := int(dec.InputOffset()) - 1
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, errParse
		}
		key := name.String()
		var val jsontext.Value
		if (key == "params" || key == "result") && dec.PeekKind() == '{' {
			var ms members
			buf := m.memberBuf[:0]
			if m.paramsMembers != nil || m.resultMembers != nil {
				buf = nil // both present (refused by classify): the buffer is taken
			}
			val, ms, err = readObject(dec, src, buf)
			if key == "params" {
				m.paramsMembers = ms
			} else {
				m.resultMembers = ms
			}
		} else {
			val, err = readValue(dec, src)
		}
		if err != nil {
			return nil, errParse
		}
		switch key {
		case "jsonrpc":
			if val.Kind() != '"' {
				return nil, invalid(m, `"jsonrpc" must be the string "2.0"`)
			}
			version = "2.0"
			if string(val) != `"2.0"` {
				version = unquote(val)
			}
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
			m.method = methodName(val)
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
	if _, err := dec.ReadToken(); err != nil { // '}'
		return nil, errParse
	}
	m.raw = src[start:dec.InputOffset()]
	if version != "2.0" {
		return nil, invalid(m, `"jsonrpc" must be "2.0"`)
	}
	return m, classify(m, hasID)
}

// readObject reads the object next in dec, which reads src, recording its
// top-level members into ms (appended: pass a reusable slice).
func readObject(dec *jsontext.Decoder, src []byte, ms members) (jsontext.Value, members, error) {
	if _, err := dec.ReadToken(); err != nil { // '{'
		return nil, nil, err
	}
	start := int(dec.InputOffset()) - 1
	for dec.PeekKind() != '}' {
		k, err := readValue(dec, src)
		if err != nil {
			return nil, nil, err
		}
		v, err := readValue(dec, src)
		if err != nil {
			return nil, nil, err
		}
		ms = append(ms, member{name: k, value: v})
	}
	if _, err := dec.ReadToken(); err != nil { // '}'
		return nil, nil, err
	}
	return jsontext.Value(src[start:dec.InputOffset()]), ms, nil
}

// knownMethods are returned by methodName without allocating a string.
var knownMethods = []string{"tools/call", "tools/list", "initialize", "notifications/initialized", "ping",
	"resources/read", "resources/list", "prompts/get", "prompts/list", "notifications/progress",
	"notifications/cancelled", "notifications/message"}

// methodName returns the Go string of a method, a JSON string value.
func methodName(v jsontext.Value) string {
	if !hasEscape(v) {
		for _, k := range knownMethods {
			if string(v[1:len(v)-1]) == k {
				return k
			}
		}
		return string(v[1 : len(v)-1])
	}
	return unquote(v)
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
	if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1]) // nothing escaped: the bytes between the quotes
	}
	dec := getDecoder(v)
	defer putDecoder(dec)
	tok, err := dec.ReadToken()
	if err != nil {
		return ""
	}
	return tok.String()
}

// decoders recycles the gateway's strict JSON decoders. A new decoder grows
// its stacks of object names and namespaces (the duplicate-name checks) for
// every message it reads: about 30 allocations of a tools/call's 400 (the
// client, gateway and upstream of BenchmarkToolsCall together).
var decoders = sync.Pool{New: func() any { return new(jsontext.Decoder) }}

// noInput is what a decoder reads while it waits in the pool: nothing of the
// last message is kept. No decoder reads it (Reset replaces it first).
var noInput = bytes.NewReader(nil)

// getDecoder returns a strict decoder (duplicate names and invalid UTF-8 are
// errors) reading b in place: the values it returns are sub-slices of b, and
// stay valid after putDecoder.
func getDecoder(b []byte) *jsontext.Decoder {
	d := decoders.Get().(*jsontext.Decoder)
	d.Reset(bytes.NewBuffer(b))
	return d
}

// putDecoder returns d to the pool; d is not used after.
func putDecoder(d *jsontext.Decoder) {
	d.Reset(noInput)
	decoders.Put(d)
}

// memberOf returns the raw value of one member of a JSON object value, and
// whether it was present. obj must be valid (decodeBody checked it).
func memberOf(obj jsontext.Value, name string) (jsontext.Value, bool) {
	if obj.Kind() != '{' {
		return nil, false
	}
	dec := getDecoder(obj)
	defer putDecoder(dec)
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
	dec := getDecoder(obj)
	defer putDecoder(dec)
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

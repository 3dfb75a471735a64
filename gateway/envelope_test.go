package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

func TestDecodeBody(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		kinds []kind
		code  int // 0 = valid
	}{
		{"request", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, []kind{kindRequest}, 0},
		{"string id", `{"jsonrpc":"2.0","id":"a","method":"ping","params":{}}`, []kind{kindRequest}, 0},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, []kind{kindNotification}, 0},
		{"response", `{"jsonrpc":"2.0","id":1,"result":{}}`, []kind{kindResponse}, 0},
		{"error response null id", `{"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"x"}}`, []kind{kindResponse}, 0},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]`, []kind{kindRequest, kindNotification}, 0},
		{"null id request", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, nil, codeInvalidRequest},
		{"result and error", `{"jsonrpc":"2.0","id":1,"result":{},"error":{}}`, nil, codeInvalidRequest},
		{"method and result", `{"jsonrpc":"2.0","id":1,"method":"x","result":{}}`, nil, codeInvalidRequest},
		{"nothing", `{"jsonrpc":"2.0"}`, nil, codeInvalidRequest},
		{"params a string", `{"jsonrpc":"2.0","id":1,"method":"x","params":"p"}`, nil, codeInvalidRequest},
		{"not an object", `42`, nil, codeInvalidRequest},
		{"duplicate top-level", `{"jsonrpc":"2.0","id":1,"id":2,"method":"x"}`, nil, codeParseError},
		{"deep duplicate", `{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":[{"b":1,"b":2}]}}`, nil, codeParseError},
		{"escaped duplicate", `{"jsonrpc":"2.0","id":1,"method":"x","params":{"name":"a","n\u0061me":"b"}}`, nil, codeParseError},
		{"invalid utf-8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\\u0000\xc3\x28\"}", nil, codeParseError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msgs, _, err := decodeBody([]byte(c.body))
			if c.code != 0 {
				ee, ok := err.(*envelopeError)
				if !ok || ee.code != c.code {
					t.Fatalf("err = %v, want code %d", err, c.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range msgs {
				if m.kind != c.kinds[i] {
					t.Fatalf("message %d kind %d, want %d", i, m.kind, c.kinds[i])
				}
			}
		})
	}
}

// FuzzDecodeBody: the envelope decoder never panics, and whatever it accepts
// the standard library parses to the same method and id (no parser
// differential between what is authorized and what an upstream reads).
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"amount":5}}}`,
		`[{"jsonrpc":"2.0","id":"a","method":"ping"},{"jsonrpc":"2.0","id":2,"result":{"tools":[]}}]`,
		`{"jsonrpc":"2.0","method":"n"}`, `{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"m"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, _, err := decodeBody(body)
		if err != nil {
			// One pass decides validity as it goes: a parse error exactly when
			// the body is not valid JSON, whatever envelope error came first.
			var ee *envelopeError
			if !errors.As(err, &ee) || (ee.code == codeParseError) == jsontext.Value(body).IsValid() {
				t.Fatalf("%q: %v (valid JSON: %v)", body, err, jsontext.Value(body).IsValid())
			}
			return
		}
		for _, m := range msgs {
			var std struct {
				Method string          `json:"method"`
				ID     json.RawMessage `json:"id"`
				Params json.RawMessage `json:"params"`
			}
			if err := json.Unmarshal(m.raw, &std); err != nil {
				t.Fatalf("accepted %q, which encoding/json rejects: %v", m.raw, err)
			}
			if std.Method != m.method {
				t.Fatalf("method %q vs encoding/json %q", m.method, std.Method)
			}
			if !bytes.Equal(bytes.TrimSpace(std.ID), bytes.TrimSpace(m.id)) && m.id != nil {
				t.Fatalf("id %s vs encoding/json %s", m.id, std.ID)
			}
			checkMembers(t, m.params, m.paramsMembers)
			checkMembers(t, m.result, m.resultMembers)
			if !jsontext.Value(m.raw).IsValid() {
				t.Fatalf("accepted %q, which is not valid JSON", m.raw)
			}
			if m.method == "tools/call" {
				name, args, ok := callParams(m.params)
				n2, a2, ok2 := m.callParams()
				if name != n2 || !bytes.Equal(args, a2) || ok != ok2 {
					t.Fatalf("%s: one pass read (%q, %s, %v), a rescan (%q, %s, %v)", m.raw, n2, a2, ok2, name, args, ok)
				}
				if !ok {
					continue // refused: an ambiguous member
				}
				var p struct{ Name string }
				json.Unmarshal(std.Params, &p)
				if p.Name != name {
					t.Fatalf("tool name %q vs encoding/json %q", name, p.Name)
				}
			}
		}
	})
}

// FuzzSSEField: SSE field parsing never panics and only matches its name.
func FuzzSSEField(f *testing.F) {
	f.Add([]byte("data: {}"))
	f.Add([]byte("id:1"))
	f.Add([]byte("database: x"))
	f.Fuzz(func(t *testing.T, line []byte) {
		v, ok := field(line, "data")
		if ok && !bytes.HasPrefix(line, []byte("data")) {
			t.Fatalf("matched %q", line)
		}
		if ok && len(line) > 4 && line[4] != ':' {
			t.Fatalf("matched a longer field name: %q", line)
		}
		_ = v
	})
}

// callParams is the reference the one-pass reading is checked against: it
// rescans params with a decoder of its own (the gateway reads the members
// the envelope decoder recorded, members.go).
func callParams(params jsontext.Value) (name string, args jsontext.Value, ok bool) {
	if params.Kind() != '{' {
		return "", nil, true
	}
	dec := jsontext.NewDecoder(bytes.NewBuffer(params))
	dec.ReadToken()
	for dec.PeekKind() != '}' {
		k, err := dec.ReadToken()
		if err != nil {
			return "", nil, false
		}
		key := k.String()
		if key != "name" && key != "arguments" && (strings.EqualFold(key, "name") || strings.EqualFold(key, "arguments")) {
			return "", nil, false
		}
		switch key {
		case "name":
			v, err := readValue(dec, params)
			if err != nil {
				return "", nil, false
			}
			if v.Kind() == '"' {
				name = unquote(v)
			}
		case "arguments":
			if args, err = readValue(dec, params); err != nil {
				return "", nil, false
			}
		default:
			if err := dec.SkipValue(); err != nil {
				return "", nil, false
			}
		}
	}
	return name, args, true
}

// checkMembers fails t when the members recorded for obj differ from what a
// rescan of obj finds.
func checkMembers(t *testing.T, obj jsontext.Value, ms members) {
	t.Helper()
	if obj.Kind() != '{' {
		if ms != nil {
			t.Fatalf("members recorded for %s, which is not an object", obj)
		}
		return
	}
	var n int
	dec := jsontext.NewDecoder(bytes.NewBuffer(obj))
	dec.ReadToken()
	for dec.PeekKind() != '}' {
		k, err := dec.ReadToken()
		if err != nil {
			t.Fatal(err)
		}
		key := k.String()
		v, err := readValue(dec, obj)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := ms.get(key)
		if !ok || !bytes.Equal(got, v) {
			t.Fatalf("member %q: recorded %s (%v), rescan %s", key, got, ok, v)
		}
		n++
	}
	if n != len(ms) {
		t.Fatalf("%d members recorded, %d in %s", len(ms), n, obj)
	}
}

// TestPooledDecodersStartAfresh: a decoder back from the pool keeps nothing of
// the message it read before, however that ended (a duplicate name deep in an
// object, invalid UTF-8, trailing data, a batch cut short): the next message
// is decided on its own.
func TestPooledDecodersStartAfresh(t *testing.T) {
	good := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"a","arguments":{"name":"b","x":{"name":"c"}}}}`
	for _, bad := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":[{"name":1,"name":2}]}}`,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\xc3\x28\"}",
		`{"jsonrpc":"2.0","id":1,"method":"x"} {}`,
		`[{"jsonrpc":"2.0","id":1,"method":"x","params":{"name":`,
	} {
		for range 3 { // whichever decoder the pool hands out
			if _, _, err := decodeBody([]byte(bad)); err == nil {
				t.Fatalf("%q accepted", bad)
			}
			msgs, _, err := decodeBody([]byte(good))
			if err != nil || len(msgs) != 1 || msgs[0].method != "tools/call" {
				t.Fatalf("after %q: %v", bad, err)
			}
			name, args, ok := msgs[0].callParams()
			if !ok || name != "a" || string(args) != `{"name":"b","x":{"name":"c"}}` {
				t.Fatalf("after %q: call params (%q, %s, %v)", bad, name, args, ok)
			}
		}
	}
}

// FuzzUnquote: unquote's shortcut for strings without escapes gives what the
// decoder gives.
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{`"plain"`, `"a\"b"`, `"\u00e9t\u00e9"`, `"été"`, `""`, `"\\"`, `"tab\t"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		tok, err := jsontext.NewDecoder(bytes.NewReader(v)).ReadToken()
		if err != nil || tok.Kind() != '"' || !jsontext.Value(v).IsValid() {
			return // unquote takes valid JSON strings only
		}
		if got := unquote(bytes.TrimSpace(v)); got != tok.String() {
			t.Fatalf("unquote(%q) = %q, want %q", v, got, tok.String())
		}
	})
}

package gateway

import (
	"bytes"
	"encoding/json"
	"testing"
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
			if m.method == "tools/call" {
				name, _, ok := callParams(m.params)
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

package bench

import (
	"errors"
	"strings"
	"testing"
)

func TestParseResponse(t *testing.T) {
	const sse = "text/event-stream"
	const js = "application/json"
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		id          string
		wantResult  string
		wantErr     string // substring; "" = no error
	}{
		{"json result", 200, js, `{"jsonrpc":"2.0","id":7,"result":{"a":1}}`, "7", `{"a":1}`, ""},
		{"json with charset", 200, js + "; charset=utf-8", `{"jsonrpc":"2.0","id":7,"result":{}}`, "7", `{}`, ""},
		{"sse result", 200, sse, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"ok\":true}}\n\n", "3", `{"ok":true}`, ""},
		{"sse notification first", 200, sse,
			"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n" +
				"id: e2\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"n\":2}}\n\n", "3", `{"n":2}`, ""},
		{"sse crlf and comment", 200, sse, ": ok\r\n\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\n\r\n", "1", `{}`, ""},
		{"sse data split over lines", 200, sse, "data: {\"jsonrpc\":\"2.0\",\ndata: \"id\":1,\"result\":{}}\n\n", "1", `{}`, ""},
		{"sse without final blank line", 200, sse, "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", "1", `{}`, ""},
		{"other id only", 200, js, `{"jsonrpc":"2.0","id":8,"result":{}}`, "7", "", "no JSON-RPC response"},
		{"string id is not number id", 200, js, `{"jsonrpc":"2.0","id":"7","result":{}}`, "7", "", "no JSON-RPC response"},
		{"json-rpc error", 200, js, `{"jsonrpc":"2.0","id":7,"error":{"code":-32001,"message":"denied: nope"}}`, "7", "", "denied: nope"},
		{"null result", 200, js, `{"jsonrpc":"2.0","id":7,"result":null}`, "7", "", "neither result nor error"},
		{"http error", 401, js, `{"error":"invalid_token"}`, "7", "", "HTTP status 401"},
		{"empty sse", 200, sse, "", "1", "", "no JSON-RPC response"},
		{"garbage", 200, js, `not json`, "1", "", "no JSON-RPC response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := parseResponse(tt.status, tt.contentType, []byte(tt.body), tt.id)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(res) != tt.wantResult {
				t.Fatalf("got %s, %v; want %s", res, err, tt.wantResult)
			}
		})
	}
}

func TestParseResponseRPCErrorType(t *testing.T) {
	_, err := parseResponse(200, "application/json", []byte(`{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad"}}`), "1")
	var re *RPCError
	if !errors.As(err, &re) || re.Code != -32602 {
		t.Fatalf("err = %#v, want *RPCError with code -32602", err)
	}
}

func TestCheckToolResult(t *testing.T) {
	tests := []struct {
		result  string
		wantErr bool
	}{
		{`{"content":[{"type":"text","text":"hi"}]}`, false},
		{`{"content":[],"isError":false}`, false},
		{`{"content":[{"type":"text","text":"boom"}],"isError":true}`, true},
		{`[]`, true},
	}
	for _, tt := range tests {
		if err := checkToolResult([]byte(tt.result)); (err != nil) != tt.wantErr {
			t.Errorf("checkToolResult(%s) = %v, want error %v", tt.result, err, tt.wantErr)
		}
	}
}

func TestCountTools(t *testing.T) {
	tests := []struct {
		result  string
		want    int
		wantErr bool
	}{
		{`{"tools":[{"name":"a"},{"name":"b"}]}`, 2, false},
		{`{"tools":[]}`, 0, false},
		{`{"nextCursor":"x"}`, 0, true},
		{`{"tools":{}}`, 0, true},
	}
	for _, tt := range tests {
		n, err := CountTools([]byte(tt.result))
		if n != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("CountTools(%s) = %d, %v; want %d, error %v", tt.result, n, err, tt.want, tt.wantErr)
		}
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeServer answers initialize with a session id, and tools/list in two pages:
// the first as JSON, the second as an SSE stream with a notification first.
func fakeServer(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			return
		}
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Cursor string `json:"cursor"`
			} `json:"params"`
		}
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			t.Errorf("decode: %v", err)
			return
		}
		if msg.Method != "initialize" && r.Header.Get("Mcp-Session-Id") != "s1" {
			http.Error(w, "no session", http.StatusBadRequest)
			return
		}
		switch {
		case msg.Method == "initialize":
			w.Header().Set("Mcp-Session-Id", "s1")
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{}}`, msg.ID)
		case msg.Method == "notifications/initialized":
			w.WriteHeader(http.StatusAccepted)
		case msg.Method == "tools/list" && msg.Params.Cursor == "":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"tools":[{"name":"a"},{"name":"b"}],"nextCursor":"p2"}}`, msg.ID)
		case msg.Method == "tools/list" && msg.Params.Cursor == "p2":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n")
			fmt.Fprintf(w, "id: 7\ndata: {\"jsonrpc\":\"2.0\",\"id\":%s,\n", msg.ID)
			fmt.Fprint(w, "data: \"result\":{\"tools\":[{\"name\":\"c\"}]}}\n\n")
		default:
			http.Error(w, "unexpected "+msg.Method, http.StatusBadRequest)
		}
	})
}

func TestListTools(t *testing.T) {
	srv := httptest.NewServer(fakeServer(t))
	defer srv.Close()
	c := &client{url: srv.URL, http: &http.Client{Timeout: 10 * time.Second}}
	got, err := c.listTools()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Errorf("tools = %v, want [a b c]", got)
	}
}

func TestReadSSEResponse(t *testing.T) {
	tests := []struct {
		name, body string
		wantErr    bool
	}{
		{"single event", "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n", false},
		{"no trailing blank line", "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", false},
		{"other id only", "data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n\n", true},
		{"garbage", "data: {not json\n\n", true},
		{"empty", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readSSEResponse(strings.NewReader(tt.body), "1")
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

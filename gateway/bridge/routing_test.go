package bridge_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/openlegant/legant/gateway/bridge"
)

// rawSession speaks the Streamable HTTP transport by hand, to check what
// goes on which stream.
type rawSession struct {
	t  *testing.T
	h  http.Handler
	id string
}

func openRaw(t *testing.T, h http.Handler) *rawSession {
	t.Helper()
	s := &rawSession{t: t, h: h}
	resp := s.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",` +
		`"capabilities":{"elicitation":{}},"clientInfo":{"name":"raw","version":"1"}}}`)
	s.id = resp.Header.Get("Mcp-Session-Id")
	if s.id == "" {
		t.Fatal("initialize: no Mcp-Session-Id")
	}
	if evs := readAll(t, resp); len(evs) != 1 || evs[0].ID != "0" {
		t.Fatalf("initialize stream = %+v", evs)
	}
	if resp := s.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("initialized: status %d", resp.StatusCode)
	}
	return s
}

func (s *rawSession) do(method, body string) *http.Response {
	s.t.Helper()
	req, _ := http.NewRequest(method, "http://bridge.invalid/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if s.id != "" {
		req.Header.Set("Mcp-Session-Id", s.id)
	}
	resp, err := bridge.Transport(s.h).RoundTrip(req)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (s *rawSession) post(body string) *http.Response { return s.do(http.MethodPost, body) }

// event is the JSON-RPC message of one SSE event, loosely decoded.
type event struct {
	ID     string
	Method string
	Params json.RawMessage
	Result json.RawMessage
	Error  json.RawMessage
}

// next reads the next message event of a stream; ok is false at its end.
func next(t *testing.T, br *bufio.Reader) (ev event, ok bool) {
	t.Helper()
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF {
			return event{}, false
		}
		if err != nil {
			t.Fatal(err)
		}
		data, found := strings.CutPrefix(strings.TrimRight(line, "\n"), "data: ")
		if !found {
			continue
		}
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		return event{ID: strings.Trim(string(m.ID), `"`), Method: m.Method, Params: m.Params, Result: m.Result, Error: m.Error}, true
	}
}

func readAll(t *testing.T, resp *http.Response) []event {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q, status %d", ct, resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	var evs []event
	for {
		ev, ok := next(t, br)
		if !ok {
			return evs
		}
		evs = append(evs, ev)
	}
}

// Without a standalone stream, a request the server sends mid-call goes on
// the call's own stream; the client's answer is a POST of its own.
func TestServerRequestOnPostStream(t *testing.T) {
	s := openRaw(t, newStdio(t, []string{stdioServer}, nil, bridge.Options{}))
	resp := s.post(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ask","arguments":{}}}`)
	br := bufio.NewReader(resp.Body)
	ev, ok := next(t, br)
	if !ok || ev.Method != "elicitation/create" || ev.ID == "" {
		t.Fatalf("first event = %+v, want an elicitation request", ev)
	}
	answer := fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{"action":"decline"}}`, quoteID(ev.ID))
	if r := s.post(answer); r.StatusCode != http.StatusAccepted {
		t.Fatalf("answer: status %d", r.StatusCode)
	}
	ev, ok = next(t, br)
	if !ok || ev.ID != "7" || !strings.Contains(string(ev.Result), "user chose decline") {
		t.Fatalf("second event = %+v, want the call's result", ev)
	}
	if ev, ok := next(t, br); ok {
		t.Fatalf("the stream went on after the response: %+v", ev)
	}
}

// quoteID restores the JSON form of an id read by next.
func quoteID(id string) string {
	if strings.Trim(id, "0123456789") == "" {
		return id
	}
	return `"` + id + `"`
}

// Concurrent calls each get their own progress notifications and response.
func TestProgressRoutedByToken(t *testing.T) {
	s := openRaw(t, newStdio(t, []string{stdioServer}, nil, bridge.Options{}))
	// The streams are opened first and read concurrently afterwards.
	resps := make([]*http.Response, 3)
	for i := range resps {
		resps[i] = s.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"count","arguments":{"n":4},"_meta":{"progressToken":"t%d"}}}`, 10+i, i))
	}
	var wg sync.WaitGroup
	bodies := make([]string, len(resps))
	for i, resp := range resps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := io.ReadAll(resp.Body)
			bodies[i] = string(b)
		}()
	}
	wg.Wait()
	for i, body := range bodies {
		evs := readAll(t, &http.Response{Header: resps[i].Header, Body: io.NopCloser(strings.NewReader(body))})
		if len(evs) != 5 {
			t.Fatalf("call %d: %d events, want 4 progress + 1 response: %+v", i, len(evs), evs)
		}
		for _, ev := range evs[:4] {
			if ev.Method != "notifications/progress" || !strings.Contains(string(ev.Params), fmt.Sprintf(`"t%d"`, i)) {
				t.Errorf("call %d got %s %s", i, ev.Method, ev.Params)
			}
		}
		if last := evs[4]; last.ID != fmt.Sprint(10+i) || last.Result == nil {
			t.Errorf("call %d: last event %+v", i, last)
		}
	}
}

// A 2025-03-26 batch of calls is answered on one stream.
func TestBatch(t *testing.T) {
	s := openRaw(t, newStdio(t, []string{stdioServer}, nil, bridge.Options{}))
	evs := readAll(t, s.post(`[{"jsonrpc":"2.0","id":"a","method":"ping"},`+
		`{"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}},`+
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"none","progress":1}}]`))
	got := map[string]bool{}
	for _, ev := range evs {
		got[ev.ID] = ev.Result != nil
	}
	if len(evs) != 2 || !got["a"] || !got["b"] {
		t.Fatalf("batch answered with %+v", evs)
	}
}

func TestRefusals(t *testing.T) {
	h := newStdio(t, []string{stdioServer}, nil, bridge.Options{})
	s := openRaw(t, h)
	get := s.do(http.MethodGet, "")
	if get.StatusCode != http.StatusOK {
		t.Fatalf("GET: status %d", get.StatusCode)
	}
	tests := []struct {
		name   string
		method string
		body   string
		want   int
	}{
		{"second standalone stream", http.MethodGet, "", http.StatusConflict},
		{"not JSON", http.MethodPost, "{", http.StatusBadRequest},
		{"empty batch", http.MethodPost, "[]", http.StatusBadRequest},
		{"duplicate id in a batch", http.MethodPost, `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":1,"method":"ping"}]`, http.StatusBadRequest},
		{"method", http.MethodPut, "", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.do(tt.method, tt.body).StatusCode; got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
		})
	}
}

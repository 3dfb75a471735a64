package gateway_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const init20251125 = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// rawStream is a client's view of one response: status, headers and its body
// read event by event, bytes untouched.
type rawStream struct {
	resp *http.Response
	br   *bufio.Reader
}

func openRaw(t *testing.T, method, url, token string, header map[string]string, body string) *rawStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &rawStream{resp: resp, br: bufio.NewReader(resp.Body)}
}

// event returns the next raw event, up to and including its blank line.
func (s *rawStream) event() (string, error) {
	var b strings.Builder
	for {
		line, err := s.br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\n" || line == "\r\n" {
			return b.String(), nil
		}
	}
}

// rest reads the stream to its end.
func (s *rawStream) rest() (string, error) {
	b, err := io.ReadAll(s.br)
	return string(b), err
}

func (s *rawStream) close() { s.resp.Body.Close() }

// eventField returns the value of field name in a raw event ("" if none).
func eventField(raw, name string) string {
	for _, l := range strings.Split(strings.ReplaceAll(raw, "\r\n", "\n"), "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			return strings.TrimPrefix(v, " ")
		}
	}
	return ""
}

// rawUpstream is an MCP upstream written by hand: it answers initialize with
// JSON and every other request with the event stream stream(method) returns.
func rawUpstream(stream func(method string, w http.ResponseWriter)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method != http.MethodPost:
			w.WriteHeader(http.StatusMethodNotAllowed)
		case strings.Contains(string(body), `"initialize"`):
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Mcp-Session-Id", "raw-upstream-session")
			io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"raw","version":"1"}}}`)
		case !strings.Contains(string(body), `"id"`):
			w.WriteHeader(http.StatusAccepted)
		default:
			method := strings.SplitN(strings.SplitN(string(body), `"method":"`, 2)[1], `"`, 2)[0]
			w.Header().Set("Content-Type", "text/event-stream")
			stream(method, w)
		}
	})
}

// rawSession opens a session through the gateway and returns its headers.
func rawSession(t *testing.T, r *rig, token string) map[string]string {
	t.Helper()
	init := rawPost(t, r.endpoint(), token, nil, init20251125)
	if init.status != http.StatusOK {
		t.Fatalf("initialize: %d %s", init.status, init.body)
	}
	h := map[string]string{"Mcp-Session-Id": init.header.Get("Mcp-Session-Id"), "Mcp-Protocol-Version": "2025-11-25"}
	if got := rawPost(t, r.endpoint(), token, h, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); got.status != http.StatusAccepted {
		t.Fatalf("initialized: %d %s", got.status, got.body)
	}
	return h
}

const countCall = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"count","arguments":{"n":1},"_meta":{"progressToken":"p"}}}`

// TestSSERelayedByteForByte: every event of an upstream stream reaches the
// client exactly as sent — comments, priming events (an id with empty data),
// retry hints, CRLF line endings, multi-line data without the optional space —
// and an event the gateway must rewrite (a tool list to filter) changes only
// in its data lines.
func TestSSERelayedByteForByte(t *testing.T) {
	callStream := ": keep-alive comment\r\n\r\n" +
		"id: s1_0\r\nretry: 1500\r\ndata: \r\n\r\n" +
		"event: message\nid: s1_1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"p\",\"progress\":1}}\n\n" +
		"retry: 3000\n\n" +
		"data\n\n" +
		"id: s1_2\nevent: message\ndata:{\"jsonrpc\":\"2.0\",\n:inner comment\ndata: \"id\":2,\"result\":{\"content\":[]}}\n\n"
	listStream := ": before\n\n" +
		"id: s2_0\r\nretry: 700\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[{\"name\":\"count\",\"inputSchema\":{\"type\":\"object\"}},{\"name\":\"delete_all\",\"inputSchema\":{\"type\":\"object\"}}]}}\r\n: after data\r\n\r\n"
	wantList := ": before\n\n" +
		"id: s2_0\r\nretry: 700\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[{\"name\":\"count\",\"inputSchema\":{\"type\":\"object\"}}],\"cacheScope\":\"private\"}}\r\n: after data\r\n\r\n"
	r := newRig(t, rigOptions{handler: rawUpstream(func(method string, w http.ResponseWriter) {
		if method == "tools/list" {
			io.WriteString(w, listStream)
			return
		}
		io.WriteString(w, callStream)
	})})
	tok := r.token(tokenOptions{})
	h := rawSession(t, r, tok)

	call := rawPost(t, r.endpoint(), tok, h, countCall)
	if call.status != http.StatusOK || call.body != callStream {
		t.Fatalf("tools/call stream changed in the relay:\n got %q\nwant %q", call.body, callStream)
	}
	list := rawPost(t, r.endpoint(), tok, h, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`)
	if list.body != wantList {
		t.Fatalf("tools/list stream:\n got %q\nwant %q", list.body, wantList)
	}
}

// TestTruncatedUpstreamStream: an upstream stream that ends before the
// response never looks complete to the client. Without event ids (nothing to
// resume) the client gets a JSON-RPC error; with ids, a cut stream is aborted
// so the client resumes, and a stream the upstream closed cleanly (SEP-1699
// polling) ends cleanly for the client to reconnect.
func TestTruncatedUpstreamStream(t *testing.T) {
	progress := "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"p\",\"progress\":1}}\n\n"
	cases := []struct {
		name    string
		stream  string
		wantErr bool // the client gets a JSON-RPC error for the call
		abort   bool // the client's stream is aborted
	}{
		{"no ids, closed without the response", progress, true, false},
		{"no ids, cut inside an event", progress + "data: {\"jsonrpc\":\"2.0\",\"id\":2,", true, false},
		{"ids, cut inside an event", "id: a_0\ndata: \n\n" + progress + "data: {\"jsonrpc\":\"2.0\",\"id\":2,", false, true},
		{"ids, closed for the client to poll", "id: a_0\ndata: \n\n" + progress + "event: close\nretry: 10\ndata: \n\n", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{handler: rawUpstream(func(_ string, w http.ResponseWriter) {
				io.WriteString(w, tc.stream)
			})})
			tok := r.token(tokenOptions{})
			h := rawSession(t, r, tok)
			s := openRaw(t, http.MethodPost, r.endpoint(), tok, h, countCall)
			body, err := s.rest()
			if tc.abort {
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("stream not aborted: err %v, body %q", err, body)
				}
				return
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !strings.HasPrefix(body, strings.SplitN(tc.stream, "data: {\"jsonrpc\":\"2.0\",\"id\":2,", 2)[0]) {
				t.Fatalf("events before the end not relayed: %q", body)
			}
			hasErr := strings.Contains(body, `"id":2,"error"`)
			if hasErr != tc.wantErr {
				t.Fatalf("JSON-RPC error for the call: %v, want %v; body %q", hasErr, tc.wantErr, body)
			}
			if tc.wantErr {
				code, msg, _ := rpcErr(t, body[strings.LastIndex(body, "event: message\ndata: "):])
				if code != -32035 || !strings.Contains(msg, "without a response") {
					t.Fatalf("error %d %q", code, msg)
				}
			}
		})
	}
}

// writeCounter counts the writes to the connections of a listener.
type writeCounter struct {
	net.Listener
	writes atomic.Int64
}

func (l *writeCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l *writeCounter
}

func (c *countedConn) Write(p []byte) (int, error) {
	c.l.writes.Add(1)
	return c.Conn.Write(p)
}

// TestAnsweredStreamEndsInOneWrite: when the upstream's stream has ended by
// the time its last events are read (the answer and the end of the stream
// came together), the client gets them and the end of its stream in one
// write, not an event, a flush and then the end. A stream still open is
// flushed event by event: a progress notification reaches the client while
// the upstream still holds the answer.
func TestAnsweredStreamEndsInOneWrite(t *testing.T) {
	progress := "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"p\",\"progress\":1}}\n\n"
	answer := "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":[]}}\n\n"
	var held atomic.Bool // the upstream holds its answer until release
	release := make(chan struct{})
	counter := &writeCounter{}
	r := newRig(t, rigOptions{
		listener: func(l net.Listener) net.Listener { counter.Listener = l; return counter },
		handler: rawUpstream(func(_ string, w http.ResponseWriter) {
			if !held.Load() {
				io.WriteString(w, progress+answer) // one write with the end of the body
				return
			}
			io.WriteString(w, progress)
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
			io.WriteString(w, answer)
		})})
	tok := r.token(tokenOptions{})
	h := rawSession(t, r, tok)

	before := counter.writes.Load()
	s := openRaw(t, http.MethodPost, r.endpoint(), tok, h, countCall)
	body, err := s.rest()
	if err != nil || body != progress+answer {
		t.Fatalf("stream: %v %q", err, body)
	}
	if n := counter.writes.Load() - before; n != 1 {
		t.Fatalf("the response took %d writes to the client's connection, want 1", n)
	}

	held.Store(true)
	s = openRaw(t, http.MethodPost, r.endpoint(), tok, h, countCall)
	got := make(chan string, 1)
	go func() { ev, _ := s.event(); got <- ev }()
	select {
	case ev := <-got:
		if ev != progress {
			t.Fatalf("first event %q, want the progress notification", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the progress notification did not reach the client while the upstream held its answer")
	}
	close(release)
	if rest, err := s.rest(); err != nil || rest != answer {
		t.Fatalf("rest of the stream: %v %q", err, rest)
	}
}

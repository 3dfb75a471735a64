package bridge

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

func TestProgressKey(t *testing.T) {
	tests := []struct {
		name   string
		params string
		inMeta bool
		want   string
		ok     bool
	}{
		{"request string token", `{"name":"x","_meta":{"progressToken":"abc"}}`, true, "s:abc", true},
		{"request number token", `{"_meta":{"progressToken":7}}`, true, "n:7", true},
		{"1.0 is 1", `{"_meta":{"progressToken":1.0}}`, true, "n:1", true},
		{"notification token", `{"progressToken":"abc","progress":1}`, false, "s:abc", true},
		{"no meta", `{"name":"x"}`, true, "", false},
		{"token outside meta", `{"progressToken":"abc"}`, true, "", false},
		{"object token", `{"_meta":{"progressToken":{}}}`, true, "", false},
		{"null token", `{"_meta":{"progressToken":null}}`, true, "", false},
		{"no params", ``, true, "", false},
		{"params not an object", `[1]`, true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := progressKey([]byte(tt.params), tt.inMeta)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("progressKey = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestDecodeBody(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		n       int
		wantErr bool
	}{
		{"request", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 1, false},
		{"notification", ` {"jsonrpc":"2.0","method":"notifications/initialized"} `, 1, false},
		{"response", `{"jsonrpc":"2.0","id":"x","result":{}}`, 1, false},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"n"}]`, 2, false},
		{"empty batch", `[]`, 0, true},
		{"wrong version", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, 0, true},
		{"not JSON", `{`, 0, true},
		{"empty", ``, 0, true},
		{"bad batch element", `[{"jsonrpc":"2.0","id":1,"method":"ping"},3]`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := decodeBody([]byte(tt.body))
			if (err != nil) != tt.wantErr || len(msgs) != tt.n {
				t.Fatalf("decodeBody = %d messages, %v", len(msgs), err)
			}
		})
	}
}

// Params are relayed as the client wrote them (whitespace aside).
func TestParamsBytesPreserved(t *testing.T) {
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"<b>&\u2028","n":1.50,"big":12345678901234567890}}}`
	msgs, err := decodeBody([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := writeEvent(&b, msgs[0]); err != nil {
		t.Fatal(err)
	}
	want := `"params":{"name":"echo","arguments":{"text":"<b>&\u2028","n":1.50,"big":12345678901234567890}}`
	if !strings.Contains(b.String(), want) {
		t.Fatalf("re-encoded as %s", b.String())
	}
}

func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"ping"}`,
		`[{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"_meta":{"progressToken":1}}},{"jsonrpc":"2.0","id":2,"result":{}}]`,
		`{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"x"}}`,
		`[]`, `{`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := decodeBody(data)
		if err != nil {
			return
		}
		if len(msgs) == 0 {
			t.Fatal("no error and no message")
		}
		for _, m := range msgs {
			enc, err := jsonrpc.EncodeMessage(m)
			if err != nil {
				continue // e.g. params that are not valid JSON on their own are refused on the way out
			}
			if _, err := jsonrpc.DecodeMessage(enc); err != nil {
				t.Fatalf("%s re-encodes to %s, which does not decode: %v", data, enc, err)
			}
			if r, ok := m.(*jsonrpc.Request); ok {
				progressKey(r.Params, true)
				progressKey(r.Params, false)
			}
		}
	})
}

func TestOriginOf(t *testing.T) {
	tests := []struct{ url, want string }{
		{"http://Example.COM/sse", "http://example.com"},
		{"http://example.com:80/sse", "http://example.com"},
		{"https://example.com:443/", "https://example.com"},
		{"https://example.com:8443/", "https://example.com:8443"},
		{"http://[::1]:9000/x", "http://[::1]:9000"},
		{"HTTP://example.com", "http://example.com"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := originOf(u); got != tt.want {
			t.Errorf("originOf(%s) = %s, want %s", tt.url, got, tt.want)
		}
	}
}

func TestStderrLog(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   []string // logged lines, in order
	}{
		{"lines across writes", []string{"hel", "lo\nwor", "ld\n"}, []string{"hello", "world"}},
		{"CRLF", []string{"a\r\n"}, []string{"a"}},
		{"partial last line is flushed", []string{"tail"}, []string{"tail"}},
		{"long line truncated", []string{strings.Repeat("x", maxStderrLine+10) + "\nnext\n"}, []string{strings.Repeat("x", maxStderrLine), "next"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			l := newStderrLog(slog.New(captureHandler{lines: &got}))
			for _, w := range tt.writes {
				l.Write([]byte(w))
			}
			l.flush()
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("logged %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStderrLogBudget(t *testing.T) {
	var got []string
	l := newStderrLog(slog.New(captureHandler{lines: &got}))
	line := strings.Repeat("z", maxStderrLine-1) + "\n"
	for range 2 * maxStderrBytes / maxStderrLine {
		l.Write([]byte(line))
	}
	total := 0
	for _, g := range got {
		total += len(g)
	}
	if total > maxStderrBytes {
		t.Fatalf("logged %d bytes of stderr, budget %d", total, maxStderrBytes)
	}
	if len(got) == 0 || len(got) >= 2*maxStderrBytes/maxStderrLine {
		t.Fatalf("logged %d lines", len(got))
	}
}

// captureHandler keeps the "line" attribute of each record.
type captureHandler struct{ lines *[]string }

func (h captureHandler) Enabled(_ context.Context, _ slog.Level) bool { return true }
func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "line" {
			*h.lines = append(*h.lines, a.Value.String())
		}
		return true
	})
	return nil
}
func (h captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h captureHandler) WithGroup(string) slog.Handler      { return h }

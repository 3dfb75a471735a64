package bridge_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/gateway/bridge"
)

func newStdio(t *testing.T, argv []string, env map[string]string, opts bridge.Options) *bridge.Handler {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = new(logBuffer).logger()
	}
	h := bridge.NewStdio(argv, env, opts)
	t.Cleanup(func() { h.Close() })
	return h
}

func TestStdioClient(t *testing.T) {
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			h := newStdio(t, []string{stdioServer}, nil, bridge.Options{})
			exerciseClient(t, h, v, nil)
		})
	}
}

// processGone reports whether pid no longer runs (a zombie left to a
// non-reaping init counts as gone).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] == "Z"
}

func pidOf(t *testing.T, cs *mcp.ClientSession) int {
	t.Helper()
	pid, err := strconv.Atoi(callText(t, cs, "pid", nil))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestStdioDeleteKillsChild(t *testing.T) {
	tests := []struct {
		name string
		argv []string
	}{
		{"exits on stdin EOF", []string{stdioServer}},
		// Ignores EOF and SIGTERM: only the process group kill ends it.
		{"lingers", []string{stdioServer, "-linger"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newStdio(t, tt.argv, nil, bridge.Options{KillGrace: 50_000_000})
			cs := connect(t, h, "2025-11-25", nil, nil)
			pid := pidOf(t, cs)
			id := cs.ID()
			if !h.HasSession(id) {
				t.Fatal("the session is not live")
			}
			if err := cs.Close(); err != nil { // sends DELETE, answered once the child is gone
				t.Fatalf("close: %v", err)
			}
			if !processGone(pid) {
				t.Fatalf("child %d still runs after DELETE", pid)
			}
			if h.HasSession(id) {
				t.Fatal("the session outlived DELETE")
			}
			if got := postStatus(t, h, id, `{"jsonrpc":"2.0","id":1,"method":"ping"}`); got != http.StatusNotFound {
				t.Fatalf("request after DELETE: status %d, want 404", got)
			}
		})
	}
}

// postStatus POSTs body in session id through bridge.Transport and returns
// the status.
func postStatus(t *testing.T, h http.Handler, id, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://bridge.invalid/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if id != "" {
		req.Header.Set("Mcp-Session-Id", id)
	}
	resp, err := bridge.Transport(h).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestStdioChildCrashEndsSession(t *testing.T) {
	logs := new(logBuffer)
	h := newStdio(t, []string{stdioServer}, nil, bridge.Options{Logger: logs.logger()})
	cs := connect(t, h, "2025-11-25", nil, nil)
	id := cs.ID()
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "crash", Arguments: map[string]any{"code": 7}})
	if err == nil {
		t.Fatal("a call whose server crashed succeeded")
	}
	if got := postStatus(t, h, id, `{"jsonrpc":"2.0","id":99,"method":"ping"}`); got != http.StatusNotFound {
		t.Fatalf("request after the crash: status %d, want 404", got)
	}
	if got := postStatus(t, h, id, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); got != http.StatusNotFound {
		t.Fatalf("notification after the crash: status %d, want 404", got)
	}
	// The client learns it too (from the 404, or from its standalone stream
	// ending with nowhere to reconnect).
	if _, err := cs.ListTools(context.Background(), nil); err == nil {
		t.Fatal("the client still works after the crash")
	}
	h.Close() // returns once the child is reaped and its stderr drained
	// stderr reaches the log, never the client.
	for _, want := range []string{"stdioserver: started", "crashing on request", "exit status 7"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestStdioEnvironmentIsMinimal(t *testing.T) {
	t.Setenv("LEGANT_TEST_SECRET", "must-not-leak")
	h := newStdio(t, []string{stdioServer}, map[string]string{"GREETING": "hi", "HOME": "/nonexistent-home"}, bridge.Options{})
	cs := connect(t, h, "2025-11-25", nil, nil)
	var names []string
	for _, kv := range strings.Split(callText(t, cs, "env", nil), "\n") {
		name, val, _ := strings.Cut(kv, "=")
		names = append(names, name)
		if name == "HOME" && val != "/nonexistent-home" {
			t.Errorf("HOME = %q: the registry's env must win", val)
		}
	}
	want := []string{"GREETING", "HOME", "PATH"}
	for _, n := range names {
		if !strings.Contains(strings.Join(want, " "), n) {
			t.Errorf("the child sees %s; its environment must be only %v", n, want)
		}
	}
	if len(names) != len(want) {
		t.Errorf("child environment = %v, want %v", names, want)
	}
}

func TestStdioMessageTooLarge(t *testing.T) {
	h := newStdio(t, []string{stdioServer}, nil, bridge.Options{MaxMessageBytes: 4096})
	cs := connect(t, h, "2025-11-25", nil, nil)
	id := cs.ID()
	// A request body over the limit is refused; the session lives on.
	big := `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"text":"` + strings.Repeat("x", 5000) + `"}}}`
	if got := postStatus(t, h, id, big); got != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: status %d, want 413", got)
	}
	// A response line over the limit ends the session.
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": strings.Repeat("y", 3000) + strings.Repeat("é", 1000)}})
	if err == nil {
		t.Fatal("an oversized response was relayed")
	}
	if got := postStatus(t, h, id, `{"jsonrpc":"2.0","id":6,"method":"ping"}`); got != http.StatusNotFound {
		t.Fatalf("after an oversized line: status %d, want 404", got)
	}
}

func TestStdioStartFailure(t *testing.T) {
	h := newStdio(t, []string{"/nonexistent/mcp-server"}, nil, bridge.Options{})
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	if got := postStatus(t, h, "", init); got != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", got)
	}
	if got := postStatus(t, h, "", `{"jsonrpc":"2.0","id":1,"method":"ping"}`); got != http.StatusBadRequest {
		t.Fatalf("request without a session: status %d, want 400", got)
	}
}

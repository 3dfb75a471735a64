package bridge_test

import (
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/openlegant/legant/gateway/bridge"
)

// waitExit blocks until pid, which need not be our child, has exited. A
// process that never exits makes the test time out.
func waitExit(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return // exited and reaped
	}
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	defer unix.Close(fd)
	for {
		// A pidfd is readable once its process has exited.
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n != 1 {
			t.Fatalf("poll: %d %v", n, err)
		}
		return
	}
}

// A descendant the child left in its process group is killed with the
// session: the test would time out if it lived on.
func TestStdioProcessGroupKilled(t *testing.T) {
	pidFile := t.TempDir() + "/grandchild"
	script := `sleep 1000000 & echo $! > "$PIDFILE"; exec "$SERVER"`
	h := newStdio(t, []string{"sh", "-c", script}, map[string]string{"PIDFILE": pidFile, "SERVER": stdioServer}, bridge.Options{})
	cs := connect(t, h, "2025-11-25", nil, nil)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	grandchild, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if processGone(grandchild) {
		t.Fatal("the grandchild is not running to begin with")
	}
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, grandchild)
}

// A session without streams or requests for IdleTimeout ends, and its child
// with it: the test would time out if it did not.
func TestStdioIdleSessionEnds(t *testing.T) {
	logs := new(logBuffer)
	h := newStdio(t, []string{stdioServer}, nil, bridge.Options{Logger: logs.logger(), IdleTimeout: 1})
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	if got := postStatus(t, h, "", init); got != http.StatusOK {
		t.Fatalf("initialize: status %d", got)
	}
	_, rest, ok := strings.Cut(logs.String(), `msg="started the upstream process"`)
	_, rest, ok2 := strings.Cut(rest, "pid=")
	if !ok || !ok2 {
		t.Fatalf("no pid logged:\n%s", logs)
	}
	pid, err := strconv.Atoi(strings.Fields(rest)[0])
	if err != nil {
		t.Fatal(err)
	}
	waitExit(t, pid)
	if !strings.Contains(logs.String(), "ending an idle session") {
		t.Fatalf("the child exited, but not for idleness:\n%s", logs)
	}
}

package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// NewStdio returns a Handler that runs argv as a child process per session
// and speaks newline-delimited JSON-RPC with it over stdin and stdout.
//
// The child's environment is PATH and HOME of the gateway's environment
// plus env (which wins); nothing else of the gateway's environment leaks to
// it. It runs in its own process group, which is killed when the session
// ends. Its stderr is logged (lines truncated, volume bounded), never sent
// to clients. The child gets no credentials: the Authorization header of
// requests is ignored.
func NewStdio(argv []string, env map[string]string, opts Options) *Handler {
	argv, env = slices.Clone(argv), maps.Clone(env)
	var h *Handler
	h = newHandler(opts, func(_ context.Context, _ *http.Request, log *slog.Logger) (*link, error) {
		return startChild(argv, env, h.opts, log)
	})
	return h
}

// child is one running child process. Safe for concurrent use.
type child struct {
	cmd        *exec.Cmd
	conn       mcp.Connection
	stderr     *os.File // our end of the child's stderr
	log        *slog.Logger
	grace      time.Duration
	exited     chan struct{} // closed once the process is reaped
	stderrDone chan struct{} // closed once stderr is drained: every holder of it exited
	stopping   chan struct{} // closed when stop begins
	stopOnce   sync.Once
}

// startChild runs argv with its three standard streams on pipes of our own
// (*os.File, so that cmd.Wait only reaps and closes nothing we still read).
func startChild(argv []string, env map[string]string, o Options, log *slog.Logger) (*link, error) {
	if len(argv) == 0 {
		return nil, errors.New("bridge: no command to run")
	}
	var ours, theirs [3]*os.File // stdin, stdout, stderr
	closeAll := func(fs [3]*os.File) {
		for _, f := range fs {
			if f != nil {
				f.Close()
			}
		}
	}
	for i := range ours {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(ours)
			closeAll(theirs)
			return nil, fmt.Errorf("bridge: pipe: %w", err)
		}
		if i == 0 {
			ours[i], theirs[i] = w, r
		} else {
			ours[i], theirs[i] = r, w
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = childEnv(env)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = theirs[0], theirs[1], theirs[2]
	setProcessGroup(cmd)
	err := cmd.Start()
	closeAll(theirs)
	if err != nil {
		closeAll(ours)
		return nil, fmt.Errorf("bridge: start %s: %w", argv[0], err)
	}
	// IOTransport's Connect cannot fail; it frames lines and bounds their size.
	conn, _ := (&mcp.IOTransport{Reader: ours[1], Writer: ours[0], MaxLineLength: o.MaxMessageBytes}).Connect(context.Background())
	c := &child{cmd: cmd, conn: conn, stderr: ours[2], log: log, grace: o.KillGrace,
		exited: make(chan struct{}), stderrDone: make(chan struct{}), stopping: make(chan struct{})}
	log.Info("started the upstream process", "pid", cmd.Process.Pid)
	go c.wait()      // owned by c: ends once the process is reaped and, after that, within one grace
	go c.logStderr() // owned by c: ends when stderr closes; stop closes it at the latest
	return &link{conn: conn, stop: c.stop}, nil
}

// logStderr copies the child's stderr to the log, bounded.
func (c *child) logStderr() {
	defer close(c.stderrDone)
	l := newStderrLog(c.log)
	io.Copy(l, c.stderr)
	l.flush()
}

// wait reaps the process. A child that exited ends its session: if a
// descendant still holds stdout open, the connection is closed one grace
// period later so that the session's read loop sees the end.
func (c *child) wait() {
	err := c.cmd.Wait()
	select {
	case <-c.stopping:
		c.log.Debug("the upstream process exited", "err", err)
	default:
		c.log.Info("the upstream process exited", "err", err)
	}
	close(c.exited)
	t := time.NewTimer(c.grace)
	defer t.Stop()
	select {
	case <-t.C:
		c.conn.Close()
	case <-c.stopping:
	}
}

// stop closes stdin (and our end of stdout), gives the child KillGrace to
// exit, then kills its process group; once the child is reaped the group is
// killed again, sweeping descendants it left behind. It returns when the
// child is reaped and its stderr closed by everyone who held it (a
// descendant that left the group gets one more grace, then our end is
// closed).
//
// The sweep targets the group by the leader's id after the leader was
// reaped; the kernel does not reuse an id while a group of that id has
// members, so only a group that is already empty could be mistaken, and
// then only if the id was reused as a group leader in between.
func (c *child) stop() {
	c.stopOnce.Do(func() {
		close(c.stopping)
		c.conn.Close()
		t := time.NewTimer(c.grace)
		defer t.Stop()
		select {
		case <-c.exited:
		case <-t.C:
			c.log.Warn("the upstream process did not exit after stdin closed; killing its process group")
			killGroup(c.cmd)
			<-c.exited
		}
		killGroup(c.cmd)
		t.Reset(c.grace)
		select {
		case <-c.stderrDone:
		case <-t.C:
			c.stderr.Close()
			<-c.stderrDone
		}
	})
}

// childEnv is the environment of a child: PATH and HOME of ours, then env.
func childEnv(env map[string]string) []string {
	out := make([]string, 0, len(env)+2)
	for _, k := range []string{"PATH", "HOME"} {
		if _, set := env[k]; set {
			continue
		}
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

package storetest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Cluster is a throwaway PostgreSQL server a test starts on its own loopback
// port, with its data directory under t.TempDir(), so that fault tests can
// stop, freeze (SIGSTOP) and restart it without touching the shared server.
// It is stopped when the test ends. A Cluster is safe for concurrent use.
type Cluster struct {
	// URL connects to the cluster's "postgres" database as user postgres.
	URL string

	bin  string // the PostgreSQL bin directory
	data string
	port int
	cred *syscall.Credential // nil unless running as root

	mu   sync.Mutex
	cmd  *exec.Cmd // the postmaster; nil when stopped
	exit chan struct{}
}

// StartCluster initializes and starts a cluster. Without PostgreSQL's server
// binaries (/usr/lib/postgresql/*/bin) the test is skipped, unless CI=true,
// where it fails.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but PostgreSQL's server binaries (/usr/lib/postgresql/*/bin) are not installed")
		}
		t.Skip("PostgreSQL server binaries not installed (/usr/lib/postgresql/*/bin)")
	}
	sort.Strings(bins)
	c := &Cluster{bin: filepath.Dir(bins[len(bins)-1])}
	dir := t.TempDir()
	c.data = filepath.Join(dir, "data")
	if err := os.Mkdir(c.data, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 { // PostgreSQL refuses to run as root: run it as postgres
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root and no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(c.data, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	initdb := exec.Command(filepath.Join(c.bin, "initdb"), "-D", c.data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.port = FreePort(t)
	c.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	t.Cleanup(func() { c.Stop(t) })
	c.Start(t)
	return c
}

// Start starts the (stopped) cluster and waits until it accepts connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return
	}
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), "-D", c.data, "-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=50",
		"-c", "shared_buffers=16MB")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true}
	logf, err := os.Create(filepath.Join(filepath.Dir(c.data), "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("postgres: %v", err)
	}
	exit := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exit) }()
	c.cmd, c.exit = cmd, exit
	for range 200 { // at most 10 s
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", c.port), 100*time.Millisecond)
		if err == nil {
			conn.Close()
			if ping(c.URL) == nil {
				return
			}
		}
		select {
		case <-exit:
			out, _ := os.ReadFile(filepath.Join(filepath.Dir(c.data), "postgres.log"))
			t.Fatalf("postgres exited at start:\n%s", out)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("postgres did not accept connections within 10 s")
}

// Stop shuts the cluster down (fast shutdown; SIGKILL after 10 s), thawing
// it first if frozen.
func (c *Cluster) Stop(t testing.TB) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return
	}
	pid := c.cmd.Process.Pid
	for _, p := range append(children(pid), pid) {
		syscall.Kill(p, syscall.SIGCONT)
	}
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exit:
	case <-time.After(10 * time.Second):
		for _, p := range append(children(pid), pid) {
			syscall.Kill(p, syscall.SIGKILL)
		}
		<-c.exit
	}
	c.cmd = nil
}

// Freeze stops every process of the cluster with SIGSTOP: connections stay
// open and nothing answers, as with a hung server or a network partition.
func (c *Cluster) Freeze(t testing.TB) { c.signal(t, syscall.SIGSTOP) }

// Thaw resumes a frozen cluster (SIGCONT).
func (c *Cluster) Thaw(t testing.TB) { c.signal(t, syscall.SIGCONT) }

func (c *Cluster) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		t.Fatal("cluster is not running")
	}
	pid := c.cmd.Process.Pid
	// Backends call setsid(): signal the postmaster (first, so that it forks
	// no new backend) and then each of its children.
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	for _, child := range children(pid) {
		syscall.Kill(child, sig)
	}
}

// children lists the processes whose parent is pid (from /proc).
func children(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		if child, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
			out = append(out, child)
		}
	}
	return out
}

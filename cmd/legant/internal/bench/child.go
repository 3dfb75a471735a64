package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/store/storetest/freeport"
)

// childStartTimeout bounds how long a child gateway may take to serve.
const childStartTimeout = 30 * time.Second

// childGateway is `legant gateway` running as a child process, so that its
// CPU time and RSS are its own. It runs with the wiring of cmd/legant as is:
// its store (SQLite in dataDir or PostgreSQL), audit log, session store and
// revocation set.
type childGateway struct {
	url      string // http://127.0.0.1:port
	cmd      *exec.Cmd
	logPath  string
	exited   chan struct{} // closed when the process has exited
	proxy    bool          // a bare proxy (`legant bench-proxy`), not a gateway
	postgres bool          // its store is PostgreSQL
	waitErr  error         // set before exited is closed
}

// childConfig says how to start a child gateway.
type childConfig struct {
	binary      string // the legant binary
	dir         string // its own directory: registry, data, log
	keysDir     string // issuer keys it trusts
	upstreamURL string // base URL of the bench upstreams
	h2c         bool   // the registry marks the upstreams h2c: true (a bare proxy: --h2c)
	databaseURL string // "" = SQLite under dir
	proxy       bool   // run `legant bench-proxy` (the bare proxy) instead of a gateway
	afterStop   func() // nil, or run once the child has stopped (or failed to start)
	profile     string // "" or the file the child writes its CPU profile to (--cpuprofile)
	memprofile  string // "" or the file the child writes a heap profile to on SIGUSR1 (--memprofile)
	auditMode   string // "" (the default: durable, journaled), auditAsync (--audit-mode) or auditNoJournal
}

// auditAsync is the gateway's --audit-mode that queues the allow record.
const auditAsync = "async"

// auditNoJournal is the mode of a SQLite child run with --audit-journal=false
// (every audit batch a SQLite transaction on the request path).
const auditNoJournal = "nojournal"

func (cfg childConfig) cleanup() {
	if cfg.afterStop != nil {
		cfg.afterStop()
	}
}

// startChild starts `legant gateway` and waits until it serves.
func startChild(ctx context.Context, cfg childConfig) (*childGateway, error) {
	if err := os.MkdirAll(cfg.dir, 0o700); err != nil {
		return nil, err
	}
	registry := filepath.Join(cfg.dir, "legant.yaml")
	if err := os.WriteFile(registry, []byte(registryFor(cfg)), 0o600); err != nil {
		return nil, err
	}
	secret := filepath.Join(cfg.dir, "key-secret")
	if err := os.WriteFile(secret, []byte(authority.NewSecret()), 0o600); err != nil {
		return nil, err
	}
	addr, err := freeport.Addr() // below the ephemeral range
	if err != nil {
		return nil, err
	}
	c := &childGateway{url: "http://" + addr, logPath: filepath.Join(cfg.dir, "gateway.log"), exited: make(chan struct{}),
		proxy: cfg.proxy, postgres: cfg.databaseURL != ""}
	logf, err := os.Create(c.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	c.cmd = exec.Command(cfg.binary, c.args(cfg, addr, registry, secret)...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.binary, err)
	}
	go func() { c.waitErr = c.cmd.Wait(); close(c.exited) }()
	if err := c.waitReady(ctx); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

func (c *childGateway) args(cfg childConfig, addr, registry, secret string) []string {
	var prof []string
	if cfg.profile != "" {
		prof = []string{"--cpuprofile", cfg.profile}
	}
	if cfg.memprofile != "" {
		prof = append(prof, "--memprofile", cfg.memprofile)
	}
	if cfg.proxy {
		args := []string{"bench-proxy", "--listen", addr, "--upstream", cfg.upstreamURL}
		if cfg.h2c {
			args = append(args, "--h2c")
		}
		return append(args, prof...)
	}
	return append([]string{"gateway", "--listen", addr, "--upstreams", registry, "--keys", cfg.keysDir,
		"--issuer", Issuer, "--data-dir", filepath.Join(cfg.dir, "data"),
		"--database-url=" + cfg.databaseURL, // explicit: never LEGANT_DATABASE_URL by accident
		"--key-secret-file", secret,
		"--admin-listen=",    // no admin API: its fixed default port would collide between children
		"--metrics-on-main"}, // the harness reads legant_audit_append_seconds around each phase
		append(prof, auditModeArgs(cfg.auditMode)...)...)
}

func auditModeArgs(mode string) []string {
	switch mode {
	case "":
		return nil
	case auditNoJournal:
		return []string{"--audit-journal=false"}
	}
	return []string{"--audit-mode", mode}
}

// command returns the child's command line, for the report.
func (c *childGateway) command() string {
	var b bytes.Buffer
	for i, a := range c.cmd.Args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a == "" || bytes.ContainsAny([]byte(a), " \t\"'") {
			fmt.Fprintf(&b, "%q", a)
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

// waitReady polls the RFC 9728 metadata of the echo upstream until it answers.
func (c *childGateway) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, childStartTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	url := c.url + "/.well-known/oauth-protected-resource/mcp/" + SlugEcho
	if c.proxy {
		url = c.url + "/" + SlugEcho // any answer from the upstream through it
	}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || c.proxy && resp.StatusCode < 500 {
				return nil
			}
		}
		select {
		case <-c.exited:
			return fmt.Errorf("legant gateway exited (%v): %s", c.waitErr, c.logTail())
		case <-ctx.Done():
			return fmt.Errorf("legant gateway did not serve within %v: %s", childStartTimeout, c.logTail())
		case <-tick.C:
		}
	}
}

// logTail returns the end of the child's log, for errors.
func (c *childGateway) logTail() string {
	b, _ := os.ReadFile(c.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

func (c *childGateway) pid() int { return c.cmd.Process.Pid }

// cpu returns the child's CPU time so far (0 once it has exited).
func (c *childGateway) cpu() time.Duration {
	d, _ := procCPU(c.pid())
	return d
}

func (c *childGateway) memory() (Memory, error) { return procMemory(c.pid()) }

// runtimeMem has the child write its heap profile to path (heapProfile) and
// returns the runtime figures it writes beside it (path.json).
func (c *childGateway) runtimeMem(path string) (*RuntimeMem, error) {
	if err := c.heapProfile(path); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path + ".json")
	if err != nil {
		return nil, err
	}
	m := &RuntimeMem{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%s: %w", path+".json", err)
	}
	return m, nil
}

// heapProfile has the child write its heap profile (--memprofile) to path
// and waits, up to 30 seconds, until it is there.
func (c *childGateway) heapProfile(path string) error {
	before, _ := os.Stat(path)
	if err := c.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(path); err == nil && (before == nil || !os.SameFile(fi, before)) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no heap profile at %s after 30 s", path)
}

// stop ends the child: SIGTERM (it closes its streams and store), then
// SIGKILL after 10 seconds.
func (c *childGateway) stop() error {
	select {
	case <-c.exited:
		return nil
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.cmd.Process.Kill()
	}
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
	return nil
}

// auditFigures are a child gateway's audit figures from its /metrics, so far:
// the seconds its audit appends took and their count
// (legant_audit_append_seconds), and its durable writes and the events they
// carried (legant_audit_commits_total, legant_audit_committed_events_total;
// zero from a binary that does not export them).
type auditFigures struct {
	appendSeconds, appends float64
	commits, committed     float64
}

// auditAppends reads the child gateway's audit figures from its /metrics
// (--metrics-on-main). At c=1 with durable audit nearly every append is a
// call's allow record, made durable before the call is forwarded.
func (c *childGateway) auditAppends(ctx context.Context) (auditFigures, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/metrics", nil)
	if err != nil {
		return auditFigures{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return auditFigures{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return auditFigures{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseAuditAppends(resp.Body)
}

// parseAuditAppends reads the audit figures from a Prometheus text
// exposition (expfmt, as the ops tests read /metrics); the append histogram
// must be there, the commit counters may not.
func parseAuditAppends(r io.Reader) (auditFigures, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return auditFigures{}, fmt.Errorf("/metrics: %w", err)
	}
	f := fams["legant_audit_append_seconds"]
	if f == nil || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetHistogram() == nil {
		return auditFigures{}, errors.New("/metrics has no legant_audit_append_seconds histogram")
	}
	h := f.GetMetric()[0].GetHistogram()
	a := auditFigures{appendSeconds: h.GetSampleSum(), appends: float64(h.GetSampleCount())}
	counter := func(name string) float64 {
		if f := fams[name]; f != nil && len(f.GetMetric()) == 1 && f.GetMetric()[0].GetCounter() != nil {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
		return 0
	}
	a.commits, a.committed = counter("legant_audit_commits_total"), counter("legant_audit_committed_events_total")
	return a, nil
}

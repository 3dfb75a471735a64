package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/openlegant/legant/examples/killswitch/slowtool"
)

// The tests of this file run the `legant` binary, built once, as an
// operator would, and look at it only from outside: HTTP, files, its logs.

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// legantBinary builds cmd/legant into a directory removed when the test
// binary exits (TestMain).
func legantBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "legant-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		builtBin = filepath.Join(dir, "legant")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// procRig is a `legant gateway` process in front of one real MCP upstream.
type procRig struct {
	bin, dir, data, registry string
	base, admin              string // http://127.0.0.1:port of the gateway and admin listeners
	up                       *slowtool.Upstream
	upURL                    string
	cmd                      *exec.Cmd
	logs                     *syncBuffer
}

const procSlug = "work"

// newProcRig writes the registry for an upstream served by upstream (nil: a
// slowtool) and picks the ports; start runs the process.
func newProcRig(t *testing.T, upstream http.Handler) *procRig {
	t.Helper()
	r := &procRig{bin: legantBinary(t), dir: t.TempDir(), up: slowtool.New(slowtool.Options{Period: time.Millisecond})}
	if upstream == nil {
		upstream = r.up
	}
	srv := httptest.NewServer(upstream)
	t.Cleanup(srv.Close)
	r.upURL = srv.URL
	r.data = filepath.Join(r.dir, "data")
	r.registry = filepath.Join(r.dir, "legant.yaml")
	yaml := fmt.Sprintf("version: 1\nupstreams:\n  - slug: %s\n    transport: streamable-http\n    url: %s\n    tools:\n      slow:\n        scope: work:run\n", procSlug, srv.URL)
	if err := os.WriteFile(r.registry, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	r.base = fmt.Sprintf("http://127.0.0.1:%d", freeTCPPort(t))
	r.admin = fmt.Sprintf("http://127.0.0.1:%d", freeTCPPort(t))
	return r
}

// start runs `legant gateway` with extra flags and env, and waits for /healthz.
func (r *procRig) start(t *testing.T, env []string, extra ...string) {
	t.Helper()
	args := append([]string{"gateway", "--listen", strings.TrimPrefix(r.base, "http://"), "-f", r.registry,
		"--data-dir", r.data, "--admin-listen", strings.TrimPrefix(r.admin, "http://")}, extra...)
	r.cmd = exec.Command(r.bin, args...)
	r.cmd.Env = append(os.Environ(), env...)
	r.logs = &syncBuffer{}
	r.cmd.Stderr = r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.stop() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _ := get(r.base + "/healthz"); code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("legant gateway never became healthy; its log:\n%s", r.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the process as an orchestrator does (SIGTERM) and waits for it.
func (r *procRig) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		r.cmd.Process.Kill()
		<-done
	}
	r.cmd = nil
}

// mint runs `legant mint` for a token to call the slug's slow tool.
func (r *procRig) mint(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(r.bin, "mint", "--keys", filepath.Join(r.data, "keys"), "--issuer", r.base,
		"--user", "alice", "--agent", "planner", "--aud", r.base+"/mcp/"+procSlug, "--scope", "work:run", "--ttl", "1h").Output()
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// connect opens an MCP session through the gateway with token; header
// transport adds what the test sends besides (trace context).
func (r *procRig) connect(t *testing.T, token string, rt http.RoundTripper) *mcp.ClientSession {
	t.Helper()
	if rt == nil {
		rt = http.DefaultTransport
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "ops-test", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: r.base + "/mcp/" + procSlug,
		HTTPClient: &http.Client{Transport: bearerWith{token: token, next: rt}}, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatalf("connect: %v\nlog:\n%s", err, r.logs.String())
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

type bearerWith struct {
	token string
	next  http.RoundTripper
}

func (b bearerWith) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(req)
}

// TestProcessMetricsHealthAndLogs runs `legant gateway --log-format json`,
// makes an allowed and a refused call, then reads /metrics with the
// Prometheus text parser and checks every series the operator docs promise,
// the probes on both listeners, and that the logs are JSON without the token.
func TestProcessMetricsHealthAndLogs(t *testing.T) {
	r := newProcRig(t, nil)
	r.start(t, nil, "--log-format", "json", "--log-level", "debug")
	token := r.mint(t)
	cs := r.connect(t, token, nil)
	ctx := context.Background()
	for range 3 {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: slowtool.ToolName, Arguments: map[string]any{"steps": 1}})
		if err != nil || res.IsError {
			t.Fatalf("allowed call: %v %+v", err, res)
		}
	}
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "unlisted", Arguments: map[string]any{}}); err == nil && !res.IsError {
		t.Fatal("a call of an unlisted tool was allowed")
	}

	for _, base := range []string{r.base, r.admin} {
		if code, body := get(base + "/healthz"); code != http.StatusOK || !strings.Contains(body, `"ok"`) {
			t.Errorf("%s/healthz = %d %s", base, code, body)
		}
		if code, body := get(base + "/readyz"); code != http.StatusOK || !strings.Contains(body, `"ready"`) {
			t.Errorf("%s/readyz = %d %s", base, code, body)
		}
	}
	if code, _ := get(r.base + "/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the gateway listener without --metrics-on-main: %d, want 404", code)
	}

	// Decisions are counted when the audit batch is durable: poll briefly.
	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(5 * time.Second)
	for {
		fams = scrape(t, r.admin+"/metrics")
		if value(fams, "legant_decisions_total", map[string]string{"decision": "allow"}) >= 3 &&
			value(fams, "legant_decisions_total", map[string]string{"decision": "deny"}) >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	checks := []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"legant_decisions_total", map[string]string{"upstream": procSlug, "tool": "slow", "decision": "allow", "reason": "allowed"}, 3},
		{"legant_decisions_total", map[string]string{"upstream": procSlug, "tool": "_other", "decision": "deny", "reason": "tool_not_bound"}, 1},
		{"legant_audit_events_total", map[string]string{"kind": "allow"}, 3},
		{"legant_request_duration_seconds", map[string]string{"upstream": procSlug, "mcp_method": "tools/call"}, 4},
		{"legant_gateway_added_seconds", map[string]string{"upstream": procSlug}, 3},
		{"legant_upstream_duration_seconds", map[string]string{"upstream": procSlug}, 3},
		{"legant_audit_append_seconds", nil, 1},
		{"legant_sessions", nil, 1},
		{"legant_inflight_calls", nil, 0},
		{"legant_audit_queue_depth", nil, 0},
		{"legant_audit_queue_capacity", nil, 1},
		{"legant_token_verify_cache_hits_total", nil, 1},
		{"legant_token_verify_misses_total", nil, 1},
		{"legant_revocations", nil, 0},
		{"legant_revocation_staleness_seconds", nil, 0},
		{"legant_revocation_live", nil, 1},
		{"legant_kills_total", nil, 0},
		{"legant_audit_append_errors_total", nil, 0},
		{"go_goroutines", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
	}
	for _, c := range checks {
		if _, ok := fams[c.name]; !ok {
			t.Errorf("series %s missing from /metrics", c.name)
			continue
		}
		if v := value(fams, c.name, c.labels); v < c.min {
			t.Errorf("%s%v = %v, want ≥ %v", c.name, c.labels, v, c.min)
		}
	}

	logs := r.logs.String()
	if strings.Contains(logs, token) {
		t.Error("the token appears in the logs")
	}
	var sawDecision, sawRequest bool
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("{")) {
			continue // a "legant: created …" note of the first start
		}
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Errorf("log line is not JSON: %s", line)
			continue
		}
		sawDecision = sawDecision || rec["msg"] == "decision" && rec["tool"] == "slow" && rec["level"] == "INFO"
		sawRequest = sawRequest || rec["msg"] == "request" && rec["mcp_method"] == "tools/call" && rec["level"] == "DEBUG"
	}
	if !sawDecision || !sawRequest {
		t.Errorf("JSON logs: decision line %t, request line %t; log:\n%s", sawDecision, sawRequest, logs)
	}
}

// TestProcessKeyRotation rotates the issuer keys with `legant keys rotate`
// while the gateway runs: a token signed by the new key is accepted within
// 5 s, the new key is in the JWKS, a token of the old key still works, and
// the rotation is in the audit chain.
func TestProcessKeyRotation(t *testing.T) {
	r := newProcRig(t, nil)
	r.start(t, nil)
	oldToken := r.mint(t)
	keys := filepath.Join(r.data, "keys")
	out, err := exec.Command(r.bin, "keys", "rotate", "--dir", keys).CombinedOutput()
	if err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	newKID := strings.Fields(string(out))[3] // "new signing key KID (alg) in DIR"
	newToken := r.mint(t)
	start := time.Now()
	for {
		status, _ := callStatus(r.base+"/mcp/"+procSlug, newToken)
		if status == http.StatusOK {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("a token of the rotated-in key %s is still refused (%d) after 5 s", newKID, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("token of the new key accepted %v after the rotation", time.Since(start).Round(time.Millisecond))
	if status, _ := callStatus(r.base+"/mcp/"+procSlug, oldToken); status != http.StatusOK {
		t.Errorf("a token of the rotated-out key is refused before its retire time: %d", status)
	}
	if _, jwks := get(r.base + "/.well-known/jwks.json"); !strings.Contains(jwks, newKID) {
		t.Errorf("JWKS does not publish %s: %s", newKID, jwks)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := exec.Command(r.bin, "audit", "query", "--kind", "key_rotation", "--json", "--data-dir", r.data).CombinedOutput()
		if err == nil && strings.Contains(string(out), newKID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no key_rotation event naming %s in the audit log: %v\n%s", newKID, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := exec.Command(r.bin, "audit", "verify", "--data-dir", r.data).CombinedOutput(); err != nil {
		t.Fatalf("audit verify after the rotation: %v\n%s", err, out)
	}
}

// callStatus posts an MCP initialize with token and returns the status.
func callStatus(url, token string) (int, string) {
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value sums the samples of family name whose labels include want
// (counters, gauges; histograms count their observations).
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
	var sum float64
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum
}

func get(url string) (int, string) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a bytes.Buffer safe for a process writing while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
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
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/openlegant/legant/examples/killswitch/slowtool"
	"github.com/openlegant/legant/issuer/store/storetest/freeport"
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
		{"legant_audit_commits_total", nil, 1},
		{"legant_audit_committed_events_total", nil, 4},
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

	if commits, events := value(fams, "legant_audit_commits_total", nil), value(fams, "legant_audit_committed_events_total", nil); events < commits {
		t.Errorf("audit commits %v carried %v events: fewer events than commits", commits, events)
	}

	logs := r.logs.String()
	if strings.Contains(logs, token) {
		t.Error("the token appears in the logs")
	}
	var sawAllow, sawDeny, sawRequest bool
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
		sawAllow = sawAllow || rec["msg"] == "decision" && rec["decision"] == "allow" && rec["tool"] == "slow" && rec["level"] == "DEBUG"
		sawDeny = sawDeny || rec["msg"] == "decision" && rec["decision"] == "deny" && rec["tool"] == "_other" && rec["level"] == "INFO"
		sawRequest = sawRequest || rec["msg"] == "request" && rec["mcp_method"] == "tools/call" && rec["level"] == "DEBUG"
	}
	if !sawAllow || !sawDeny || !sawRequest {
		t.Errorf("JSON logs: allow line (debug) %t, deny line (info) %t, request line %t; log:\n%s", sawAllow, sawDeny, sawRequest, logs)
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
	port, err := freeport.Port() // below the ephemeral range
	if err != nil {
		t.Fatal(err)
	}
	return port
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

// TestProcessReadyzFollowsPostgres runs `legant gateway` on a throwaway
// PostgreSQL cluster the test starts itself (never the shared server):
// /readyz is ready, turns not-ready naming the store when the cluster stops,
// and ready again when it comes back.
func TestProcessReadyzFollowsPostgres(t *testing.T) {
	pg := startThrowawayPostgres(t)
	r := newProcRig(t, nil)
	secret := filepath.Join(r.dir, "key-secret")
	if err := os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.start(t, nil, "--database-url", pg.url, "--key-secret-file", secret)
	waitReadyz := func(want int, what string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, body := get(r.base + "/readyz")
			if code == want {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz %s: still %d %s after 30 s", what, code, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitReadyz(http.StatusOK, "with PostgreSQL up")
	pg.ctl(t, "stop", "-m", "fast")
	start := time.Now()
	body := waitReadyz(http.StatusServiceUnavailable, "with PostgreSQL stopped")
	t.Logf("not ready %v after PostgreSQL stopped: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(body))
	var got struct {
		Status  string            `json:"status"`
		Failing map[string]string `json:"failing"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || got.Status != "not_ready" || got.Failing["store"] == "" {
		t.Errorf("/readyz body %s: want status not_ready naming the store", body)
	}
	if code, _ := get(r.admin + "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("admin /readyz with PostgreSQL stopped: %d", code)
	}
	if code, _ := get(r.base + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with PostgreSQL stopped: %d, want 200 (the process is alive)", code)
	}
	pg.ctl(t, "start", "-w", "-l", filepath.Join(pg.dir, "log"), "-o", pg.opts)
	start = time.Now()
	waitReadyz(http.StatusOK, "after PostgreSQL came back")
	t.Logf("ready again %v after PostgreSQL restarted", time.Since(start).Round(time.Millisecond))
}

// throwawayPG is a PostgreSQL cluster in a temporary directory on its own port.
type throwawayPG struct {
	bin, dir, opts, url string
	asPostgres          bool // running as root: the cluster runs as the postgres user
}

func startThrowawayPostgres(t *testing.T) *throwawayPG {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Fatal("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
	}
	pg := &throwawayPG{bin: filepath.Dir(bins[len(bins)-1]), asPostgres: os.Geteuid() == 0}
	dir, err := os.MkdirTemp("", "legant-pg-")
	if err != nil {
		t.Fatal(err)
	}
	pg.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if pg.asPostgres {
		if out, err := exec.Command("chown", "postgres:", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	port := freeTCPPort(t)
	pg.opts = fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir)
	pg.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	pg.run(t, "initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8")
	pg.ctl(t, "start", "-w", "-l", filepath.Join(dir, "log"), "-o", pg.opts)
	t.Cleanup(func() { pg.runErr("pg_ctl", "-D", filepath.Join(dir, "data"), "stop", "-m", "immediate") })
	return pg
}

func (pg *throwawayPG) ctl(t *testing.T, args ...string) {
	t.Helper()
	pg.run(t, "pg_ctl", append([]string{"-D", filepath.Join(pg.dir, "data")}, args...)...)
}

func (pg *throwawayPG) run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := pg.runErr(name, args...); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func (pg *throwawayPG) runErr(name string, args ...string) ([]byte, error) {
	path := filepath.Join(pg.bin, name)
	var cmd *exec.Cmd
	if pg.asPostgres {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = pg.dir
	return cmd.CombinedOutput()
}

// TestProcessTraces runs `legant gateway` with OTEL_EXPORTER_OTLP_ENDPOINT
// naming an OTLP/HTTP receiver in the test: a tools/call whose client sent a
// W3C traceparent yields a server span in the client's trace carrying the
// MCP attributes, with authorize and upstream children, and the upstream
// receives a traceparent of the same trace.
func TestProcessTraces(t *testing.T) {
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	var mu sync.Mutex
	var spans []*tracepb.Span
	var upstreamTraceparents []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				spans = append(spans, ss.GetSpans()...)
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Write(b)
	}))
	defer recv.Close()
	up := slowtool.New(slowtool.Options{Period: time.Millisecond})
	r := newProcRig(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if tp := req.Header.Get("traceparent"); tp != "" {
			mu.Lock()
			upstreamTraceparents = append(upstreamTraceparents, tp)
			mu.Unlock()
		}
		up.ServeHTTP(w, req)
	}))
	r.start(t, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + recv.URL, "OTEL_BSP_SCHEDULE_DELAY=50"})
	cs := r.connect(t, r.mint(t), withTraceparent{"00-" + traceID + "-00f067aa0ba902b7-01"})
	if res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: slowtool.ToolName, Arguments: map[string]any{"steps": 1}}); err != nil || res.IsError {
		t.Fatalf("call: %v %+v", err, res)
	}
	attrs := func(s *tracepb.Span) map[string]string {
		m := map[string]string{}
		for _, kv := range s.GetAttributes() {
			m[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		return m
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		var server *tracepb.Span
		children := map[string]bool{}
		for _, s := range spans {
			if fmt.Sprintf("%x", s.GetTraceId()) != traceID {
				continue
			}
			if a := attrs(s); s.GetKind() == tracepb.Span_SPAN_KIND_SERVER && a["mcp.method.name"] == "tools/call" {
				server = s
			}
		}
		for _, s := range spans {
			if server != nil && bytes.Equal(s.GetParentSpanId(), server.GetSpanId()) {
				children[strings.Fields(s.GetName())[0]] = true
			}
		}
		tps := append([]string(nil), upstreamTraceparents...)
		mu.Unlock()
		if server != nil && children["authorize"] && children["upstream"] {
			a := attrs(server)
			sum := sha256.Sum256([]byte(cs.ID()))
			if a["gen_ai.tool.name"] != slowtool.ToolName || a["mcp.session.id.sha256"] != hex.EncodeToString(sum[:8]) || a["legant.upstream"] != procSlug {
				t.Errorf("server span attributes %v", a)
			}
			if server.GetName() != "tools/call "+slowtool.ToolName {
				t.Errorf("server span name %q", server.GetName())
			}
			found := false
			for _, tp := range tps {
				found = found || strings.HasPrefix(tp, "00-"+traceID+"-")
			}
			if !found {
				t.Errorf("the upstream received no traceparent of trace %s: %v", traceID, tps)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("spans of trace %s: server %v, children %v (of %d spans received)", traceID, server != nil, children, len(spans))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type withTraceparent struct{ tp string }

func (w withTraceparent) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("traceparent", w.tp)
	return http.DefaultTransport.RoundTrip(req)
}

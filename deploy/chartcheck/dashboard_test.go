package chartcheck

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDashboardQueriesExportedMetrics: every metric deploy/grafana/legant.json
// queries is one a real `legant gateway` (built from this checkout) exports.
// Vectors only appear once observed, so the test first drives the process
// through an allowed call, a denied one, an upstream 5xx and a key rotation.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	used := dashboardMetrics(t)
	if len(used) < 10 {
		t.Fatalf("the dashboard queries only %d metrics: %v", len(used), used)
	}
	g := startGateway(t)
	g.drive(t)
	var exported map[string]bool
	deadline := time.Now().Add(15 * time.Second)
	for {
		exported = g.scrape(t)
		missing := slices.DeleteFunc(slices.Clone(used), func(m string) bool { return exported[m] })
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard queries metrics legant does not export: %v", missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d metrics queried, all exported", len(used))
}

// TestDashboardMetricExtraction: the expression scan finds metric names and
// nothing else (functions, labels, keywords, durations).
func TestDashboardMetricExtraction(t *testing.T) {
	got := exprMetrics(`histogram_quantile(0.99, sum by (le, upstream) (rate(legant_x_bucket{job=~"$job", a!="b"}[$__rate_interval]))) / on (instance) group_left legant_y offset 5m`)
	if want := []string{"legant_x_bucket", "legant_y"}; !slices.Equal(got, want) {
		t.Errorf("exprMetrics = %q, want %q", got, want)
	}
}

var (
	labelMatchers = regexp.MustCompile(`\{[^}]*\}`)
	rangeSelector = regexp.MustCompile(`\[[^\]]*\]`)
	groupingLabel = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	identifier    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	labelValues   = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,`)
	promKeywords  = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
	durationSfx   = regexp.MustCompile(`^[0-9]+(ms|s|m|h|d|w|y)$`)
)

// exprMetrics lists the metric names of a PromQL expression, in order.
func exprMetrics(expr string) []string {
	e := labelMatchers.ReplaceAllString(expr, " ")
	e = rangeSelector.ReplaceAllString(e, " ")
	e = groupingLabel.ReplaceAllString(e, " ")
	var out []string
	for _, m := range identifier.FindAllStringIndex(e, -1) {
		tok := e[m[0]:m[1]]
		if strings.HasSuffix(tok, "(") || (m[0] > 0 && (e[m[0]-1] == '$' || e[m[0]-1] >= '0' && e[m[0]-1] <= '9')) ||
			slices.Contains(promKeywords, tok) || durationSfx.MatchString(tok) {
			continue
		}
		out = append(out, tok)
	}
	return out
}

// dashboardMetrics lists, sorted and unique, the metrics every panel target
// and templating query of the dashboard reads.
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(DashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", DashboardFile, err)
	}
	var names []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				ms := exprMetrics(tg.Expr)
				if len(ms) == 0 {
					t.Errorf("panel %q: no metric in %q", p.Title, tg.Expr)
				}
				names = append(names, ms...)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("templating query: %v", err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("templating query %q is not label_values(metric, label)", q.Query)
		}
		names = append(names, m[1])
	}
	slices.Sort(names)
	return slices.Compact(names)
}

type panel struct {
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// gatewayProc is a `legant gateway` child process in front of a test upstream.
type gatewayProc struct {
	bin, data, base, admin string
	logs                   strings.Builder
}

// legantBinary builds cmd/legant of this checkout (the product module, two
// directories up) once per test run.
func legantBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "legant")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/legant")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/legant: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startGateway(t *testing.T) *gatewayProc {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(mcpUpstream))
	t.Cleanup(up.Close)
	dir := t.TempDir()
	g := &gatewayProc{bin: legantBinary(t), data: filepath.Join(dir, "data"), base: "http://" + freeAddr(t), admin: "http://" + freeAddr(t)}
	registry := filepath.Join(dir, "legant.yaml")
	reg := fmt.Sprintf("version: 1\nupstreams:\n  - slug: tools\n    transport: streamable-http\n    url: %s\n    tools:\n      ok: {scope: work:run}\n      boom: {scope: work:run}\n", up.URL)
	if err := os.WriteFile(registry, []byte(reg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(g.bin, "gateway", "--listen", strings.TrimPrefix(g.base, "http://"), "--admin-listen", strings.TrimPrefix(g.admin, "http://"),
		"-f", registry, "--data-dir", g.data)
	cmd.Stderr = &g.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(g.admin + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("legant gateway never became healthy:\n%s", g.logs.String())
		}
	}
}

// mcpUpstream answers JSON-RPC requests as a minimal stateless MCP server:
// tool "boom" fails with HTTP 500, everything else succeeds.
func mcpUpstream(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if req.ID == nil {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	var result any = map[string]any{}
	switch req.Method {
	case "initialize":
		result = map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{"tools": map[string]any{}},
			"serverInfo": map[string]any{"name": "chartcheck-upstream", "version": "1"}}
	case "tools/call":
		if req.Params.Name == "boom" {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		result = map[string]any{"content": []any{map[string]any{"type": "text", "text": "ok"}}}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result})
}

// drive makes the calls and the key rotation whose series the dashboard reads.
func (g *gatewayProc) drive(t *testing.T) {
	t.Helper()
	out, err := exec.Command(g.bin, "mint", "--keys", filepath.Join(g.data, "keys"), "--issuer", g.base, "--user", "alice",
		"--agent", "planner", "--aud", g.base+"/mcp/tools", "--scope", "work:run", "--ttl", "1h").Output()
	if err != nil {
		t.Fatalf("legant mint: %v", err)
	}
	token := strings.TrimSpace(string(out))
	session := ""
	call := func(id int, method, params string) int {
		body := fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"params":%s`, method, params)
		if id > 0 {
			body += fmt.Sprintf(`,"id":%d`, id)
		}
		req, _ := http.NewRequest(http.MethodPost, g.base+"/mcp/tools", strings.NewReader(body+"}"))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", "2025-06-18")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if s := resp.Header.Get("Mcp-Session-Id"); s != "" {
			session = s
		}
		return resp.StatusCode
	}
	if code := call(1, "initialize", `{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"chartcheck","version":"1"}}`); code != http.StatusOK {
		t.Fatalf("initialize: HTTP %d\n%s", code, g.logs.String())
	}
	call(0, "notifications/initialized", `{}`)
	call(2, "tools/call", `{"name":"ok","arguments":{}}`)
	call(3, "tools/call", `{"name":"boom","arguments":{}}`)
	call(4, "tools/call", `{"name":"not_bound","arguments":{}}`)
	if out, err := exec.Command(g.bin, "keys", "rotate", "--dir", filepath.Join(g.data, "keys")).CombinedOutput(); err != nil {
		t.Fatalf("legant keys rotate: %v\n%s", err, out)
	}
}

// scrape returns the sample names of the admin listener's /metrics.
func (g *gatewayProc) scrape(t *testing.T) map[string]bool {
	t.Helper()
	resp, err := http.Get(g.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

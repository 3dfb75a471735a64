package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// lockedBuffer collects a process's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// buildLegant builds the legant binary into a temporary directory.
func buildLegant(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "legant")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// gatewayProcess is a running `legant gateway`.
type gatewayProcess struct {
	url    string
	stderr *lockedBuffer
	cmd    *exec.Cmd
	exited chan struct{}
}

func startGatewayProcess(t *testing.T, bin string, args ...string) *gatewayProcess {
	t.Helper()
	addr := loopbackAddr(t)
	p := &gatewayProcess{url: "http://" + addr, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"gateway", "--listen", addr, "--admin-listen", ""}, args...)...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.stop(t) })
	for range 200 { // 20 s
		if strings.Contains(p.stderr.String(), "legant gateway serving") {
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("legant gateway exited:\n%s", p.stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("legant gateway did not start:\n%s", p.stderr.String())
	return nil
}

func (p *gatewayProcess) stop(t *testing.T) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// rawClient speaks MCP over plain HTTP to one gateway endpoint.
type rawClient struct {
	endpoint, token, session string
	http                     *http.Client
}

func (c *rawClient) post(body string) (status int, text string, err error) {
	req, _ := http.NewRequest(http.MethodPost, c.endpoint, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if id := resp.Header.Get("Mcp-Session-Id"); id != "" {
		c.session = id
	}
	return resp.StatusCode, string(b), err
}

func (c *rawClient) initialize(t *testing.T) {
	t.Helper()
	st, body, err := c.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if err != nil || st != http.StatusOK || c.session == "" {
		t.Fatalf("initialize: %d %v %s", st, err, body)
	}
	c.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
}

// callOutcome classifies the answer to a tools/call.
func (c *rawClient) call(id int) string {
	_, body, err := c.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"slow","arguments":{"steps":1}}}`, id))
	switch {
	case err != nil:
		return "transport: " + err.Error()
	case strings.Contains(body, `"code":-32034`):
		return "audit_unavailable"
	case strings.Contains(body, `"result"`):
		return "ok"
	}
	return "other: " + body
}

// TestGatewayFailsClosedWhenPostgresFreezes runs a real `legant gateway` on
// a throwaway PostgreSQL cluster that the test freezes (SIGSTOP) and thaws:
// tools/call is refused with -32034 within 2× the store deadline, a revoked
// token is refused at once throughout, every call the upstream ran has its
// allow record (durable before forward), no event is written twice, the
// chain verifies, and the outage is logged once down and once up.
func TestGatewayFailsClosedWhenPostgresFreezes(t *testing.T) {
	const storeTimeout = 500 * time.Millisecond
	c := storetest.StartCluster(t)
	k := newKillRig(t)
	bin := buildLegant(t)
	st := storetest.Open(t, store.Options{DatabaseURL: c.URL, KeyEncryptionSecret: storetest.Secret, Issuer: killIssuer})
	ctx := context.Background()
	if _, err := st.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindToken, Value: "revoked-jti", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	gw := startGatewayProcess(t, bin, "--upstreams", k.registry, "--public-url", killPublic, "--keys", k.keysDir,
		"--database-url", c.URL, "--key-secret-file", k.secretFile, "--issuer", killIssuer, "--data-dir", t.TempDir(),
		"--store-timeout", storeTimeout.String())
	endpoint := gw.url + "/mcp/" + killSlug
	hc := &http.Client{Timeout: 20 * time.Second}
	cl := &rawClient{endpoint: endpoint, token: k.token(t, "good-jti"), http: hc}
	cl.initialize(t)
	for i := 1; i <= 20; i++ {
		if got := cl.call(i); got != "ok" {
			t.Fatalf("call %d before the freeze: %s", i, got)
		}
	}
	revoked := &rawClient{endpoint: endpoint, token: k.token(t, "revoked-jti"), http: hc}

	c.Freeze(t)
	frozen := time.Now()
	var firstRefusal time.Duration
	for i := 100; firstRefusal == 0; i++ {
		switch got := cl.call(i); {
		case got == "audit_unavailable":
			firstRefusal = time.Since(frozen)
		case time.Since(frozen) > 20*time.Second:
			t.Fatalf("no -32034 within 20 s of the freeze (last: %s)", got)
		}
	}
	startedAtRefusal := k.up.Stats().Started
	// During the outage: calls refused at once, revoked tokens refused at once.
	var revokedLat, callLat []time.Duration
	for i := range 200 {
		start := time.Now()
		if st, body, err := revoked.post(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); err != nil || st != http.StatusUnauthorized {
			t.Fatalf("revoked token during the outage: %d %v %s", st, err, body)
		}
		revokedLat = append(revokedLat, time.Since(start))
		if i%10 == 0 {
			start = time.Now()
			if got := cl.call(1000 + i); got != "audit_unavailable" {
				t.Fatalf("call during the outage: %s", got)
			}
			callLat = append(callLat, time.Since(start))
		}
	}
	if got := k.up.Stats().Started; got != startedAtRefusal {
		t.Errorf("%d calls reached the upstream while the store was frozen", got-startedAtRefusal)
	}
	c.Thaw(t)
	thawed := time.Now()
	var recovered time.Duration
	for i := 5000; recovered == 0; i++ {
		switch got := cl.call(i); {
		case got == "ok":
			recovered = time.Since(thawed)
		case time.Since(thawed) > 30*time.Second:
			t.Fatalf("calls still refused 30 s after the thaw (last: %s)", got)
		default:
			time.Sleep(20 * time.Millisecond)
		}
	}
	gw.stop(t)
	p99 := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)*99/100]
	}
	t.Logf("store timeout %v: first -32034 %v after the freeze; revoked-token p99 %v, refused-call p99 %v during the outage; calls again %v after the thaw",
		storeTimeout, firstRefusal.Round(time.Millisecond), p99(revokedLat), p99(callLat), recovered.Round(time.Millisecond))
	if firstRefusal > 2*storeTimeout+500*time.Millisecond {
		t.Errorf("first -32034 came %v after the freeze; want about ≤ 2× the store deadline (%v)", firstRefusal, storeTimeout)
	}
	if p := p99(revokedLat); p > 50*time.Millisecond {
		t.Errorf("revoked-token p99 during the outage %v; want a few ms", p)
	}

	conn, err := pgx.Connect(ctx, c.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var total, distinct, allows, dropped int64
	err = conn.QueryRow(ctx, `SELECT COUNT(*), COUNT(DISTINCT event_id),
		COUNT(*) FILTER (WHERE kind = 'allow'), COUNT(*) FILTER (WHERE kind = 'dropped') FROM audit_events`).Scan(&total, &distinct, &allows, &dropped)
	if err != nil {
		t.Fatal(err)
	}
	var withID int64
	conn.QueryRow(ctx, `SELECT COUNT(*) FROM audit_events WHERE event_id IS NOT NULL`).Scan(&withID)
	started := k.up.Stats().Started
	t.Logf("audit: %d events (%d with ids, %d distinct), %d allow, %d dropped-summaries; upstream ran %d calls", total, withID, distinct, allows, dropped, started)
	if withID != distinct {
		t.Errorf("%d duplicate audit events", withID-distinct)
	}
	if allows < started {
		t.Errorf("the upstream ran %d calls but the log holds %d allow records", started, allows)
	}
	if dropped == 0 {
		t.Error("no summary of the events dropped during the outage")
	}
	rep, err := st.Audit().Verify(ctx, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %+v %v", rep, err)
	}
	logs := gw.stderr.String()
	if n, m := strings.Count(logs, "store unavailable"), strings.Count(logs, "store recovered"); n != 1 || m != 1 {
		t.Errorf("logged %d failures and %d recoveries, want 1 and 1:\n%s", n, m, logs)
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/examples/killswitch/slowtool"
	"github.com/openlegant/legant/gateway/admin"
	"github.com/openlegant/legant/issuer/keydir"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
	"github.com/openlegant/legant/policy"
)

// killRig is what the gateway replicas of a kill test share: one real slow
// upstream, the registry naming it, the issuer's keys, the public URL a load
// balancer would give them all, and the admin token.
type killRig struct {
	up         *slowtool.Upstream
	srv        *httptest.Server // serving up
	upURL      string
	dir        string
	registry   string
	keysDir    string
	tokenFile  string
	secretFile string
}

const (
	killIssuer = "https://issuer.test"
	killPublic = "http://legant.test" // every replica's public URL: tokens are valid on all
	killSlug   = "work"
)

func newKillRig(t testing.TB) *killRig {
	t.Helper()
	k := &killRig{up: slowtool.New(slowtool.Options{}), dir: t.TempDir()}
	srv := httptest.NewServer(k.up)
	t.Cleanup(srv.Close)
	k.srv, k.upURL = srv, srv.URL
	k.registry = filepath.Join(k.dir, "legant.yaml")
	yaml := fmt.Sprintf("version: 1\nupstreams:\n  - slug: %s\n    transport: streamable-http\n    url: %s\n    tools:\n      slow:\n        scope: work:run\n",
		killSlug, srv.URL)
	k.keysDir = filepath.Join(k.dir, "keys")
	k.tokenFile = filepath.Join(k.dir, "admin-token")
	k.secretFile = filepath.Join(k.dir, "secret")
	for path, data := range map[string][]byte{k.registry: []byte(yaml), k.secretFile: append(storetest.Secret, '\n')} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// replica is one running gateway (wire, as `legant gateway` does) with its
// admin API.
type replica struct {
	w       *wiring
	url     string // this replica's own address
	admin   *admin.Client
	close   func()
	closeMu sync.Once
}

// replica starts a gateway on the database of opts (a fresh schema or SQLite
// directory; replicas given the same opts share it).
func (k *killRig) replica(t testing.TB, opts store.Options) *replica {
	t.Helper()
	cfg := serveConfig{upstreams: k.registry, publicURL: killPublic, keysDir: k.keysDir,
		store:  storeFlags{databaseURL: opts.DatabaseURL, dataDir: opts.DataDir, keySecretFile: k.secretFile, issuer: killIssuer},
		logger: slog.New(slog.NewTextHandler(io.Discard, nil)), adminListen: "127.0.0.1:0", adminTokenFile: k.tokenFile}
	if cfg.store.dataDir == "" {
		cfg.store.dataDir = t.TempDir()
	}
	w, err := wire(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatalf("wire: %v", err)
	}
	srv := httptest.NewServer(w.handler)
	addr, stopAdmin, err := startAdmin(cfg, w, io.Discard)
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	tok, err := admin.ReadToken(k.tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{w: w, url: srv.URL, admin: &admin.Client{BaseURL: "http://" + addr, Token: tok}}
	r.close = func() { r.closeMu.Do(func() { stopAdmin(); srv.Close(); w.close() }) }
	t.Cleanup(r.close)
	return r
}

func (r *replica) endpoint() string { return r.url + "/mcp/" + killSlug }

// token mints a delegation token (alice → planner, may run the slow tool)
// with the issuer key every replica trusts.
func (k *killRig) token(t testing.TB, jti string) string {
	t.Helper()
	ks, err := keydir.Load(k.keysDir)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ks.Signer()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := authority.Sign(key, &authority.Claims{Issuer: killIssuer, Subject: "alice",
		Audience: []string{killPublic + "/mcp/" + killSlug}, IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		ID: jti, ClientID: "agent-host", Scopes: []string{"work:run"}, Actor: &authority.Actor{Subject: "planner"},
		DelegationID: "del-" + jti, Constraints: authority.Unrestricted()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type bearer struct{ token string }

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(req)
}

// connectAgent opens an agent's MCP session through r, as go-sdk's client
// does by default (with its standalone GET stream). progress receives the
// token of every progress notification.
func connectAgent(t testing.TB, r *replica, token string, progress chan<- string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			if progress != nil {
				select {
				case progress <- fmt.Sprint(req.Params.ProgressToken):
				default:
				}
			}
		}})
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: r.endpoint(),
		HTTPClient: &http.Client{Transport: bearer{token}}}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// callResult is the outcome of one call of the agent loop.
type callResult struct {
	n   int
	err error
}

// agentLoop calls the slow tool again and again, as an agent works: calls
// before long are short (two steps), then one runs for the upstream's
// default 30 s. It stops after its second failure.
func agentLoop(cs *mcp.ClientSession, long int) <-chan callResult {
	out := make(chan callResult, 16)
	go func() {
		defer close(out)
		failures := 0
		for n := 0; failures < 2; n++ {
			args := map[string]any{}
			if n < long {
				args["steps"] = 2
			}
			params := &mcp.CallToolParams{Name: slowtool.ToolName, Arguments: args}
			params.SetProgressToken(fmt.Sprint(n))
			_, err := cs.CallTool(context.Background(), params)
			if err != nil {
				failures++
			}
			out <- callResult{n, err}
		}
	}()
	return out
}

// within waits for ch, failing after a generous bound (a hang, not a
// timing assertion).
func within[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func waitUpstream(t testing.TB, up *slowtool.Upstream, what string, cond func(slowtool.Stats) bool) slowtool.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := up.Wait(ctx, cond)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return s
}

// assertKilled checks that err is the JSON-RPC error a kill answers with.
func assertKilled(t testing.TB, err error) {
	t.Helper()
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) {
		t.Fatalf("want the killed JSON-RPC error, got %v", err)
	}
	var data struct{ Reason string }
	json.Unmarshal(werr.Data, &data)
	if werr.Code != policy.CodeKilled || data.Reason != "killed" {
		t.Fatalf("error = %d %q reason %q, want %d reason killed", werr.Code, werr.Message, data.Reason, policy.CodeKilled)
	}
}

// initStatus sends a raw initialize with token to r and returns the status.
func initStatus(t testing.TB, r *replica, token string) int {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, r.endpoint(), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// killMidLoop runs the scenario of the kill tests: an agent loops on the slow
// tool through replica a; once its long call streams, the kill is asked of
// replica b's admin API (a itself for a same-replica kill). It checks
// everything the kill promises (docs/KILL.md).
func killMidLoop(t *testing.T, k *killRig, a, b *replica) {
	ctx := context.Background()
	tok := k.token(t, "jti-"+t.Name())
	progress := make(chan string, 64)
	cs := connectAgent(t, a, tok, progress)
	results := agentLoop(cs, 2)
	for i := range 2 {
		if r := within(t, results, "a short call"); r.err != nil {
			t.Fatalf("call %d: %v", i, r.err)
		}
	}
	waitUpstream(t, k.up, "the long call to start", func(s slowtool.Stats) bool { return s.Started == 3 })
	for p := ""; p != "2"; p = within(t, progress, "the long call's progress") {
	}

	list, err := b.admin.Sessions(ctx, admin.SessionQuery{User: "alice", State: "live"})
	if err != nil || len(list) != 1 || list[0].ID != cs.ID() || list[0].CallsAllowed > 3 {
		t.Fatalf("sessions on the admin replica = %+v, %v; want the agent's session %s", list, err, cs.ID())
	}
	res, err := b.admin.Kill(ctx, admin.KillRequest{Session: cs.ID(), Reason: "exfiltration attempt", Actor: "secops@example"})
	if err != nil {
		t.Fatalf("kill: %v", err)
	}
	if len(res.Sessions) != 1 || res.Sessions[0] != cs.ID() || len(res.Revocations) != 1 || res.Revocations[0].Value != "jti-"+t.Name() {
		t.Errorf("kill result = %+v", res)
	}

	assertKilled(t, within(t, results, "the in-flight call to end").err)
	if r := within(t, results, "the next call"); r.err == nil {
		t.Fatal("the agent's next call succeeded after the kill")
	}
	if _, open := <-results; open {
		t.Fatal("the agent loop went on")
	}
	s := waitUpstream(t, k.up, "the upstream to stop the call, get notifications/cancelled and a DELETE",
		func(s slowtool.Stats) bool { return s.Cancelled == 1 && s.CancelNotifications >= 1 && s.Deletes >= 1 })
	if s.Started != 3 || s.Finished != 2 {
		t.Fatalf("upstream counters = %+v: a call reached it after the kill", s)
	}
	for _, r := range []*replica{a, b} {
		if got := initStatus(t, r, tok); got != http.StatusUnauthorized {
			t.Errorf("re-initialize with the killed token at %s: %d, want 401", r.url, got)
		}
	}
	se, err := b.w.st.GetSession(ctx, cs.ID())
	if err != nil || se.State != store.SessionKilled || se.EndReason != "exfiltration attempt" {
		t.Errorf("stored session = %+v, %v; want killed with the reason", se, err)
	}
	assertKillAudited(t, a, b, cs.ID())
}

// assertKillAudited checks the audit chain: the admin's kill event (who and
// why), the gateway's kill of the session on the replica that ran it, the
// refused re-initialization, and an intact chain.
func assertKillAudited(t *testing.T, a, b *replica, sessionID string) {
	t.Helper()
	ctx := context.Background()
	a.w.gw.Close() // flushes a's audit queue (the store stays open)
	evs, err := b.w.st.Audit().Query(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var adminKill, gatewayKill, refused bool
	for _, e := range evs {
		switch {
		case e.Kind == audit.KindKill && e.Method == "admin/kill":
			adminKill = e.Client == "admin:secops@example" && e.Reason == "exfiltration attempt" &&
				e.SessionID == sessionID && e.Constraint == "session" && e.User == "alice"
		case e.Kind == audit.KindKill:
			gatewayKill = gatewayKill || e.SessionID == sessionID
		case e.Kind == audit.KindEdge401 && e.Reason == "revoked":
			refused = true
		}
	}
	if !adminKill || !gatewayKill || !refused {
		t.Errorf("audit: admin kill %v, gateway kill %v, refused request %v; events %+v", adminKill, gatewayKill, refused, evs)
	}
	rep, err := b.w.st.Audit().Verify(ctx, nil)
	if err != nil || !rep.OK() {
		t.Errorf("audit chain: %+v, %v", rep, err)
	}
}

// TestKillAcrossReplicas: two gateway replicas share PostgreSQL; an agent
// works through replica A; the kill goes to replica B's admin API.
func TestKillAcrossReplicas(t *testing.T) {
	pg := postgresBackend(t)
	k := newKillRig(t)
	opts := pg.Options(t)
	a := k.replica(t, opts)
	b := k.replica(t, opts)
	killMidLoop(t, k, a, b)
}

// TestKillSameReplica: one gateway on the embedded SQLite store kills through
// its own admin API.
func TestKillSameReplica(t *testing.T) {
	k := newKillRig(t)
	a := k.replica(t, store.Options{DataDir: t.TempDir()})
	killMidLoop(t, k, a, a)
}

// TestRevocationKillsAndRecordsTheEnd: a revocation made without the admin
// API (`legant revoke`, the store's Revoke) kills on the replica running the
// session, which records the session's end in the store: another replica
// then refuses the session even with a fresh token of the same principal.
func TestRevocationKillsAndRecordsTheEnd(t *testing.T) {
	pg := postgresBackend(t)
	k := newKillRig(t)
	opts := pg.Options(t)
	a, b := k.replica(t, opts), k.replica(t, opts)
	cs := connectAgent(t, a, k.token(t, "jti-revoked"), nil)
	results := agentLoop(cs, 0)
	waitUpstream(t, k.up, "the call to start", func(s slowtool.Stats) bool { return s.Started == 1 })

	if _, err := b.w.st.Revoke(context.Background(), store.RevokeRequest{Kind: "jti", Value: "jti-revoked", Reason: "leaked"}); err != nil {
		t.Fatal(err)
	}
	assertKilled(t, within(t, results, "the in-flight call to end").err)
	eventually(t, "the session recorded as killed in the store", func() bool {
		se, err := b.w.st.GetSession(context.Background(), cs.ID())
		return err == nil && se.State == store.SessionKilled
	})
	fresh := k.token(t, "jti-fresh") // same principal, not revoked
	for _, r := range []*replica{a, b} {
		if got := postOnSession(t, r, fresh, cs.ID()); got != http.StatusNotFound {
			t.Errorf("request on the killed session at %s with a fresh token: %d, want 404", r.url, got)
		}
	}
}

// eventually polls cond until it holds: for effects the gateway records off
// the request path on purpose (never a fixed sleep; bounded to catch a hang).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// postOnSession sends a ping on session id with token and returns the status.
func postOnSession(t testing.TB, r *replica, token, id string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.endpoint(), strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"ping"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Mcp-Session-Id", id)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// postgresBackend is the PostgreSQL backend replicas share a schema on.
// Without one the test fails under CI=true and is skipped elsewhere.
func postgresBackend(t testing.TB) *storetest.Backend {
	t.Helper()
	for _, b := range storetest.Backends(t) {
		if b.Postgres() {
			return &b
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true: replicas need PostgreSQL: set " + storetest.EnvDatabaseURL)
	}
	t.Skip("replicas need PostgreSQL: set " + storetest.EnvDatabaseURL)
	return nil
}

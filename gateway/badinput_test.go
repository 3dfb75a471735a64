package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
)

type rawResponse struct {
	status int
	header http.Header
	body   string
}

func rawPost(t *testing.T, url, token string, header map[string]string, body string) rawResponse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResponse{resp.StatusCode, resp.Header, string(b)}
}

// rpcErr extracts a JSON-RPC error from a JSON body or the first SSE data line.
func rpcErr(t *testing.T, body string) (code int, msg string, reason string) {
	t.Helper()
	if i := strings.Index(body, "data: "); i >= 0 {
		body = strings.SplitN(body[i+6:], "\n", 2)[0]
	}
	var m struct {
		Error *struct {
			Code    int
			Message string
			Data    struct{ Reason string }
		}
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil || m.Error == nil {
		t.Fatalf("not a JSON-RPC error: %q", body)
	}
	return m.Error.Code, m.Error.Message, m.Error.Data.Reason
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// TestBadInput sends malformed and hostile requests: each gets its precise
// error, and a live session next to them is unaffected.
func TestBadInput(t *testing.T) {
	r := newRig(t, rigOptions{})
	tok := r.token(tokenOptions{})
	live := r.connect(tok, "2025-06-18", nil)
	init := rawPost(t, r.endpoint(), tok, nil, initBody)
	sid := init.header.Get("Mcp-Session-Id")
	if init.status != 200 || len(sid) < 40 {
		t.Fatalf("initialize: %d session %q", init.status, sid)
	}
	sess := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-06-18"}
	big := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", 5<<20) + `"}}`
	cases := []struct {
		name       string
		header     map[string]string
		body       string
		status     int
		code       int
		msgContain string
	}{
		{"not JSON", sess, `{"jsonrpc":`, 400, -32700, "parse error"},
		{"duplicate key", sess, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_expenses","name":"delete_all"}}`, 400, -32700, "duplicate"},
		{"nested duplicate", sess, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"submit_expense","arguments":{"amount":1,"amount":900}}}`, 400, -32700, "duplicate"},
		{"invalid UTF-8", sess, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"x\":\"\xff\"}}", 400, -32700, "UTF-8"},
		{"method not a string", sess, `{"jsonrpc":"2.0","id":1,"method":7}`, 400, -32600, "method"},
		{"wrong version", sess, `{"jsonrpc":"1.0","id":1,"method":"ping"}`, 400, -32600, "2.0"},
		{"id is an object", sess, `{"jsonrpc":"2.0","id":{},"method":"ping"}`, 400, -32600, "id"},
		{"unknown member", sess, `{"jsonrpc":"2.0","id":1,"method":"ping","extra":1}`, 400, -32600, "unknown member"},
		{"trailing data", sess, `{"jsonrpc":"2.0","id":1,"method":"ping"} {}`, 400, -32700, "parse error"},
		{"empty batch", sess, `[]`, 400, -32600, "empty batch"},
		{"batch in 2025-06-18", sess, `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, 400, -32600, "batches are not supported"},
		{"oversized", sess, big, 413, -32600, "exceeds"},
		{"unknown session", map[string]string{"Mcp-Session-Id": "nope"}, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 404, -32600, "session not found"},
		{"initialize inside a session", sess, initBody, 400, -32600, "existing session"},
		{"case-variant tool name", sess, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_expenses","NAME":"delete_all","arguments":{}}}`, 200, -32030, "only by case"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := rawPost(t, r.endpoint(), tok, c.header, c.body)
			if got.status != c.status {
				t.Fatalf("status %d, want %d: %s", got.status, c.status, got.body)
			}
			code, msg, _ := rpcErr(t, got.body)
			if code != c.code || !strings.Contains(msg, c.msgContain) {
				t.Fatalf("error %d %q, want %d containing %q", code, msg, c.code, c.msgContain)
			}
		})
	}
	if n := r.ledger.Calls.Load(); n != 0 {
		t.Fatalf("the upstream ran %d tool calls from bad input", n)
	}
	if _, err := live.CallTool(context.Background(), &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}}); err != nil {
		t.Fatalf("a live session was affected: %v", err)
	}
}

// TestEdgeAuthentication: 401 with an RFC 6750 challenge naming the RFC 9728
// metadata, which names the inbound audience and the issuer.
func TestEdgeAuthentication(t *testing.T) {
	r := newRig(t, rigOptions{})
	good := r.token(tokenOptions{})
	other, _ := authority.GenerateEd25519Key("issuer-1")
	forged, _ := authority.Sign(other, &authority.Claims{Issuer: testIssuer, Subject: "alice", Audience: []string{r.endpoint()},
		IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour), ID: "x", Actor: &authority.Actor{Subject: "planner"},
		Constraints: authority.Unrestricted()})
	cases := []struct {
		name, token, desc string
	}{
		{"no token", "", ""},
		{"garbage", "not.a.jwt", "malformed"},
		{"expired", r.token(tokenOptions{ttl: -time.Minute}), "expired"},
		{"wrong audience", r.token(tokenOptions{audience: "https://elsewhere.example/mcp/expenses"}), "audience"},
		{"forged signature", forged, "signature"},
		{"no actor chain", r.token(tokenOptions{agents: []string{}}), "delegation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := rawPost(t, r.endpoint(), c.token, nil, initBody)
			if got.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", got.status, got.body)
			}
			ch := got.header.Get("WWW-Authenticate")
			want := `resource_metadata="` + r.server.URL + `/.well-known/oauth-protected-resource/mcp/expenses"`
			if !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, want) {
				t.Fatalf("WWW-Authenticate = %q", ch)
			}
			if c.desc != "" && (!strings.Contains(ch, `error="invalid_token"`) || !strings.Contains(ch, c.desc)) {
				t.Fatalf("WWW-Authenticate = %q, want invalid_token mentioning %q", ch, c.desc)
			}
		})
	}
	resp, err := http.Get(r.server.URL + "/.well-known/oauth-protected-resource/mcp/expenses")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
	}
	json.NewDecoder(resp.Body).Decode(&md)
	if md.Resource != r.endpoint() || len(md.AuthorizationServers) != 1 || md.AuthorizationServers[0] != testIssuer {
		t.Fatalf("metadata = %+v", md)
	}
	if got := rawPost(t, r.endpoint(), good, nil, initBody); got.status != 200 {
		t.Fatalf("a good token was refused: %d", got.status)
	}
}

// TestSessionBoundToPrincipal: a session opened by alice's planner cannot be
// used with bob's token or another agent chain's, even with a valid token.
func TestSessionBoundToPrincipal(t *testing.T) {
	r := newRig(t, rigOptions{})
	alice := r.token(tokenOptions{})
	init := rawPost(t, r.endpoint(), alice, nil, initBody)
	sid := init.header.Get("Mcp-Session-Id")
	ping := `{"jsonrpc":"2.0","id":2,"method":"ping"}`
	h := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-06-18"}
	for name, tok := range map[string]string{
		"other user":  r.token(tokenOptions{user: "bob"}),
		"other agent": r.token(tokenOptions{agents: []string{"planner", "executor"}}),
	} {
		if got := rawPost(t, r.endpoint(), tok, h, ping); got.status != http.StatusNotFound {
			t.Fatalf("%s: status %d, want 404", name, got.status)
		}
	}
	if got := rawPost(t, r.endpoint(), alice, h, ping); got.status != 200 {
		t.Fatalf("owner: status %d: %s", got.status, got.body)
	}
	if strings.Contains(init.header.Get("Mcp-Session-Id"), "-") && len(sid) < 40 {
		t.Fatalf("session id %q is too short to be unguessable", sid)
	}
}

// TestStatelessHeadersMustMatchBody: in 2026-07-28 the Mcp-Method and Mcp-Name
// headers repeat the body; a mismatch is refused before anything is decided.
func TestStatelessHeadersMustMatchBody(t *testing.T) {
	r := newRig(t, rigOptions{stateless: true})
	tok := r.token(tokenOptions{})
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_all","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	for name, h := range map[string]map[string]string{
		"name mismatch":   {"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "list_expenses"},
		"method mismatch": {"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list", "Mcp-Name": "delete_all"},
		"missing method":  {"Mcp-Protocol-Version": "2026-07-28", "Mcp-Name": "delete_all"},
	} {
		got := rawPost(t, r.endpoint(), tok, h, body)
		if got.status != 400 {
			t.Fatalf("%s: status %d, want 400: %s", name, got.status, got.body)
		}
		if code, _, _ := rpcErr(t, got.body); code != -32020 {
			t.Fatalf("%s: code %d, want -32020 (HeaderMismatch)", name, code)
		}
	}
	if n := r.ledger.Calls.Load(); n != 0 {
		t.Fatalf("upstream ran %d calls", n)
	}
}

// TestBatch2025_03_26 sends a batch in the one revision that has batches: the
// denied call is answered by the gateway, the rest by the upstream.
func TestBatch2025_03_26(t *testing.T) {
	r := newRig(t, rigOptions{})
	tok := r.token(tokenOptions{})
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	resp := rawPost(t, r.endpoint(), tok, nil, init)
	h := map[string]string{"Mcp-Session-Id": resp.header.Get("Mcp-Session-Id"), "Mcp-Protocol-Version": "2025-03-26"}
	rawPost(t, r.endpoint(), tok, h, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	batch := `[{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"delete_all","arguments":{}}},` +
		`{"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"list_expenses","arguments":{}}}]`
	got := rawPost(t, r.endpoint(), tok, h, batch)
	if got.status != 200 {
		t.Fatalf("status %d: %s", got.status, got.body)
	}
	if !strings.Contains(got.body, `"id":"a","error":{"code":-32030`) || !strings.Contains(got.body, `"id":"b","result"`) {
		t.Fatalf("batch answer = %s", got.body)
	}
	if n := r.ledger.Calls.Load(); n != 1 {
		t.Fatalf("upstream ran %d calls, want 1", n)
	}
}

func TestOriginAndHostChecks(t *testing.T) {
	r := newRig(t, rigOptions{})
	tok := r.token(tokenOptions{})
	if got := rawPost(t, r.endpoint(), tok, map[string]string{"Origin": "https://evil.example"}, initBody); got.status != 403 {
		t.Fatalf("foreign origin: %d", got.status)
	}
	req, _ := http.NewRequest(http.MethodPost, r.endpoint(), bytes.NewBufferString(initBody))
	req.Host = "evil.example"
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("foreign Host: %d, want 403", resp.StatusCode)
	}
}

package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openlegant/legant/gateway/admin"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// TestGatewayFaultSuite runs a real `legant gateway` against failing
// dependencies, on loopback, each case bounded: an upstream that accepts TCP
// and never answers, an upstream killed mid-stream, a call cut by its
// timeout, a client trickling its body, and a kill answered while
// PostgreSQL (a throwaway cluster on its own port) is stopped.
func TestGatewayFaultSuite(t *testing.T) {
	bin := buildLegant(t)
	t.Run("upstream never answers", func(t *testing.T) {
		k := newKillRig(t)
		silent := silentListener(t)
		writeRegistry(t, k, "http://"+silent+"/mcp", "{request: 500ms, call: 500ms}")
		gw := startGatewayProcess(t, bin, k.sqliteArgs(t)...)
		cl := &rawClient{endpoint: gw.url + "/mcp/" + killSlug, token: k.token(t, "j1"), http: &http.Client{Timeout: 10 * time.Second}}
		for _, body := range []string{
			`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow","arguments":{"steps":1}}}`,
		} {
			begin := time.Now()
			st, text, err := cl.post(body)
			took := time.Since(begin)
			if err != nil || !strings.Contains(text, `"code":-32035`) || !strings.Contains(text, "did not answer in time") {
				t.Fatalf("%s: %d %v %s", body, st, err, text)
			}
			if took > 3*time.Second {
				t.Fatalf("%s answered after %v with a 500ms timeout", body, took)
			}
			t.Logf("%s: -32035 after %v", body[:45], took.Round(time.Millisecond))
		}
	})

	t.Run("call timeout cancels upstream", func(t *testing.T) {
		k := newKillRig(t)
		writeRegistry(t, k, k.upURL, "{call: 700ms}")
		gw := startGatewayProcess(t, bin, k.sqliteArgs(t)...)
		cl := &rawClient{endpoint: gw.url + "/mcp/" + killSlug, token: k.token(t, "j1"), http: &http.Client{Timeout: 10 * time.Second}}
		cl.initialize(t)
		_, text, err := cl.post(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"slow","arguments":{"steps":600}}}`)
		if err != nil || !strings.Contains(text, `"code":-32035`) {
			t.Fatalf("a call past timeouts.call: %v %s", err, text)
		}
		waitFor(t, "the upstream to get notifications/cancelled and stop the call", func() bool {
			s := k.up.Stats()
			return s.CancelNotifications == 1 && s.Cancelled == 1
		})
	})

	t.Run("upstream killed mid-stream", func(t *testing.T) {
		k := newKillRig(t)
		gw := startGatewayProcess(t, bin, k.sqliteArgs(t)...)
		cl := &rawClient{endpoint: gw.url + "/mcp/" + killSlug, token: k.token(t, "j1"), http: &http.Client{Timeout: 10 * time.Second}}
		cl.initialize(t)
		go func() {
			for deadline := time.Now().Add(20 * time.Second); k.up.Stats().Started == 0 && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // streaming progress
			k.srv.CloseClientConnections()     // the upstream process dies
		}()
		begin := time.Now()
		st, text, err := cl.post(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"slow","arguments":{"steps":100},"_meta":{"progressToken":"p"}}}`)
		t.Logf("answered after %v: %.300s", time.Since(begin), text)
		if err != nil || !strings.Contains(text, `"id":5,"error":{"code":-32035`) {
			t.Fatalf("the client must get a clean JSON-RPC error: %d %v %s", st, err, text)
		}
	})

	t.Run("slow body", func(t *testing.T) {
		k := newKillRig(t)
		gw := startGatewayProcess(t, bin, append(k.sqliteArgs(t), "--body-read-timeout", "1s")...)
		conn, err := net.Dial("tcp", strings.TrimPrefix(gw.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /mcp/%s HTTP/1.1\r\nHost: legant.test\r\nContent-Type: application/json\r\nAuthorization: Bearer bogus\r\nContent-Length: 100\r\n\r\n{", killSlug)
		begin := time.Now()
		trickle := time.NewTicker(200 * time.Millisecond)
		defer trickle.Stop()
		closed := make(chan struct{})
		go func() {
			bufio.NewReader(conn).ReadString(0) // until the server closes
			close(closed)
		}()
		for done := false; !done; {
			select {
			case <-closed:
				done = true
			case <-trickle.C:
				conn.Write([]byte(" "))
			case <-time.After(10 * time.Second):
				t.Fatal("a body trickled a byte every 200ms was still being read after 10 s")
			}
		}
		if took := time.Since(begin); took > 4*time.Second {
			t.Fatalf("the connection was closed after %v; the body timeout is 1s", took)
		}
		t.Logf("trickled body cut after %v", time.Since(begin).Round(time.Millisecond))
	})

	t.Run("kill during a store outage", func(t *testing.T) {
		c := storetest.StartCluster(t)
		k := newKillRig(t)
		data := t.TempDir()
		adminAddr := freeAddr(t)
		gw := startGatewayProcess(t, bin, "--upstreams", k.registry, "--public-url", killPublic, "--keys", k.keysDir,
			"--database-url", c.URL, "--key-secret-file", k.secretFile, "--issuer", killIssuer, "--data-dir", data,
			"--store-timeout", "500ms", "--admin-listen", adminAddr)
		tok, err := admin.ReadToken(filepath.Join(data, admin.TokenFile))
		if err != nil {
			t.Fatal(err)
		}
		adm := &admin.Client{BaseURL: "http://" + adminAddr, Token: tok}
		endpoint := gw.url + "/mcp/" + killSlug
		hc := &http.Client{Timeout: 10 * time.Second}
		(&rawClient{endpoint: endpoint, token: k.token(t, "before"), http: hc}).initialize(t)

		c.Stop(t)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_, err = adm.Kill(ctx, admin.KillRequest{User: "alice", Reason: "outage drill"})
		if err == nil || !strings.Contains(err.Error(), "held on this replica") {
			t.Fatalf("the kill must be incomplete and say it is held: %v", err)
		}
		for _, jti := range []string{"before", "new-1", "new-2"} {
			st, text, err := (&rawClient{endpoint: endpoint, token: k.token(t, jti), http: hc}).post(
				`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
			if err != nil || st != http.StatusUnauthorized {
				t.Fatalf("alice (%s) during the outage, after the kill: %d %v %s, want 401", jti, st, err, text)
			}
		}

		c.Start(t)
		conn, err := pgx.Connect(ctx, c.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		waitFor(t, "the held kill to be written once the store is back", func() bool {
			var n int
			conn.QueryRow(ctx, `SELECT COUNT(*) FROM revocations WHERE kind = 'user' AND value = 'alice'`).Scan(&n)
			return n == 1
		})
		if st, _, _ := (&rawClient{endpoint: endpoint, token: k.token(t, "after"), http: hc}).post(`{"jsonrpc":"2.0","id":1,"method":"ping"}`); st != http.StatusUnauthorized {
			t.Fatalf("alice after the store returned: %d, want 401", st)
		}
		waitFor(t, "the log of the held kill written", func() bool {
			return strings.Contains(gw.stderr.String(), "held kill written to the store")
		})
	})
}

// sqliteArgs are the flags of a gateway process on a fresh SQLite store.
func (k *killRig) sqliteArgs(t *testing.T) []string {
	return []string{"--upstreams", k.registry, "--public-url", killPublic, "--keys", k.keysDir,
		"--key-secret-file", k.secretFile, "--issuer", killIssuer, "--data-dir", t.TempDir()}
}

// writeRegistry points the rig's registry at url with the given timeouts.
func writeRegistry(t *testing.T, k *killRig, url, timeouts string) {
	t.Helper()
	yaml := fmt.Sprintf("version: 1\nupstreams:\n  - slug: %s\n    transport: streamable-http\n    url: %s\n    timeouts: %s\n    tools:\n      slow:\n        scope: work:run\n",
		killSlug, url, timeouts)
	if err := os.WriteFile(k.registry, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// silentListener accepts TCP connections on loopback and never answers.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return loopbackAddr(t)
}

// waitFor polls cond for up to 20 s (a hang bound, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/keydir"
	"github.com/openlegant/legant/sdk"
)

const testIssuer = "https://issuer.example"

// mint makes the token run.sh gets from `legant mint`: alice delegates to
// planner, who delegates to executor; submit_expense up to 500 USD.
func mint(t *testing.T, keysDir string, now time.Time) string {
	t.Helper()
	ks, err := keydir.Load(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ks.Signer()
	if err != nil {
		t.Fatal(err)
	}
	root := &authority.Claims{Issuer: testIssuer, Subject: "alice", Audience: []string{apiAudience, mcpAudience},
		IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute), ID: "tok-root", DelegationID: "dlg-root",
		Scopes: []string{"expenses:write"}, Actor: authority.NewActor("planner"),
		Constraints: authority.Constraints{Tools: authority.Only("submit_expense"), Resources: authority.AnyOf(),
			Categories: authority.AnyOf(), MaxAmount: &authority.Money{Value: authority.MustDecimal("500"), Currency: "USD"}}}
	c, err := authority.Attenuate(root, authority.Request{Actor: "executor", ID: "tok-1", DelegationID: "dlg-1",
		IssuedAt: now, Constraints: authority.Unrestricted()}, authority.AttenuateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := authority.Sign(key, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func command(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args[0], args[1:], &out)
	return out.String(), err
}

// TestFlow is run.sh in process: keys, token, JWKS and feed files, the
// protected API and MCP server, then allowed, denied (amount) and revoked.
func TestFlow(t *testing.T) {
	dir := t.TempDir()
	keys, jwks, feed := filepath.Join(dir, "keys"), filepath.Join(dir, "jwks.json"), filepath.Join(dir, "revoked.jwt")
	if _, err := keydir.Init(keys, keydir.Ed25519, nil); err != nil {
		t.Fatal(err)
	}
	token := mint(t, keys, time.Now())
	if _, err := command(t, "jwks", "--keys", keys, "--out", jwks); err != nil {
		t.Fatal(err)
	}
	if _, err := command(t, "feed", "--keys", keys, "--issuer", testIssuer, "--out", feed); err != nil {
		t.Fatal(err)
	}

	polled := make(chan struct{}, 1)
	a, err := newApp(context.Background(), appConfig{issuer: testIssuer, jwksFile: jwks, feedFile: feed,
		feedInterval: 5 * time.Millisecond, onFeed: func(sdk.FeedStatus) {
			select {
			case polled <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.handler)
	defer srv.Close()

	post := func(amount string) (int, string, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/expenses?amount="+amount, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)
	}
	mcpTool := func(args string) (string, error) {
		return command(t, "mcp-call", "--url", srv.URL+"/mcp", "--token", token, "--tool", "submit_expense", "--args", args)
	}

	if code, _, body := post("300"); code != 200 || !strings.Contains(body, "user:alice → agent:planner → agent:executor") {
		t.Fatalf("300 USD: %d %s", code, body)
	}
	if code, challenge, body := post("700"); code != 403 || !strings.Contains(challenge, `error="insufficient_scope"`) ||
		!strings.Contains(body, `"reason":"max_amount"`) {
		t.Fatalf("700 USD: %d %s %s", code, challenge, body)
	}
	if out, err := mcpTool(`{"amount":300}`); err != nil || !strings.Contains(out, "accepted for user:alice") {
		t.Fatalf("MCP 300 USD: %q %v", out, err)
	}
	if _, err := mcpTool(`{"amount":700}`); err == nil ||
		!strings.Contains(err.Error(), "-32030: denied: amount 700 exceeds max_amount 500") {
		t.Fatalf("MCP 700 USD: %v, want the gateway's denial", err)
	}

	if out, err := command(t, "feed", "--keys", keys, "--issuer", testIssuer, "--out", feed, "--revoke-agent", "executor"); err != nil ||
		!strings.Contains(out, "feed version 2") {
		t.Fatalf("feed: %q %v", out, err)
	}
	for polls := 0; a.api.FeedStatus().Version < 2 || a.mcp.FeedStatus().Version < 2; polls++ {
		if polls == 1000 {
			t.Fatalf("feed not accepted after %d polls: %+v", polls, a.api.FeedStatus())
		}
		<-polled // both Verifiers poll the file; wait for their polls, not for time
	}
	if code, challenge, _ := post("1"); code != 401 || !strings.Contains(challenge, "the token has been revoked") {
		t.Fatalf("after revocation: %d %s", code, challenge)
	}
	if _, err := mcpTool(`{"amount":1}`); err == nil {
		t.Fatal("MCP accepted a revoked token")
	}
}

// TestFeedCarriesOver: each feed command keeps the previous revocations and
// raises the version, so verifiers accept it (no rollback).
func TestFeedCarriesOver(t *testing.T) {
	dir := t.TempDir()
	keys, feed := filepath.Join(dir, "keys"), filepath.Join(dir, "revoked.jwt")
	if _, err := keydir.Init(keys, keydir.Ed25519, nil); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		args []string
		want string
	}{
		{nil, "feed version 1: 0 revoked"},
		{[]string{"--revoke-agent", "executor"}, "feed version 2: 1 revoked"},
		{[]string{"--revoke-user", "mallory", "--revoke-jti", "tok-9"}, "feed version 3: 3 revoked"},
	}
	for _, s := range steps {
		out, err := command(t, append([]string{"feed", "--keys", keys, "--issuer", testIssuer, "--out", feed}, s.args...)...)
		if err != nil || strings.TrimSpace(out) != s.want {
			t.Fatalf("feed %v: %q %v, want %q", s.args, out, err, s.want)
		}
	}
}

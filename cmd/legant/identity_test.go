package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClientCredentialsRefusedByGateway: a client_credentials token (an
// agent acting for itself: no user, no act) is issued, and the gateway
// refuses it: only delegation tokens reach an upstream.
func TestClientCredentialsRefusedByGateway(t *testing.T) {
	r := newAuthRig(t)
	status, reg := r.post(t, "/oauth2/register", strings.NewReader(`{"client_name":"indexer","grant_types":["client_credentials"],
		"response_types":[],"token_endpoint_auth_method":"client_secret_basic","scope":"expenses:read"}`), "application/json", "", "")
	if status != http.StatusCreated {
		t.Fatalf("register = %d %v", status, reg)
	}
	id, secret := reg["client_id"].(string), reg["client_secret"].(string)
	status, out := r.post(t, "/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"},
		"resource": {r.mcpURL}}.Encode()), "application/x-www-form-urlencoded", id, secret)
	tok, _ := out["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("client_credentials = %d %v", status, out)
	}
	req, _ := http.NewRequest(http.MethodPost, r.mcpURL, strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("gateway with a client_credentials token = %d %s", resp.StatusCode, body)
	}
}

// TestSSOConfigFlag: an invalid --sso-config stops the gateway from
// starting, naming the file and line.
func TestSSOConfigFlag(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "sso.yaml")
	os.WriteFile(bad, []byte("providers:\n  - name: corp\n    issuer: https://login.example.com\n    client_id: legant\n    client_secret: the-secret-itself\n"), 0o600)
	cfg := serveConfig{upstreams: filepath.Join(dir, "none.yaml"), publicURL: "http://127.0.0.1:1",
		logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg.store.dataDir = filepath.Join(dir, "data")
	cfg.identity.ssoConfig = bad
	_, err := wire(context.Background(), cfg, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "must be a reference") || !strings.Contains(err.Error(), "line 5") {
		t.Fatalf("wire with a literal secret = %v", err)
	}
	if strings.Contains(err.Error(), "the-secret-itself") {
		t.Error("the error echoes the secret")
	}
}

package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/store"
)

// TestServedFeedVerifiesAgainstServedJWKS: what `legant gateway` publishes
// is self-consistent: the signed revocation feed verifies against the
// issuer's JWKS, as the SDK checks it.
func TestServedFeedVerifiesAgainstServedJWKS(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "legant.yaml")
	os.WriteFile(reg, []byte(demoRegistry("http://127.0.0.1:9/mcp")), 0o600)
	srv := httptest.NewUnstartedServer(nil)
	cfg := serveConfig{upstreams: reg, publicURL: "http://" + srv.Listener.Addr().String(),
		logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg.store.dataDir = filepath.Join(dir, "data")
	w, err := wire(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	srv.Config.Handler = w.handler
	srv.Start()
	defer srv.Close()

	get := func(path string) []byte {
		resp, err := http.Get(srv.URL + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, err, resp)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	ks, err := authority.ParseJWKS(get("/.well-known/jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	feed, err := revfeed.Verify(string(get("/.well-known/revoked")), ks, time.Now(), 0)
	if err != nil {
		t.Fatalf("the served feed does not verify against the served JWKS: %v", err)
	}
	if feed.Issuer != cfg.publicURL {
		t.Fatalf("feed issuer %q, want %q", feed.Issuer, cfg.publicURL)
	}
}

// TestRegistryReloadIsAudited: a reload of the registry is recorded in the
// audit log as a config_reload event naming the file; a refused reload is not.
func TestRegistryReloadIsAudited(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "legant.yaml")
	if err := os.WriteFile(reg, []byte(demoRegistry("http://127.0.0.1:9/mcp")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := serveConfig{upstreams: reg, publicURL: "http://127.0.0.1:9", logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg.store.dataDir = filepath.Join(dir, "data")
	w, err := wire(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	ctx := context.Background()
	reloads := func() []audit.Event {
		t.Helper()
		evs, err := w.st.Audit().Query(ctx, store.AuditFilter{Kind: audit.KindConfigReload})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	if evs := reloads(); len(evs) != 0 {
		t.Fatalf("config_reload events before any reload: %+v", evs)
	}
	if err := os.WriteFile(reg, []byte("version: 1\nupstreams: [oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.watcher.Reload(); err == nil {
		t.Fatal("a broken registry reloaded")
	}
	if err := os.WriteFile(reg, []byte(demoRegistry("http://127.0.0.1:10/mcp")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.watcher.Reload(); err != nil {
		t.Fatal(err)
	}
	evs := reloads()
	if len(evs) != 1 || evs[0].Kind != audit.KindConfigReload || evs[0].Reason != reg || evs[0].Time.IsZero() {
		t.Fatalf("config_reload events = %+v, want one naming %s", evs, reg)
	}
	if rep, err := w.st.Audit().Verify(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("audit chain after the reload: %+v, %v", rep, err)
	}
}

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
	"github.com/openlegant/legant/authority/revfeed"
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

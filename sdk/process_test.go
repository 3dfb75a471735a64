package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/issuer/store/storetest"
	"github.com/openlegant/legant/sdk"
)

// TestAgainstLegantProcess runs the SDK against a real `legant gateway`
// process on loopback (its JWKS, RFC 8414 metadata and signed revocation
// feed): a minted token verifies; after `legant revoke` (another process,
// the same embedded store) it is refused within a few feed polls.
func TestAgainstLegantProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs legant")
	}
	bin := filepath.Join(t.TempDir(), "legant")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/openlegant/legant/cmd/legant").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	reg := filepath.Join(dir, "legant.yaml")
	os.WriteFile(reg, []byte("version: 1\nupstreams:\n  - slug: api\n    url: http://127.0.0.1:9/mcp\n    tools:\n      pay: {scope: pay}\n"), 0o600)
	port := storetest.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	gw := exec.Command(bin, "gateway", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "-f", reg,
		"--data-dir", data, "--admin-listen=")
	gw.Stderr = os.Stderr
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Process.Kill(); gw.Wait() })
	waitReady(t, base+"/.well-known/jwks.json")

	aud := base + "/mcp/api"
	mint := exec.Command(bin, "mint", "--keys", filepath.Join(data, "keys"), "--issuer", base, "--user", "alice",
		"--agent", "planner", "--aud", aud, "--scope", "pay", "--ttl", "1h")
	out, err := mint.Output()
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	token := strings.TrimSpace(string(out))

	ctx := context.Background()
	polled := make(chan struct{}, 1)
	v, err := sdk.NewVerifier(ctx, base, aud, &sdk.VerifierOptions{AllowHTTP: true, FeedInterval: 50 * time.Millisecond,
		OnFeed: func(sdk.FeedStatus) {
			select {
			case polled <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	c, err := v.Verify(ctx, token)
	if err != nil {
		t.Fatalf("verify against the running issuer: %v", err)
	}
	if c.Provenance() != "user:alice → agent:planner" {
		t.Fatalf("provenance %q", c.Provenance())
	}
	if out, err := exec.Command(bin, "revoke", "--user", "alice", "--reason", "test", "--data-dir", data).CombinedOutput(); err != nil {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	// The gateway process sees the other process's revocation (SQLite poll),
	// bumps its feed; the SDK's next poll refuses the token.
	timeout := time.After(20 * time.Second)
	for {
		_, err := v.Verify(ctx, token)
		if err != nil {
			if !errors.Is(err, sdk.ErrRevoked) {
				t.Fatalf("refused for the wrong reason: %v", err)
			}
			return
		}
		select {
		case <-polled: // the next feed poll: check again
		case <-timeout:
			t.Fatalf("the revoked token still verifies; feed status %+v", v.FeedStatus())
		}
	}
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

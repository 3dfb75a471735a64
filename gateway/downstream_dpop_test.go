package gateway_test

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/dpop"
	"github.com/openlegant/legant/examples/expenses"
	"github.com/openlegant/legant/sdk"
)

// TestDownstreamDPoP: an upstream protected by the Go SDK in
// dpop.ModeRequire, reached through the gateway. With downstream_dpop the
// gateway's token is bound to its DPoP key and each request carries a fresh
// proof: initialize, the initialized notification and a tool call all pass
// the SDK's replay cache and key check. The token, stolen at the upstream,
// is useless there without the gateway's key. Without the option the same
// upstream refuses the gateway's bearer token.
func TestDownstreamDPoP(t *testing.T) {
	for _, on := range []bool{true, false} {
		name := map[bool]string{true: "downstream_dpop", false: "bearer"}[on]
		t.Run(name, func(t *testing.T) {
			var protected atomic.Pointer[http.Handler]
			reg := "      list_expenses:\n        scope: expenses:read\n"
			if on {
				reg += "    downstream_dpop: true\n"
			}
			r := newRig(t, rigOptions{registry: reg, handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				(*protected.Load()).ServeHTTP(w, req)
			})})

			// The upstream trusts the gateway as the issuer of its
			// downstream tokens (the gateway's public URL, its signing key).
			ks := authority.NewKeySet()
			ks.Add(r.gwKey, time.Time{})
			jwks, err := ks.JWKS(time.Now())
			if err != nil {
				t.Fatal(err)
			}
			jwksFile := filepath.Join(t.TempDir(), "jwks.json")
			if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
				t.Fatal(err)
			}
			v, err := sdk.NewVerifier(context.Background(), r.server.URL, "https://expenses.internal", &sdk.VerifierOptions{
				JWKSFile: jwksFile, AllowHTTP: true,
				DPoP: &sdk.DPoPOptions{Mode: dpop.ModeRequire}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { v.Close() })
			var h http.Handler = v.Middleware(nil)(mcp.NewStreamableHTTPHandler(
				func(*http.Request) *mcp.Server { return expenses.NewServer(r.ledger) }, nil))
			protected.Store(&h)

			c := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, nil)
			tr := &mcp.StreamableClientTransport{Endpoint: r.endpoint(),
				HTTPClient: &http.Client{Transport: bearerTransport{token: r.token(tokenOptions{})}}, MaxRetries: -1}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cs, err := c.Connect(ctx, tr, nil)
			if !on {
				if err == nil {
					cs.Close()
					t.Fatal("the DPoP-requiring upstream accepted the gateway's bearer token")
				}
				for _, a := range r.seenAuth.all() {
					if !strings.HasPrefix(a, "Bearer ") {
						t.Errorf("upstream saw Authorization %.20q…, want the Bearer scheme", a)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("connect through the gateway: %v", err)
			}
			defer cs.Close()
			for range 2 { // the cached token, a fresh proof each time
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}})
				if err != nil || res.IsError {
					t.Fatalf("list_expenses: %v %+v", err, res)
				}
			}
			seen := r.seenAuth.all()
			if len(seen) < 4 {
				t.Fatalf("upstream saw %d requests, want initialize, initialized and two calls", len(seen))
			}
			tok := ""
			for _, a := range seen {
				scheme, rest, _ := strings.Cut(a, " ")
				if scheme != "DPoP" {
					t.Fatalf("upstream saw scheme %q, want DPoP", scheme)
				}
				if tok != "" && rest != tok {
					t.Error("the downstream token was not reused across requests")
				}
				tok = rest
			}

			// Stolen at the upstream: as a bearer token, or with a proof
			// by the thief's key, it is refused.
			_, thief, _ := ed25519.GenerateKey(nil)
			proof, err := dpop.NewProof(thief, http.MethodPost, r.upstream.URL, dpop.ProofOptions{AccessToken: tok}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			for _, hdr := range []map[string]string{
				{"Authorization": "Bearer " + tok},
				{"Authorization": "DPoP " + tok, "DPoP": proof},
			} {
				req, _ := http.NewRequest(http.MethodPost, r.upstream.URL, strings.NewReader(dpopInitBody))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				for k, v := range hdr {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("stolen downstream token (%s): status %d, want 401", strings.Fields(hdr["Authorization"])[0], resp.StatusCode)
				}
			}
		})
	}
}

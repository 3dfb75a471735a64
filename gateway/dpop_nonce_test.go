package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority/dpop"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/sdk/dpopclient"
	"github.com/openlegant/legant/upstreams"
)

// TestDPoPNoncesAtTheGateway: with DPoPNonces, a bound token's proof must
// carry the gateway's nonce: without it, or with a made-up one, the call is
// refused 401 use_dpop_nonce with the nonce in DPoP-Nonce; with it the call
// passes. After a rotation the previous nonce still passes and a new one is
// handed out; after two, the old one is refused. Bearer tokens are
// unaffected, and sdk/dpopclient completes the round trip by itself.
func TestDPoPNoncesAtTheGateway(t *testing.T) {
	const rotation = time.Minute
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	r := newRig(t, rigOptions{registry: "      list_expenses:\n        scope: expenses:read\n", gwOpts: func(o *gateway.Options) {
		o.Now = clock
		o.DPoPNonces = &gateway.DPoPNonceOptions{Secret: []byte(strings.Repeat("s", 32)), Rotation: rotation}
	}})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jkt, _ := dpop.Thumbprint(key.Public())
	bound := boundToken(t, r, jkt)

	post := func(scheme, tok, nonce string, withProof bool) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, r.endpoint(), strings.NewReader(dpopInitBody))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", scheme+" "+tok)
		if withProof {
			p, err := dpop.NewProof(key, http.MethodPost, r.endpoint(), dpop.ProofOptions{AccessToken: tok, Nonce: nonce}, clock())
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("DPoP", p)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	askedForNonce := func(what string, resp *http.Response) string {
		t.Helper()
		challenges := strings.Join(resp.Header.Values("WWW-Authenticate"), " | ")
		n := resp.Header.Get("DPoP-Nonce")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(challenges, `error="use_dpop_nonce"`) || n == "" {
			t.Fatalf("%s: status %d, challenges %q, DPoP-Nonce %q: want 401 use_dpop_nonce with a nonce", what, resp.StatusCode, challenges, n)
		}
		return n
	}

	n1 := askedForNonce("no nonce", post("DPoP", bound, "", true))
	if n := askedForNonce("a made-up nonce", post("DPoP", bound, "made-up", true)); n != n1 {
		t.Errorf("nonce changed within one window: %q then %q", n1, n)
	}
	if resp := post("DPoP", bound, n1, true); resp.StatusCode != http.StatusOK {
		t.Fatalf("proof with the nonce: status %d, want 200", resp.StatusCode)
	}
	if resp := post("Bearer", r.token(tokenOptions{}), "", false); resp.StatusCode != http.StatusOK {
		t.Fatalf("bearer token: status %d, want 200 (nonces are for proofs)", resp.StatusCode)
	}

	advance(rotation)
	if resp := post("DPoP", bound, n1, true); resp.StatusCode != http.StatusOK {
		t.Fatalf("the previous nonce, one rotation later: status %d, want 200", resp.StatusCode)
	}
	n2 := askedForNonce("no nonce after a rotation", post("DPoP", bound, "", true))
	if n2 == n1 {
		t.Fatal("the nonce did not rotate")
	}
	advance(rotation)
	if n := askedForNonce("the nonce of two rotations ago", post("DPoP", bound, n1, true)); n == n1 || n == n2 {
		t.Errorf("after two rotations the gateway handed out %q, an old nonce", n)
	}

	// A real client: sdk/dpopclient learns the nonce from the refusal and
	// retries, for every request of the session.
	c := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: r.endpoint(), MaxRetries: -1, HTTPClient: &http.Client{
		Transport: &dpopclient.Transport{Key: key, Token: dpopclient.StaticToken(bound), Now: clock}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, tr, nil)
	if err != nil {
		t.Fatalf("connect with dpopclient: %v", err)
	}
	defer cs.Close()
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}}); err != nil || res.IsError {
		t.Fatalf("list_expenses with dpopclient: %v %+v", err, res)
	}
}

func TestDPoPNonceSecretTooShort(t *testing.T) {
	reg, err := upstreams.Parse("r.yaml", []byte(registryYAML("http://127.0.0.1:9/mcp", "")), upstreams.Options{PublicURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, rigOptions{})
	_, err = gateway.New(gateway.Options{Registry: func() *upstreams.Registry { return reg }, Issuer: testIssuer, Keys: r.keys,
		Signer: r.gwKey, PublicURL: "http://127.0.0.1:1", DPoPNonces: &gateway.DPoPNonceOptions{Secret: []byte("short")}})
	if err == nil || !strings.Contains(err.Error(), "at least 32 bytes") {
		t.Fatalf("a 5-byte nonce secret: %v, want refused", err)
	}
}

package dpopclient_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/dpop"
	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/sdk"
	"github.com/openlegant/legant/sdk/dpopclient"
	"github.com/openlegant/legant/upstreams"
)

// counting counts the requests that reach the network.
type counting struct{ n atomic.Int32 }

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// rig is Legant's authorization server (with server DPoP nonces) and a
// resource protected by the Go SDK's middleware in dpop.ModeRequire, both
// on loopback.
type rig struct {
	issuer, resource string
	keys             *authority.KeySet
	api              *httptest.Server
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{}
	as := httptest.NewUnstartedServer(nil)
	r.issuer = "http://" + as.Listener.Addr().String()
	r.api = httptest.NewUnstartedServer(nil)
	r.resource = "http://" + r.api.Listener.Addr().String() + "/expenses"
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir(), Issuer: r.issuer,
		KeyEncryptionSecret: []byte("0123456789abcdef0123456789abcdef"), PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := upstreams.Parse("r.yaml", []byte("version: 1\nupstreams:\n  - slug: expenses\n    url: http://127.0.0.1:9/mcp\n    inbound_audience: "+r.resource+"\n    tools:\n      list: {scope: expenses:read}\n"),
		upstreams.Options{PublicURL: r.issuer})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := authority.GenerateEd25519Key("k1")
	r.keys = authority.NewKeySet()
	r.keys.Add(key, time.Time{})
	srv, err := oauth.New(oauth.Options{Issuer: r.issuer, Store: st, Keys: r.keys,
		Registry:   func() *upstreams.Registry { return reg },
		DPoPNonces: &oauth.DPoPNonceOptions{Secret: []byte(strings.Repeat("n", 32))}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+oauth.JWKSPath, func(w http.ResponseWriter, _ *http.Request) {
		b, _ := r.keys.JWKS(time.Now())
		w.Write(b)
	})
	mux.Handle("/", srv)
	as.Config.Handler = mux
	as.Start()
	t.Cleanup(as.Close)

	v, err := sdk.NewVerifier(context.Background(), r.issuer, r.resource,
		&sdk.VerifierOptions{AllowHTTP: true, DPoP: &sdk.DPoPOptions{Mode: dpop.ModeRequire}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	r.api.Config.Handler = v.Middleware(nil)(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c, _ := sdk.ClaimsFrom(req.Context())
		io.WriteString(w, "hello "+c.Subject)
	}))
	r.api.Start()
	t.Cleanup(r.api.Close)
	return r
}

// TestTransportTokenEndpointNonce: the transport's first token request is
// answered use_dpop_nonce; it retries once with the server's nonce and the
// token it gets is bound to its key.
func TestTransportTokenEndpointNonce(t *testing.T) {
	r := newRig(t)
	body, _ := json.Marshal(map[string]any{"client_name": "Indexer", "grant_types": []string{"client_credentials"},
		"response_types": []string{}, "token_endpoint_auth_method": "client_secret_basic", "scope": "expenses:read"})
	resp, err := http.Post(r.issuer+"/oauth2/register", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	var client struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	json.NewDecoder(resp.Body).Decode(&client)
	resp.Body.Close()

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jkt, _ := dpop.Thumbprint(key.Public())
	wire := &counting{}
	hc := &http.Client{Transport: &dpopclient.Transport{Key: key, Base: wire}}
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {r.resource}}
	req, _ := http.NewRequest(http.MethodPost, r.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client.ID, client.Secret)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	if resp.StatusCode != 200 || tok.TokenType != "DPoP" || wire.n.Load() != 2 {
		t.Fatalf("token = %d %q after %d requests; want 200 DPoP after a nonce retry", resp.StatusCode, tok.TokenType, wire.n.Load())
	}
	c, err := authority.Verify(tok.AccessToken, r.keys, authority.VerifyOptions{Issuer: r.issuer, Audience: r.resource}, time.Now())
	if err != nil || c.BoundKey() != jkt {
		t.Fatalf("token claims %+v, %v; want cnf.jkt %s", c, err, jkt)
	}
	// The next request uses the nonce it learnt: no retry.
	req, _ = http.NewRequest(http.MethodPost, r.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client.ID, client.Secret)
	if resp, err = hc.Do(req); err != nil || resp.StatusCode != 200 || wire.n.Load() != 3 {
		t.Fatalf("second token request: %v %v after %d requests", resp.StatusCode, err, wire.n.Load())
	}
	resp.Body.Close()
}

// TestTransportResource: a delegation token bound to the agent's key works
// at a resource requiring DPoP through the transport (a new proof per
// request); the same token stolen — sent as a bearer token, or through a
// transport with another key — is refused with a DPoP challenge.
func TestTransportResource(t *testing.T) {
	r := newRig(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	thief, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jkt, _ := dpop.Thumbprint(key.Public())
	signer, _ := r.keys.Signer()
	now := time.Now()
	tok, err := authority.Sign(signer, &authority.Claims{Issuer: r.issuer, Subject: "alice", Audience: []string{r.resource},
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), ID: "at_1", ClientID: "agent", Actor: &authority.Actor{Subject: "agent"},
		Confirmation: &authority.Confirmation{JKT: jkt}, Constraints: authority.Unrestricted()})
	if err != nil {
		t.Fatal(err)
	}
	get := func(rt http.RoundTripper) (*http.Response, string) {
		resp, err := (&http.Client{Transport: rt}).Get(r.resource + "?page=2")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	owner := &dpopclient.Transport{Key: key, Token: dpopclient.StaticToken(tok)}
	for i := range 2 {
		if resp, body := get(owner); resp.StatusCode != 200 || body != "hello alice" {
			t.Fatalf("request %d with the key: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, _ := get(&dpopclient.Transport{Key: thief, Token: dpopclient.StaticToken(tok)})
	if resp.StatusCode != 401 || !strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), " "), "invalid_dpop_proof") {
		t.Fatalf("another key: %d %v", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
	resp, _ = get(roundTripFunc(func(req *http.Request) (*http.Response, error) {
		req.Header.Set("Authorization", "Bearer "+tok)
		return http.DefaultTransport.RoundTrip(req)
	}))
	if resp.StatusCode != 401 || !strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), " "), "DPoP") {
		t.Fatalf("stolen bearer: %d %v", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

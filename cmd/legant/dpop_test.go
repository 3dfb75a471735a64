package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/dpop"
	"github.com/openlegant/legant/issuer/keydir"
	"github.com/openlegant/legant/sdk/dpopclient"
)

// TestDPoPTokenFromIssuerAtGateway: an agent with its own key gets a token
// from Legant's issuer with a DPoP proof (code flow, public client) — a
// token bound to its key (cnf.jkt). Through the gateway it works with a
// proof per request (sdk/dpopclient); the same token stolen and sent as a
// bearer token, or by a thief's transport with another key, is refused.
func TestDPoPTokenFromIssuerAtGateway(t *testing.T) {
	ctx := context.Background()
	r := newAuthRig(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jkt, _ := dpop.Thumbprint(key.Public())
	agentHTTP := &http.Client{Transport: &dpopclient.Transport{Key: key}}

	const cb = "http://127.0.0.1:45678/callback"
	status, reg := r.post(t, "/oauth2/register", strings.NewReader(`{"client_name":"bound agent","redirect_uris":["`+cb+`"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`), "application/json", "", "")
	clientID, _ := reg["client_id"].(string)
	if status != http.StatusCreated || clientID == "" {
		t.Fatalf("register = %d %v", status, reg)
	}
	verifier := strings.Repeat("v", 50)
	challenge := s256(verifier)
	authURL := r.srv.URL + "/oauth2/authorize?" + url.Values{"response_type": {"code"}, "client_id": {clientID},
		"redirect_uri": {cb}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "resource": {r.mcpURL},
		"scope": {"expenses:read expenses:write"}, "state": {"s"}}.Encode()
	b := newUserBrowser(t, r.srv.URL, url.Values{"tool": {"list_expenses", "submit_expense"}, "max_amount": {"200"}, "currency": {"USD"}, "ttl": {"8h"}})
	res, err := b.authorize(ctx, &auth.AuthorizationArgs{URL: authURL})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {res.Code}, "redirect_uri": {cb},
		"code_verifier": {verifier}, "resource": {r.mcpURL}, "client_id": {clientID}}
	resp, err := agentHTTP.PostForm(r.srv.URL+"/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ AccessToken, TokenType, RefreshToken string }
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	json.Unmarshal(body, &struct {
		A *string `json:"access_token"`
		T *string `json:"token_type"`
	}{&tok.AccessToken, &tok.TokenType})
	claims, err := r.verify(tok.AccessToken)
	if resp.StatusCode != 200 || tok.TokenType != "DPoP" || err != nil || claims.BoundKey() != jkt {
		t.Fatalf("token = %d %s (%v)", resp.StatusCode, body, err)
	}

	connect := func(rt http.RoundTripper) (*mcp.ClientSession, error) {
		return mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil).Connect(ctx,
			&mcp.StreamableClientTransport{Endpoint: r.mcpURL, HTTPClient: &http.Client{Transport: rt}}, nil)
	}
	s, err := connect(&dpopclient.Transport{Key: key, Token: dpopclient.StaticToken(tok.AccessToken)})
	if err != nil {
		t.Fatalf("connect with the key: %v", err)
	}
	defer s.Close()
	if err := callTool(ctx, s, "submit_expense", map[string]any{"amount": 120, "category": "travel"}); err != nil {
		t.Fatalf("bound token with proofs: %v", err)
	}
	if _, err := connect(staticBearer{tok.AccessToken}); err == nil {
		t.Fatal("the bound token replayed as a bearer token was accepted")
	}
	thief, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := connect(&dpopclient.Transport{Key: thief, Token: dpopclient.StaticToken(tok.AccessToken)}); err == nil {
		t.Fatal("the bound token with a thief's proof was accepted")
	}
	if got := r.ledger.Expenses(); len(got) != 1 {
		t.Fatalf("ledger = %+v, want only the owner's expense", got)
	}
}

// TestDPoPProofReplayAcrossReplicas: two gateways on one PostgreSQL schema
// share the store's proof cache; a proof accepted by one is refused by the
// other (same jti), while a fresh proof by the same key is accepted there.
func TestDPoPProofReplayAcrossReplicas(t *testing.T) {
	pg := postgresBackend(t)
	k := newKillRig(t)
	opts := pg.Options(t)
	a, b := k.replica(t, opts), k.replica(t, opts)

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jkt, _ := dpop.Thumbprint(key.Public())
	tok := k.boundToken(t, "tok-dpop", jkt)
	const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"a","version":"1"}}}`
	post := func(r *replica, proof string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, r.endpoint(), strings.NewReader(initialize))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", proof)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	// The replicas' public URL, as a load balancer in front of both gives it.
	newProof := func() string {
		p, err := dpop.NewProof(key, http.MethodPost, killPublic+"/mcp/"+killSlug, dpop.ProofOptions{AccessToken: tok}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	proof := newProof()
	if resp := post(a, proof); resp.StatusCode != http.StatusOK {
		t.Fatalf("replica A, fresh proof: %d %v", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
	resp := post(b, proof)
	if ch := strings.Join(resp.Header.Values("WWW-Authenticate"), " "); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(ch, `error="invalid_dpop_proof"`) || !strings.Contains(ch, "used before") {
		t.Fatalf("replica B, replayed proof: %d %s", resp.StatusCode, ch)
	}
	if resp := post(b, newProof()); resp.StatusCode != http.StatusOK {
		t.Fatalf("replica B, fresh proof: %d %v", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
}

// boundToken is a token as k.token mints it, bound to the key jkt.
func (k *killRig) boundToken(t testing.TB, jti, jkt string) string {
	t.Helper()
	ks, err := keydir.Load(k.keysDir)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ks.Signer()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := authority.Sign(key, &authority.Claims{Issuer: killIssuer, Subject: "alice",
		Audience: []string{killPublic + "/mcp/" + killSlug}, IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		ID: jti, ClientID: "agent-host", Scopes: []string{"work:run"}, Actor: &authority.Actor{Subject: "planner"},
		DelegationID: "del-" + jti, Constraints: authority.Unrestricted(), Confirmation: &authority.Confirmation{JKT: jkt}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// s256 is the PKCE S256 challenge of verifier.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

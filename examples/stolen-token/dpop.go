package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/dpop"
	"github.com/openlegant/legant/examples/internal/demo"
	"github.com/openlegant/legant/sdk"
)

// boundAtGateway: a token bound to the agent's key (RFC 9449 DPoP) is
// worthless to a thief at the gateway: /mcp/crm accepts bearer and bound
// tokens (dpop: allow, the default), and a bound one only with a fresh proof
// by its key, checked against the store's shared replay cache.
func (s *story) boundAtGateway(ctx context.Context) error {
	s.n.Scene("A DPoP-bound token, stolen, at the gateway")
	_, agentKey, _ := ed25519.GenerateKey(rand.Reader)
	_, thiefKey, _ := ed25519.GenerateKey(rand.Reader)
	jkt, err := dpop.Thumbprint(agentKey.Public())
	if err != nil {
		return err
	}
	c := &authority.Claims{Subject: "alice", Audience: []string{s.env.Audience("crm")}, Scopes: []string{"crm:read"},
		Actor: authority.NewActor("assistant"), Constraints: authority.Unrestricted(), Confirmation: &authority.Confirmation{JKT: jkt}}
	token, err := s.env.Mint(c)
	if err != nil {
		return err
	}
	s.n.Say("issuer", "a token for agent:assistant on /mcp/crm bound to its own key: cnf.jkt %.12s…", jkt)
	const tool = "read_contacts"
	steps := []struct {
		step, who, what string
		key             ed25519.PrivateKey // nil: the token as a bearer token
		want            string
	}{
		{"gateway: owner with its key", "assistant", "calls read_contacts with the DPoP scheme and a proof per request, signed by its key", agentKey, "allow"},
		{"gateway: bound token as bearer", "thief", "calls read_contacts with the stolen token as a bearer token", nil,
			"401 " + dpop.ErrBoundAsBearer.Error()},
		{"gateway: bound token, thief's key", "thief", "calls read_contacts with the stolen token and proofs signed by his own key", thiefKey,
			"401 the DPoP proof is not signed by the key the token is bound to"},
	}
	for _, st := range steps {
		s.n.Say(st.who, "%s", st.what)
		var out demo.Outcome
		if st.key != nil {
			out, err = s.env.AttemptDPoP(ctx, "crm", token, st.who, st.key, tool, nil)
		} else {
			out, err = s.env.Attempt(ctx, "crm", token, st.who, tool, nil)
		}
		if err != nil {
			return err
		}
		s.n.Expect(st.step, out, st.want)
		if err := s.audit(ctx, "crm", tool, out); err != nil {
			return err
		}
	}
	return nil
}

// boundToKey: the same token model behind the Go SDK: an HTTP API checks
// the proofs itself, and a proof sniffed with the token is refused too (its
// jti was used before).
func (s *story) boundToKey(ctx context.Context) error {
	s.n.Scene("A DPoP-bound token, stolen, at an API behind the Go SDK")
	api, err := s.contactsAPI(ctx)
	if err != nil {
		return err
	}
	defer api.close()
	_, agentKey, _ := ed25519.GenerateKey(rand.Reader)
	_, thiefKey, _ := ed25519.GenerateKey(rand.Reader)
	jkt, err := dpop.Thumbprint(agentKey.Public())
	if err != nil {
		return err
	}
	c := &authority.Claims{Subject: "alice", Audience: []string{api.audience}, Scopes: []string{"contacts:read"},
		Actor: authority.NewActor("assistant"), Constraints: authority.Unrestricted(), Confirmation: &authority.Confirmation{JKT: jkt}}
	token, err := s.env.Mint(c)
	if err != nil {
		return err
	}
	s.n.Say("setup", "contacts API %s, protected by the Go SDK's middleware (sdk.VerifierOptions.DPoP)", api.url)
	s.n.Say("issuer", "a token for agent:assistant bound to its own key: cnf.jkt %.12s…", jkt)
	url := api.url + "/contacts"
	proof, err := dpop.NewProof(agentKey, http.MethodGet, url, dpop.ProofOptions{AccessToken: token}, s.env.Clock.Now())
	if err != nil {
		return err
	}
	steps := []struct {
		step, who, what, scheme, proof, want string
	}{
		{"owner with its key", "assistant", "GET /contacts, DPoP token + a proof signed by its key", "DPoP", proof, "200 ok"},
		{"bound token as bearer", "thief", "GET /contacts with the stolen token as a bearer token", "Bearer", "",
			"401 invalid_token: " + dpop.ErrBoundAsBearer.Error()},
		{"bound token, thief's key", "thief", "GET /contacts with the stolen token and a proof signed by his own key", "DPoP", "thief",
			"401 invalid_dpop_proof: the DPoP proof is not signed by the key the token is bound to"},
		{"bound token, replayed proof", "thief", "GET /contacts replaying the assistant's proof he sniffed too", "DPoP", proof,
			"401 invalid_dpop_proof: the DPoP proof was used before"},
	}
	for _, st := range steps {
		p := st.proof
		if p == "thief" {
			if p, err = dpop.NewProof(thiefKey, http.MethodGet, url, dpop.ProofOptions{AccessToken: token}, s.env.Clock.Now()); err != nil {
				return err
			}
		}
		s.n.Say(st.who, "%s", st.what)
		got, err := get(ctx, url, st.scheme, token, p)
		if err != nil {
			return err
		}
		s.n.Check(st.step, got, st.want)
		s.n.Say("sdk", "%s", got)
	}
	return nil
}

type contactsAPI struct {
	url, audience string
	v             *sdk.Verifier
	close         func()
}

// contactsAPI starts the API: the SDK verifies tokens offline against the
// issuer's JWKS and revocation feed, and DPoP proofs against the API's URL.
func (s *story) contactsAPI(ctx context.Context) (*contactsAPI, error) {
	var h http.Handler
	base, err := s.env.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	if err != nil {
		return nil, err
	}
	api := &contactsAPI{url: base, audience: base + "/contacts"}
	api.v, err = sdk.NewVerifier(ctx, s.env.IssuerURL, api.audience, &sdk.VerifierOptions{AllowHTTP: true,
		Now: s.env.Clock.Now, DPoP: &sdk.DPoPOptions{PublicURL: base}})
	if err != nil {
		return nil, err
	}
	api.close = func() { api.v.Close() }
	h = api.v.Middleware(&sdk.MiddlewareOptions{Scope: "contacts:read"})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := sdk.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "ok: 3 contacts for %s\n", c.Provenance())
	}))
	return api, nil
}

// get calls the API and returns "200 ok" or "<status> <error>: <description>".
func get(ctx context.Context, url, scheme, token, proof string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", scheme+" "+token)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return "200 ok", nil
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body))), nil
	}
	return fmt.Sprintf("%d %s: %s", resp.StatusCode, e.Error, e.Description), nil
}

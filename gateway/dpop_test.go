package gateway_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/authority/dpop"
)

const dpopInitBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

// TestDPoPAtTheGateway: a token bound to the agent's key reaches the upstream
// only with the DPoP scheme and a fresh proof by that key for this request;
// stolen (presented as bearer, or proved by the thief's key), replayed, or
// proved for another URL, it is refused at the edge with the RFC 9449
// challenge and nothing reaches the upstream. A registry entry with
// `dpop: require` refuses bearer tokens; `dpop: bearer` refuses bound ones.
func TestDPoPAtTheGateway(t *testing.T) {
	for _, mode := range []string{"allow", "require", "bearer"} {
		t.Run(mode, func(t *testing.T) {
			r := newRig(t, rigOptions{registry: "      list_expenses:\n        scope: expenses:read\n"})
			if mode != "allow" {
				r = newRig(t, rigOptions{registry: "      list_expenses:\n        scope: expenses:read\n    dpop: " + mode + "\n"})
			}
			agent, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			thief, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			jkt, _ := dpop.Thumbprint(agent.Public())
			bound := boundToken(t, r, jkt)
			bearer := r.token(tokenOptions{})
			proof := func(k *ecdsa.PrivateKey, url, tok string) string {
				p, err := dpop.NewProof(k, "POST", url, dpop.ProofOptions{AccessToken: tok}, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			post := func(scheme, tok, p string) *http.Response {
				req, _ := http.NewRequest(http.MethodPost, r.endpoint(), strings.NewReader(dpopInitBody))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("Authorization", scheme+" "+tok)
				if p != "" {
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
			good := proof(agent, r.endpoint(), bound)
			type tc struct {
				name, scheme, tok, proof string
				ok                       bool
				dpopErr                  string // error on the DPoP challenge
			}
			cases := []tc{
				{"bound token with a valid proof", "DPoP", bound, good, mode != "bearer", ""},
				{"replayed proof", "DPoP", bound, good, false, "invalid_dpop_proof"},
				{"stolen token as bearer", "Bearer", bound, "", false, ""},
				{"the thief's key", "DPoP", bound, proof(thief, r.endpoint(), bound), false, "invalid_dpop_proof"},
				{"proof for another URL", "DPoP", bound, proof(agent, r.server.URL+"/mcp/other", bound), false, "invalid_dpop_proof"},
				{"bearer token", "Bearer", bearer, "", mode != "require", ""},
			}
			if mode == "bearer" {
				cases[1].dpopErr, cases[3].dpopErr, cases[4].dpopErr = "", "", "" // no DPoP challenge at all
			}
			for _, c := range cases {
				before := len(r.seenAuth.all())
				resp := post(c.scheme, c.tok, c.proof)
				reached := len(r.seenAuth.all()) - before
				if c.ok {
					if resp.StatusCode != 200 || reached == 0 {
						t.Errorf("%s: %d, %d upstream requests; want 200 and the upstream reached", c.name, resp.StatusCode, reached)
					}
					continue
				}
				ch := strings.Join(resp.Header.Values("WWW-Authenticate"), " | ")
				if resp.StatusCode != 401 || reached != 0 {
					t.Errorf("%s: %d, %d upstream requests; want 401 and nothing upstream", c.name, resp.StatusCode, reached)
				}
				if (mode == "bearer") == strings.Contains(ch, "DPoP algs=") {
					t.Errorf("%s: challenges %s (mode %s)", c.name, ch, mode)
				}
				if c.dpopErr != "" && !strings.Contains(ch, fmt.Sprintf(`error=%q`, c.dpopErr)) {
					t.Errorf("%s: challenges %s, want %s on the DPoP challenge", c.name, ch, c.dpopErr)
				}
			}
			if mode == "allow" { // every refusal is audited with its reason
				r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindEdge401 && e.Reason == "dpop_invalid_dpop_proof" })
				r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindEdge401 && e.Reason == "dpop_invalid_token" })
			}
		})
	}
}

// boundToken is a delegation token bound to the key whose thumbprint is jkt.
func boundToken(t *testing.T, r *rig, jkt string) string {
	t.Helper()
	now := time.Now()
	tok, err := authority.Sign(r.key, &authority.Claims{
		Issuer: testIssuer, Subject: "alice", Audience: []string{r.endpoint()},
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), ID: fmt.Sprintf("bound-%d", now.UnixNano()), ClientID: "test-client",
		Scopes: []string{"expenses:read"}, Actor: authority.NewActor("planner"), Constraints: authority.Unrestricted(),
		Confirmation: &authority.Confirmation{JKT: jkt},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

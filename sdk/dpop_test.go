package sdk_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/dpop"
	"github.com/openlegant/legant/sdk"
)

// TestDPoP: a token bound to the agent's key is honoured only with the DPoP
// scheme and a fresh proof by that key for this request; stolen (no key),
// replayed, or proved by another key, it is refused with the RFC 9449
// challenge. A bearer token still works in the default mode; ModeRequire
// refuses it. Verify (no request) refuses a bound token.
func TestDPoP(t *testing.T) {
	ti := newTestIssuer(t)
	const public = "https://api.example"
	v := ti.verifier(&sdk.VerifierOptions{DPoP: &sdk.DPoPOptions{PublicURL: public}})
	h := expenseAPI(v)
	agent, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	thief, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jkt, err := dpop.Thumbprint(agent.Public())
	if err != nil {
		t.Fatal(err)
	}
	bound := ti.mint(ti.claims(func(c *authority.Claims) { c.Confirmation = &authority.Confirmation{JKT: jkt} }))
	bearer := ti.mint(ti.claims(nil))
	proof := func(key *ecdsa.PrivateKey, method, url, token string) string {
		p, err := dpop.NewProof(key, method, url, dpop.ProofOptions{AccessToken: token}, ti.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	call := func(scheme, token string, proofs ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/expenses?amount=10", nil)
		req.Header.Set("Authorization", scheme+" "+token)
		for _, p := range proofs {
			req.Header.Add("DPoP", p)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	url := public + "/expenses"
	good := proof(agent, "POST", url, bound)
	if rec := call("DPoP", bound, good); rec.Code != 200 {
		t.Fatalf("bound token with a valid proof: %d %s", rec.Code, rec.Body)
	}
	for _, tc := range []struct {
		name, scheme, token string
		proofs              []string
		code                string // the body's error
	}{
		{"replayed proof", "DPoP", bound, []string{good}, "invalid_dpop_proof"},
		{"stolen token as bearer", "Bearer", bound, nil, "invalid_token"},
		{"stolen token, the thief's key", "DPoP", bound, []string{proof(thief, "POST", url, bound)}, "invalid_dpop_proof"},
		{"proof for another method", "DPoP", bound, []string{proof(agent, "GET", url, bound)}, "invalid_dpop_proof"},
		{"proof for another URL", "DPoP", bound, []string{proof(agent, "POST", public+"/other", bound)}, "invalid_dpop_proof"},
		{"proof for another token", "DPoP", bound, []string{proof(agent, "POST", url, bearer)}, "invalid_dpop_proof"},
		{"no proof", "DPoP", bound, nil, "invalid_dpop_proof"},
		{"bearer token with the DPoP scheme", "DPoP", bearer, []string{proof(agent, "POST", url, bearer)}, "invalid_token"},
	} {
		rec := call(tc.scheme, tc.token, tc.proofs...)
		challenges := strings.Join(rec.Header().Values("WWW-Authenticate"), " | ")
		if rec.Code != 401 || !strings.Contains(rec.Body.String(), `"error":"`+tc.code+`"`) || !strings.Contains(challenges, `DPoP algs="`) {
			t.Errorf("%s: %d %s, challenges %s; want 401 %s and a DPoP challenge", tc.name, rec.Code, rec.Body, challenges, tc.code)
		}
		if tc.code == "invalid_dpop_proof" && !strings.Contains(challenges, `DPoP algs="EdDSA ES256 ES384 RS256 PS256", error="invalid_dpop_proof"`) {
			t.Errorf("%s: the proof error belongs on the DPoP challenge: %s", tc.name, challenges)
		}
	}
	if rec := call("Bearer", bearer); rec.Code != 200 {
		t.Errorf("bearer token, default mode: %d %s", rec.Code, rec.Body)
	}
	strict := expenseAPI(ti.verifier(&sdk.VerifierOptions{DPoP: &sdk.DPoPOptions{PublicURL: public, Mode: dpop.ModeRequire}}))
	req := httptest.NewRequest(http.MethodPost, "/expenses?amount=10", nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	rec := httptest.NewRecorder()
	strict.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Errorf("bearer token, ModeRequire: %d %s", rec.Code, rec.Body)
	}
	if _, err := v.Verify(t.Context(), bound); !errors.Is(err, dpop.ErrBoundAsBearer) {
		t.Errorf("Verify of a bound token: %v, want ErrBoundAsBearer", err)
	}
}

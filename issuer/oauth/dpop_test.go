package oauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/dpop"
	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// dpopKey is a client's DPoP key and its thumbprint.
type dpopKey struct {
	*ecdsa.PrivateKey
	jkt string
}

func newDPoPKey(t testing.TB) dpopKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := dpop.Thumbprint(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return dpopKey{k, jkt}
}

// proof is a proof by k for the token endpoint of h.
func (h *harness) proof(k dpopKey, o dpop.ProofOptions, now time.Time) string {
	h.t.Helper()
	p, err := dpop.NewProof(k.PrivateKey, http.MethodPost, h.url("/oauth2/token"), o, now)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// tokenWithProof posts to the token endpoint with the given DPoP headers
// and returns the status, the JSON body and the response headers.
func (h *harness) tokenWithProof(form url.Values, id, secret string, proofs ...string) (int, map[string]any, http.Header) {
	h.t.Helper()
	if secret == "" {
		form.Set("client_id", id)
	}
	req, _ := http.NewRequest(http.MethodPost, h.url("/oauth2/token"), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, body := do(h.t, http.DefaultClient, req)
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		h.t.Fatalf("token response %d is not JSON: %s", resp.StatusCode, body)
	}
	return resp.StatusCode, out, resp.Header
}

// codeForm runs consent for a public client and returns the code's token
// request form.
func (h *harness) codeForm(clientID string) url.Values {
	h.t.Helper()
	verifier, challenge := pkce()
	code := h.approve(h.browser, h.authParams(clientID, challenge), nil)
	return url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {loopbackCB}, "code_verifier": {verifier}, "resource": {h.resource}}
}

// boundToken checks a DPoP token response and returns its claims.
func (h *harness) boundToken(status int, out map[string]any, jkt string) *authority.Claims {
	h.t.Helper()
	if status != http.StatusOK || str(out, "token_type") != "DPoP" {
		h.t.Fatalf("token = %d %v, want a DPoP token", status, out)
	}
	c, err := h.verify(str(out, "access_token"))
	if err != nil {
		h.t.Fatal(err)
	}
	if c.BoundKey() != jkt {
		h.t.Fatalf("cnf.jkt = %q, want %q", c.BoundKey(), jkt)
	}
	return c
}

func wantError(t *testing.T, status int, out map[string]any, code string) {
	t.Helper()
	if status != http.StatusBadRequest || str(out, "error") != code {
		t.Fatalf("got %d %v, want 400 %s", status, out, code)
	}
}

// TestDPoPCodeFlow: a proof at the token endpoint binds the access token
// (cnf.jkt, token_type DPoP); the metadata lists the proof algorithms; a
// proof replayed, for another URL or method, or with two headers is
// refused; without a proof the token stays a bearer token.
func TestDPoPCodeFlow(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b, nil)
		for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
			_, body := h.get(http.DefaultClient, h.url(path))
			var md struct {
				Algs []string `json:"dpop_signing_alg_values_supported"`
			}
			if json.Unmarshal([]byte(body), &md); !slices.Equal(md.Algs, dpop.Algorithms) {
				t.Fatalf("%s: dpop_signing_alg_values_supported = %v", path, md.Algs)
			}
		}
		agent := h.publicClient()
		key := newDPoPKey(t)
		h.login(h.browser, testUser, testPassword)

		first := h.proof(key, dpop.ProofOptions{}, time.Now())
		status, out, _ := h.tokenWithProof(h.codeForm(agent), agent, "", first)
		c := h.boundToken(status, out, key.jkt)
		if c.Actor == nil || c.Actor.Subject != agent {
			t.Fatalf("act = %+v", c.Actor)
		}

		wrongURL, _ := dpop.NewProof(key.PrivateKey, http.MethodPost, h.issuer+"/oauth2/other", dpop.ProofOptions{}, time.Now())
		wrongMethod, _ := dpop.NewProof(key.PrivateKey, http.MethodGet, h.url("/oauth2/token"), dpop.ProofOptions{}, time.Now())
		stale := h.proof(key, dpop.ProofOptions{}, time.Now().Add(-10*time.Minute))
		for name, proofs := range map[string][]string{
			"replayed":    {first},
			"wrong htu":   {wrongURL},
			"wrong htm":   {wrongMethod},
			"stale iat":   {stale},
			"two proofs":  {h.proof(key, dpop.ProofOptions{}, time.Now()), h.proof(key, dpop.ProofOptions{}, time.Now())},
			"not a proof": {"e30.e30.sig"},
		} {
			status, out, _ := h.tokenWithProof(h.codeForm(agent), agent, "", proofs...)
			if status != http.StatusBadRequest || str(out, "error") != oauth.CodeInvalidDPoPProof {
				t.Errorf("%s: %d %v, want invalid_dpop_proof", name, status, out)
			}
		}

		status, out, _ = h.tokenWithProof(h.codeForm(agent), agent, "")
		if c, err := h.verify(str(out, "access_token")); status != 200 || str(out, "token_type") != "Bearer" || err != nil || c.BoundKey() != "" {
			t.Fatalf("no proof: %d %v (%v)", status, out, err)
		}
	})
}

// TestDPoPNonce: with server nonces on, a proof without one is answered
// use_dpop_nonce and the nonce in DPoP-Nonce; the retry with it is
// accepted; after a rotation the previous nonce is still accepted, the one
// before it no longer.
func TestDPoPNonce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		var mu sync.Mutex
		now := time.Now().Add(-3 * time.Minute) // advanced below, never past the real time
		now = now.Truncate(time.Minute)         // at the start of a nonce window
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		h := newHarness(t, b, func(o *oauth.Options) {
			o.Now = clock
			o.DPoPNonces = &oauth.DPoPNonceOptions{Secret: []byte(strings.Repeat("s", 32)), Rotation: time.Minute}
		})
		agent := h.publicClient()
		key := newDPoPKey(t)
		h.login(h.browser, testUser, testPassword)

		form := h.codeForm(agent)
		status, out, hdr := h.tokenWithProof(form, agent, "", h.proof(key, dpop.ProofOptions{}, clock()))
		nonce := hdr.Get("DPoP-Nonce")
		wantError(t, status, out, oauth.CodeUseDPoPNonce)
		if nonce == "" {
			t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
		}
		// The code was not spent by the refused request.
		status, out, hdr = h.tokenWithProof(form, agent, "", h.proof(key, dpop.ProofOptions{Nonce: nonce}, clock()))
		h.boundToken(status, out, key.jkt)
		if hdr.Get("DPoP-Nonce") != nonce {
			t.Fatalf("success carries nonce %q, want the current %q", hdr.Get("DPoP-Nonce"), nonce)
		}
		wrong := h.proof(key, dpop.ProofOptions{Nonce: "not-the-nonce"}, clock())
		status, out, _ = h.tokenWithProof(h.codeForm(agent), agent, "", wrong)
		wantError(t, status, out, oauth.CodeUseDPoPNonce)

		advance(time.Minute) // rotated: the old nonce is the previous one
		status, out, hdr = h.tokenWithProof(h.codeForm(agent), agent, "", h.proof(key, dpop.ProofOptions{Nonce: nonce}, clock()))
		h.boundToken(status, out, key.jkt)
		if next := hdr.Get("DPoP-Nonce"); next == "" || next == nonce {
			t.Fatalf("after rotation the server offers %q (was %q)", next, nonce)
		}
		advance(time.Minute) // two rotations: too old
		status, out, _ = h.tokenWithProof(h.codeForm(agent), agent, "", h.proof(key, dpop.ProofOptions{Nonce: nonce}, clock()))
		wantError(t, status, out, oauth.CodeUseDPoPNonce)
	})
}

// TestDPoPRefreshBound: a public client's refresh token is bound to its
// key. Stolen (presented without a proof, or with the thief's key) it is
// refused and not burnt; the owner refreshes with its key, and the new
// refresh token is bound again. A confidential client's refresh token is
// bound to its authentication, not to a key.
func TestDPoPRefreshBound(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b, nil)
		agent := h.publicClient()
		key, thief := newDPoPKey(t), newDPoPKey(t)
		h.login(h.browser, testUser, testPassword)
		status, out, _ := h.tokenWithProof(h.codeForm(agent), agent, "", h.proof(key, dpop.ProofOptions{}, time.Now()))
		h.boundToken(status, out, key.jkt)
		rt := str(out, "refresh_token")
		refresh := func() url.Values { return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}} }

		status, out, _ = h.tokenWithProof(refresh(), agent, "")
		wantError(t, status, out, oauth.CodeInvalidGrant)
		status, out, _ = h.tokenWithProof(refresh(), agent, "", h.proof(thief, dpop.ProofOptions{}, time.Now()))
		wantError(t, status, out, oauth.CodeInvalidGrant)
		if !strings.Contains(str(out, "error_description"), "bound to a DPoP key") {
			t.Errorf("refusal says %q", str(out, "error_description"))
		}
		// A refresh token altered to name the thief's key does not exist.
		forged := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {strings.Split(rt, ".")[0] + "." + thief.jkt}}
		status, out, _ = h.tokenWithProof(forged, agent, "", h.proof(thief, dpop.ProofOptions{}, time.Now()))
		wantError(t, status, out, oauth.CodeInvalidGrant)

		status, out, _ = h.tokenWithProof(refresh(), agent, "", h.proof(key, dpop.ProofOptions{}, time.Now()))
		h.boundToken(status, out, key.jkt)
		rt = str(out, "refresh_token")
		status, out, _ = h.tokenWithProof(refresh(), agent, "", h.proof(thief, dpop.ProofOptions{}, time.Now()))
		wantError(t, status, out, oauth.CodeInvalidGrant)
		status, out, _ = h.tokenWithProof(refresh(), agent, "", h.proof(key, dpop.ProofOptions{}, time.Now()))
		h.boundToken(status, out, key.jkt)

		// A confidential client: its refresh token needs its secret, not a key.
		id, secret := h.confidentialClient("Server agent")
		form := h.codeForm(id)
		form.Del("client_id")
		status, out, _ = h.tokenWithProof(form, id, secret, h.proof(key, dpop.ProofOptions{}, time.Now()))
		h.boundToken(status, out, key.jkt)
		status, out, _ = h.tokenWithProof(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(out, "refresh_token")}}, id, secret)
		if status != 200 || str(out, "token_type") != "Bearer" {
			t.Fatalf("confidential refresh without a proof: %d %v", status, out)
		}
	})
}

// TestDPoPExchangeBindsChild: token exchange with a proof by sub-agent B's
// key binds the child to B, and B's act hop records it. A bound subject
// token (agent A's) is exchanged only with a proof for the child and a
// proof by A's key in subject_token_dpop; a thief holding A's token but
// not A's key cannot exchange it.
func TestDPoPExchangeBindsChild(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b, nil)
		agentA := h.publicClient()
		bID, bSecret := h.confidentialClient("Sub-agent B")
		keyA, keyB, thief := newDPoPKey(t), newDPoPKey(t), newDPoPKey(t)
		h.login(h.browser, testUser, testPassword)
		status, out, _ := h.tokenWithProof(h.codeForm(agentA), agentA, "", h.proof(keyA, dpop.ProofOptions{}, time.Now()))
		h.boundToken(status, out, keyA.jkt)
		parent := str(out, "access_token")

		subjectProof := func(k dpopKey) string {
			return h.proof(k, dpop.ProofOptions{AccessToken: parent}, time.Now())
		}
		withSubject := func(p string) url.Values {
			f := exchangeForm(parent, h.resource, "expenses:write", "")
			f.Set(oauth.SubjectTokenDPoPParam, p)
			return f
		}
		refusals := []struct {
			name   string
			form   url.Values
			proofs []string
			code   string
		}{
			{"no proof for the child", withSubject(subjectProof(keyA)), nil, oauth.CodeInvalidRequest},
			{"no subject proof", exchangeForm(parent, h.resource, "expenses:write", ""), []string{h.proof(keyB, dpop.ProofOptions{}, time.Now())}, oauth.CodeInvalidGrant},
			{"subject proof by the thief", withSubject(subjectProof(thief)), []string{h.proof(thief, dpop.ProofOptions{}, time.Now())}, oauth.CodeInvalidGrant},
			{"subject proof without ath", withSubject(h.proof(keyA, dpop.ProofOptions{}, time.Now())), []string{h.proof(keyB, dpop.ProofOptions{}, time.Now())}, oauth.CodeInvalidDPoPProof},
		}
		for _, tc := range refusals {
			status, out, _ := h.tokenWithProof(tc.form, bID, bSecret, tc.proofs...)
			if status != http.StatusBadRequest || str(out, "error") != tc.code {
				t.Errorf("%s: %d %v, want %s", tc.name, status, out, tc.code)
			}
		}

		sp := subjectProof(keyA)
		status, out, _ = h.tokenWithProof(withSubject(sp), bID, bSecret, h.proof(keyB, dpop.ProofOptions{}, time.Now()))
		child := h.boundToken(status, out, keyB.jkt)
		if child.Actor.Subject != bID || child.Actor.Confirmation == nil || child.Actor.Confirmation.JKT != keyB.jkt {
			t.Fatalf("B's hop = %+v, want cnf %s", child.Actor, keyB.jkt)
		}
		if str(out, "issued_token_type") != oauth.TokenTypeAccessToken {
			t.Fatalf("exchange = %v", out)
		}
		// The subject proof is single-use.
		status, out, _ = h.tokenWithProof(withSubject(sp), bID, bSecret, h.proof(keyB, dpop.ProofOptions{}, time.Now()))
		wantError(t, status, out, oauth.CodeInvalidDPoPProof)

		// A bearer subject token with a proof: the child is bound to B.
		bearer := str(h.codeToken(agentA, nil), "access_token")
		status, out, _ = h.tokenWithProof(exchangeForm(bearer, h.resource, "", ""), bID, bSecret, h.proof(keyB, dpop.ProofOptions{}, time.Now()))
		if c := h.boundToken(status, out, keyB.jkt); c.Actor.Confirmation == nil || c.Actor.Actor.Confirmation != nil {
			t.Fatalf("chain of a child of a bearer token: %+v", c.Actor)
		}
	})
}

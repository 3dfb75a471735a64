package dpop

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
)

func TestCheck(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	_, thief, _ := ed25519.GenerateKey(rand.Reader)
	jkt, _ := Thumbprint(key.Public())
	const url, token = "https://gw.example/mcp/expenses", "the-access-token"
	bound := &authority.Claims{Subject: "alice", Confirmation: &authority.Confirmation{JKT: jkt}}
	bearer := &authority.Claims{Subject: "alice"}
	proof := func(k ed25519.PrivateKey, o ProofOptions) string {
		if o.AccessToken == "" {
			o.AccessToken = token
		}
		p, err := NewProof(k, "POST", url, o, now)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	req := func(c *authority.Claims, s authority.Scheme, proofs ...string) Request {
		return Request{Scheme: s, Token: token, Claims: c, Proofs: proofs, Method: "POST", URL: url}
	}
	cache := &MemoryReplayCache{Now: func() time.Time { return now }}
	for _, tc := range []struct {
		name string
		r    Request
		o    CheckOptions
		want error // nil = accepted
	}{
		{"bearer token, allow", req(bearer, authority.SchemeBearer), CheckOptions{}, nil},
		{"bearer token, require", req(bearer, authority.SchemeBearer), CheckOptions{Mode: ModeRequire}, ErrNotBound},
		{"bearer token with the DPoP scheme", req(bearer, authority.SchemeDPoP, proof(key, ProofOptions{})), CheckOptions{Cache: cache}, ErrNotBound},
		{"bound token, valid proof", req(bound, authority.SchemeDPoP, proof(key, ProofOptions{})), CheckOptions{Cache: cache}, nil},
		{"bound token, require", req(bound, authority.SchemeDPoP, proof(key, ProofOptions{})), CheckOptions{Mode: ModeRequire, Cache: cache}, nil},
		{"bound token as bearer (stolen, no key)", req(bound, authority.SchemeBearer), CheckOptions{Cache: cache}, ErrBoundAsBearer},
		{"bound token, no proof", req(bound, authority.SchemeDPoP), CheckOptions{Cache: cache}, ErrInvalidProof},
		{"bound token, two proofs", req(bound, authority.SchemeDPoP, proof(key, ProofOptions{}), proof(key, ProofOptions{})), CheckOptions{Cache: cache}, ErrInvalidProof},
		{"bound token, the thief's key", req(bound, authority.SchemeDPoP, proof(thief, ProofOptions{})), CheckOptions{Cache: cache}, ErrKeyMismatch},
		{"bound token, proof for another token", req(bound, authority.SchemeDPoP, proof(key, ProofOptions{AccessToken: "other"})), CheckOptions{Cache: cache}, ErrInvalidProof},
		{"bound token, bearer-only resource", req(bound, authority.SchemeDPoP, proof(key, ProofOptions{})), CheckOptions{Mode: ModeBearer, Cache: cache}, ErrNotAccepted},
		{"bound token, nonce required", req(bound, authority.SchemeDPoP, proof(key, ProofOptions{})), CheckOptions{Nonce: "n1", Cache: cache}, ErrUseNonce},
		{"bound token, with the nonce", req(bound, authority.SchemeDPoP, proof(key, ProofOptions{Nonce: "n1"})), CheckOptions{Nonce: "n1", Cache: cache}, nil},
		{"no replay cache fails closed", req(bound, authority.SchemeDPoP, proof(key, ProofOptions{})), CheckOptions{}, ErrInvalidProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Check(context.Background(), tc.r, tc.o, now)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if (tc.r.Claims.BoundKey() != "") != (p != nil) {
					t.Fatalf("proof %+v for a token bound to %q", p, tc.r.Claims.BoundKey())
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("replayed proof", func(t *testing.T) {
		p := proof(key, ProofOptions{})
		o := CheckOptions{Cache: cache}
		if _, err := Check(context.Background(), req(bound, authority.SchemeDPoP, p), o, now); err != nil {
			t.Fatal(err)
		}
		_, err := Check(context.Background(), req(bound, authority.SchemeDPoP, p), o, now)
		if !errors.Is(err, ErrReplayed) || ErrorCode(err) != "invalid_dpop_proof" {
			t.Fatalf("replay: err %v (code %s)", err, ErrorCode(err))
		}
	})
}

func TestChallenge(t *testing.T) {
	if got := Challenge(nil, nil); got != `DPoP algs="EdDSA ES256 ES384 RS256 PS256"` {
		t.Errorf("challenge %s", got)
	}
	got := Challenge(ErrUseNonce, []string{"ES256"})
	if !strings.Contains(got, `error="use_dpop_nonce"`) || !strings.HasPrefix(got, `DPoP algs="ES256"`) {
		t.Errorf("challenge %s", got)
	}
	if ErrorCode(ErrBoundAsBearer) != "invalid_token" {
		t.Error("a bound token presented as bearer is invalid_token")
	}
}

package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var now = time.Unix(1_780_000_000, 0)

func keys(t *testing.T) map[string]crypto.Signer {
	t.Helper()
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]crypto.Signer{"EdDSA": ed, "ES256": ec, "PS256": rs}
}

// TestRFC7638Example is the thumbprint of RFC 7638 §3.1.
func TestRFC7638Example(t *testing.T) {
	k := jwk{Kty: "RSA", E: "AQAB", N: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
	if got, want := k.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Fatalf("thumbprint %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	const url = "https://GW.example:443/mcp/expenses?x=1"
	const token = "access-token"
	for alg, key := range keys(t) {
		t.Run(alg, func(t *testing.T) {
			jkt, err := Thumbprint(key.Public())
			if err != nil {
				t.Fatal(err)
			}
			proof, err := NewProof(key, "POST", "https://gw.example/mcp/expenses", ProofOptions{AccessToken: token, Nonce: "n1"}, now)
			if err != nil {
				t.Fatal(err)
			}
			ok := VerifyOptions{Method: "POST", URL: url, AccessToken: token, JKT: jkt, Nonce: "n1"}
			p, err := Verify(proof, ok, now.Add(10*time.Second))
			if err != nil {
				t.Fatalf("valid proof refused: %v", err)
			}
			if p.JKT != jkt || p.ID == "" || p.URL != "https://gw.example/mcp/expenses" {
				t.Errorf("proof %+v", p)
			}
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			otherJKT, _ := Thumbprint(other.Public())
			for name, tc := range map[string]struct {
				o    func(VerifyOptions) VerifyOptions
				at   time.Time
				want error
			}{
				"wrong method":        {func(o VerifyOptions) VerifyOptions { o.Method = "GET"; return o }, now, ErrInvalidProof},
				"wrong url":           {func(o VerifyOptions) VerifyOptions { o.URL = "https://gw.example/mcp/other"; return o }, now, ErrInvalidProof},
				"wrong host":          {func(o VerifyOptions) VerifyOptions { o.URL = "https://evil.example/mcp/expenses"; return o }, now, ErrInvalidProof},
				"wrong access token":  {func(o VerifyOptions) VerifyOptions { o.AccessToken = "stolen"; return o }, now, ErrInvalidProof},
				"key of another":      {func(o VerifyOptions) VerifyOptions { o.JKT = otherJKT; return o }, now, ErrKeyMismatch},
				"new nonce":           {func(o VerifyOptions) VerifyOptions { o.Nonce = "n2"; return o }, now, ErrUseNonce},
				"too old":             {func(o VerifyOptions) VerifyOptions { return o }, now.Add(DefaultMaxAge + time.Second), ErrInvalidProof},
				"from the future":     {func(o VerifyOptions) VerifyOptions { return o }, now.Add(-DefaultSkew - time.Second), ErrInvalidProof},
				"alg not allowed":     {func(o VerifyOptions) VerifyOptions { o.Algorithms = []string{"RS512"}; return o }, now, ErrInvalidProof},
				"missing request url": {func(o VerifyOptions) VerifyOptions { o.URL = ""; return o }, now, ErrInvalidProof},
			} {
				if _, err := Verify(proof, tc.o(ok), tc.at); !errors.Is(err, tc.want) {
					t.Errorf("%s: err %v, want %v", name, err, tc.want)
				}
			}
		})
	}
}

// TestVerifyRefusesForgedHeaders: typ, alg none/HMAC, a private jwk, a jwk
// that is not the signer's.
func TestVerifyRefusesForgedHeaders(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := publicJWK(key.Public())
	claims := jwt.MapClaims{"jti": "j", "htm": "GET", "htu": "https://gw.example/", "iat": now.Unix()}
	o := VerifyOptions{Method: "GET", URL: "https://gw.example/"}
	sign := func(m jwt.SigningMethod, k any, hdr map[string]any) string {
		tok := jwt.NewWithClaims(m, claims)
		for h, v := range hdr {
			tok.Header[h] = v
		}
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	privJWK := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": pub.X, "d": base64.RawURLEncoding.EncodeToString(key.Seed())}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	good := sign(jwt.SigningMethodEdDSA, key, map[string]any{"typ": "dpop+jwt", "jwk": pub})
	if _, err := Verify(good, o, now); err != nil {
		t.Fatalf("control proof refused: %v", err)
	}
	for name, proof := range map[string]string{
		"typ JWT":          sign(jwt.SigningMethodEdDSA, key, map[string]any{"typ": "JWT", "jwk": pub}),
		"no jwk":           sign(jwt.SigningMethodEdDSA, key, map[string]any{"typ": "dpop+jwt"}),
		"private jwk":      sign(jwt.SigningMethodEdDSA, key, map[string]any{"typ": "dpop+jwt", "jwk": privJWK}),
		"jwk of another":   sign(jwt.SigningMethodEdDSA, otherKey, map[string]any{"typ": "dpop+jwt", "jwk": pub}),
		"HMAC":             sign(jwt.SigningMethodHS256, []byte("secret"), map[string]any{"typ": "dpop+jwt", "jwk": pub}),
		"alg none":         sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, map[string]any{"typ": "dpop+jwt", "jwk": pub}),
		"truncated":        good[:len(good)-3],
		"not a jwt at all": "hello",
	} {
		if _, err := Verify(proof, o, now); !errors.Is(err, ErrInvalidProof) {
			t.Errorf("%s: err %v, want ErrInvalidProof", name, err)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"HTTPS://GW.Example:443/mcp/x?q=1#f": "https://gw.example/mcp/x",
		"http://gw.example:80":               "http://gw.example/",
		"http://gw.example:8080/a%2Fb":       "http://gw.example:8080/a%2Fb",
		"http://[::1]:9000/mcp":              "http://[::1]:9000/mcp",
	} {
		if got, err := NormalizeURL(in); err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"/relative", "ftp://gw.example/", "https://user@gw.example/", "::"} {
		if _, err := NormalizeURL(bad); err == nil {
			t.Errorf("NormalizeURL(%q) accepted", bad)
		}
	}
}

func TestMemoryReplayCache(t *testing.T) {
	at := now
	c := &MemoryReplayCache{Max: 2, Now: func() time.Time { return at }}
	ctx := context.Background()
	remember := func(jti string) bool {
		fresh, err := c.Remember(ctx, jti, at.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	if !remember("a") || remember("a") {
		t.Fatal("a replayed jti must be refused")
	}
	if !remember("b") {
		t.Fatal("b is fresh")
	}
	if remember("c") {
		t.Fatal("a full cache with nothing expired must refuse (fail closed)")
	}
	at = at.Add(2 * time.Minute)
	if !remember("c") || !remember("a") {
		t.Fatal("after expiry, entries are dropped and jtis accepted again")
	}
}

func TestProofJSONShape(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	proof, err := NewProof(key, "POST", "https://gw.example/mcp", ProofOptions{}, now)
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(proof, ".")[0])
	var h map[string]any
	if err := json.Unmarshal(hdr, &h); err != nil || h["typ"] != "dpop+jwt" || h["alg"] != "EdDSA" {
		t.Fatalf("header %s", hdr)
	}
	if _, ok := h["jwk"].(map[string]any)["d"]; ok {
		t.Fatal("the proof's jwk carries the private key")
	}
}

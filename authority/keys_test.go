package authority_test

import (
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openlegant/legant/authority"
)

// testKey loads one of the fixed keys of testdata/keys.
func testKey(t testing.TB, file, kid string) *authority.Key {
	t.Helper()
	data, err := os.ReadFile("testdata/keys/" + file)
	if err != nil {
		t.Fatal(err)
	}
	k, err := authority.ParsePrivateKeyPEM(kid, data)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func edKey(t testing.TB) *authority.Key  { return testKey(t, "ed25519.pem", "k-ed") }
func rsaKey(t testing.TB) *authority.Key { return testKey(t, "rsa2048.pem", "k-rsa") }

func TestKeys(t *testing.T) {
	ed, err := authority.GenerateEd25519Key("e1")
	if err != nil {
		t.Fatal(err)
	}
	if ed.ID() != "e1" || ed.Algorithm() != authority.AlgEdDSA || !ed.CanSign() {
		t.Fatalf("Ed25519 key: %s %s %v", ed.ID(), ed.Algorithm(), ed.CanSign())
	}
	if _, ok := ed.Public().(ed25519.PublicKey); !ok {
		t.Fatalf("Public() is %T", ed.Public())
	}
	r := rsaKey(t)
	if r.Algorithm() != authority.AlgRS256 {
		t.Fatalf("RSA alg %s", r.Algorithm())
	}
	if _, ok := r.Public().(*rsa.PublicKey); !ok {
		t.Fatalf("Public() is %T", r.Public())
	}
	if _, err := authority.GenerateRSAKey("r", 1024); err == nil {
		t.Fatal("1024-bit RSA accepted")
	}
	if _, err := authority.GenerateEd25519Key(""); err == nil {
		t.Fatal("empty kid accepted")
	}
}

func TestPrivatePEMRoundTrip(t *testing.T) {
	for _, k := range []*authority.Key{edKey(t), rsaKey(t)} {
		t.Run(k.Algorithm(), func(t *testing.T) {
			data, err := k.MarshalPrivatePEM()
			if err != nil {
				t.Fatal(err)
			}
			back, err := authority.ParsePrivateKeyPEM(k.ID(), data)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := authority.Sign(back, sampleClaims(t))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := authority.Verify(tok, keySet(k), verifyOpts(), t0); err != nil {
				t.Fatalf("a token signed by the re-parsed key does not verify with the original: %v", err)
			}
		})
	}
	for _, bad := range []string{"", "not pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"} {
		if _, err := authority.ParsePrivateKeyPEM("k", []byte(bad)); err == nil {
			t.Errorf("ParsePrivateKeyPEM(%q) succeeded", bad)
		}
	}
}

func keySet(keys ...*authority.Key) *authority.KeySet {
	ks := authority.NewKeySet()
	for _, k := range keys {
		ks.Add(k, time.Time{})
	}
	return ks
}

func TestKeySetRotation(t *testing.T) {
	old, cur := testKey(t, "ed25519.pem", "old"), testKey(t, "other-ed25519.pem", "new")
	ks := authority.NewKeySet()
	if _, err := ks.Signer(); !errors.Is(err, authority.ErrUnknownKey) {
		t.Fatalf("empty set Signer: %v", err)
	}
	ks.Add(old, time.Time{})
	oldTok, err := authority.Sign(old, sampleClaims(t))
	if err != nil {
		t.Fatal(err)
	}
	ks.Add(cur, time.Time{})
	retire := t0.Add(2 * time.Hour)
	if err := ks.Retire("old", retire); err != nil {
		t.Fatal(err)
	}
	if err := ks.Retire("nope", retire); !errors.Is(err, authority.ErrUnknownKey) {
		t.Fatalf("Retire unknown: %v", err)
	}
	if s, _ := ks.Signer(); s != cur {
		t.Fatalf("Signer = %v, want the newest key", s.ID())
	}
	// The old key still verifies until its retire time.
	if _, err := authority.Verify(oldTok, ks, verifyOpts(), t0); err != nil {
		t.Fatalf("old token before retirement: %v", err)
	}
	if _, ok := ks.Lookup("old", retire); ok {
		t.Fatal("retired key still looked up")
	}
	opts := verifyOpts()
	opts.Leeway = 3 * time.Hour // keep the token's exp out of the way
	if _, err := authority.Verify(oldTok, ks, opts, retire); !errors.Is(err, authority.ErrUnknownKey) {
		t.Fatalf("old token after retirement: %v, want ErrUnknownKey", err)
	}
	// Only the live keys are published.
	jwks, err := ks.JWKS(retire)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(jwks), `"old"`) || !strings.Contains(string(jwks), `"new"`) {
		t.Fatalf("JWKS after retirement: %s", jwks)
	}
	// A key scheduled for retirement no longer signs.
	if err := ks.Retire("new", retire); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Signer(); err == nil {
		t.Fatal("a retiring key still signs")
	}
}

func TestKeySetConcurrent(t *testing.T) {
	ks := keySet(edKey(t))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := testKey(t, "other-ed25519.pem", "k"+string(rune('a'+i)))
			ks.Add(k, time.Time{})
			_, _ = ks.Signer()
			_, _ = ks.Lookup("k-ed", t0)
			_, _ = ks.JWKS(t0)
		}()
	}
	wg.Wait()
}

func TestJWKSRoundTrip(t *testing.T) {
	ks := keySet(edKey(t), rsaKey(t))
	data, err := ks.JWKS(t0)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if got := []string{doc.Keys[0]["kty"], doc.Keys[0]["crv"], doc.Keys[0]["alg"], doc.Keys[0]["use"], doc.Keys[1]["kty"], doc.Keys[1]["e"], doc.Keys[1]["alg"]}; !cmp.Equal(got, []string{"OKP", "Ed25519", "EdDSA", "sig", "RSA", "AQAB", "RS256"}) {
		t.Fatalf("JWKS fields %v in %s", got, data)
	}
	if _, hasD := doc.Keys[0]["d"]; hasD {
		t.Fatal("private key in JWKS")
	}
	pub, err := authority.ParseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*authority.Key{edKey(t), rsaKey(t)} {
		tok, err := authority.Sign(k, sampleClaims(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := authority.Verify(tok, pub, verifyOpts(), t0); err != nil {
			t.Fatalf("%s token with parsed JWKS: %v", k.Algorithm(), err)
		}
		got, _ := pub.Lookup(k.ID(), t0)
		if got.CanSign() {
			t.Fatal("a JWKS key can sign")
		}
	}
}

func TestParseJWKS(t *testing.T) {
	const x = `"x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"`
	tests := []struct {
		name, in string
		keys     int // -1 = error
	}{
		{"ed25519", `{"keys":[{"kty":"OKP","crv":"Ed25519",` + x + `,"kid":"a"}]}`, 1},
		{"unsupported types skipped", `{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b","kid":"e"},{"kty":"OKP","crv":"X25519",` + x + `,"kid":"x"},{"kty":"RSA","alg":"PS256","n":"AQAB","e":"AQAB","kid":"p"}]}`, 0},
		{"encryption key skipped", `{"keys":[{"kty":"OKP","crv":"Ed25519",` + x + `,"kid":"a","use":"enc"}]}`, 0},
		{"empty", `{"keys":[]}`, 0},
		{"no keys member", `{}`, -1},
		{"not json", `nope`, -1},
		{"private material", `{"keys":[{"kty":"OKP","crv":"Ed25519",` + x + `,"d":"AAAA","kid":"a"}]}`, -1},
		{"duplicate kid", `{"keys":[{"kty":"OKP","crv":"Ed25519",` + x + `,"kid":"a"},{"kty":"OKP","crv":"Ed25519",` + x + `,"kid":"a"}]}`, -1},
		{"no kid", `{"keys":[{"kty":"OKP","crv":"Ed25519",` + x + `}]}`, -1},
		{"short x", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA","kid":"a"}]}`, -1},
		{"padded x", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=","kid":"a"}]}`, -1},
		{"wrong alg for OKP", `{"keys":[{"kty":"OKP","crv":"Ed25519",` + x + `,"kid":"a","alg":"RS256"}]}`, 0},
		{"small RSA", `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"r"}]}`, -1},
		{"even e", `{"keys":[{"kty":"RSA","n":"AQAB","e":"Ag","kid":"r"}]}`, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := authority.ParseJWKS([]byte(tt.in))
			if tt.keys < 0 {
				if err == nil {
					t.Fatal("ParseJWKS succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			jwks, _ := ks.JWKS(t0)
			var doc struct{ Keys []any }
			_ = json.Unmarshal(jwks, &doc)
			if len(doc.Keys) != tt.keys {
				t.Fatalf("%d keys, want %d", len(doc.Keys), tt.keys)
			}
		})
	}
}

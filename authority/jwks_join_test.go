package authority_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openlegant/legant/authority"
)

// TestJoinJWKS: one JWKS publishes the live keys of several sets, in order,
// and what it publishes verifies each set's tokens.
func TestJoinJWKS(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	e1, err := authority.GenerateEd25519Key("dir-1")
	if err != nil {
		t.Fatal(err)
	}
	e2, err := authority.GenerateEd25519Key("dir-2")
	if err != nil {
		t.Fatal(err)
	}
	retired, err := authority.GenerateEd25519Key("dir-old")
	if err != nil {
		t.Fatal(err)
	}
	dir := authority.NewKeySet()
	dir.Add(retired, t0.Add(-time.Minute))
	dir.Add(e1, time.Time{})
	dir.Add(e2, time.Time{})
	st := authority.NewKeySet()
	st.Add(rsaKey(t), time.Time{})

	data, err := authority.JoinJWKS(t0, dir, st)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kid, Kty, D string
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.D != "" {
			t.Fatalf("private key material in %s", data)
		}
		kids = append(kids, k.Kid+"/"+k.Kty)
	}
	if d := cmp.Diff([]string{"dir-1/OKP", "dir-2/OKP", "k-rsa/RSA"}, kids); d != "" {
		t.Fatalf("joined kids (-want +got):\n%s", d)
	}

	pub, err := authority.ParseJWKS(data)
	if err != nil {
		t.Fatalf("ParseJWKS(joined): %v", err)
	}
	for _, ks := range []*authority.KeySet{dir, st} {
		signer, err := ks.Signer()
		if err != nil {
			t.Fatal(err)
		}
		tok, err := authority.Sign(signer, &authority.Claims{Issuer: "https://iss.example", Subject: "alice",
			Audience: []string{"https://rs.example"}, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour), Constraints: authority.Unrestricted()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := authority.Verify(tok, pub, authority.VerifyOptions{Issuer: "https://iss.example", Audience: "https://rs.example"}, t0); err != nil {
			t.Errorf("%s token against the joined JWKS: %v", signer.ID(), err)
		}
	}

	// One set joins to exactly what KeySet.JWKS publishes.
	one, err := authority.JoinJWKS(t0, st)
	if err != nil {
		t.Fatal(err)
	}
	if alone, _ := st.JWKS(t0); string(one) != string(alone) {
		t.Fatalf("JoinJWKS(st) = %s, st.JWKS = %s", one, alone)
	}
	if empty, err := authority.JoinJWKS(t0); err != nil || string(empty) != `{"keys":[]}` {
		t.Fatalf("JoinJWKS() = %s, %v", empty, err)
	}
	// A kid in two sets would make the joined set ambiguous.
	twin := authority.NewKeySet()
	twin.Add(e1, time.Time{})
	if _, err := authority.JoinJWKS(t0, dir, twin); err == nil || !strings.Contains(err.Error(), "dir-1") {
		t.Fatalf("shared kid: err = %v", err)
	}
}

package authority_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/openlegant/legant/authority"
)

func verifyOpts() authority.VerifyOptions {
	return authority.VerifyOptions{Issuer: "https://issuer.example", Audience: "https://gw.example/mcp/expenses", RequireActor: true}
}

func TestSignVerify(t *testing.T) {
	for _, k := range []*authority.Key{edKey(t), rsaKey(t)} {
		t.Run(k.Algorithm(), func(t *testing.T) {
			want := sampleClaims(t)
			tok, err := authority.Sign(k, want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := authority.Verify(tok, keySet(k), verifyOpts(), t0)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("claims (-want +got):\n%s", diff)
			}
			h := header(t, tok)
			if diff := cmp.Diff(map[string]any{"alg": k.Algorithm(), "kid": k.ID(), "typ": "at+jwt"}, h); diff != "" {
				t.Fatalf("header (-want +got):\n%s", diff)
			}
		})
	}
}

func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(tok, ".")
	data, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSignCanonicalizes(t *testing.T) {
	c := sampleClaims(t)
	c.Audience = []string{"HTTPS://GW.example:443/mcp/expenses/", "https://gw.example/mcp/expenses"}
	c.Constraints.Categories = authority.Only("TRAVEL")
	tok, err := authority.Sign(edKey(t), c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := authority.Verify(tok, keySet(edKey(t)), verifyOpts(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(got.Audience, []string{"https://gw.example/mcp/expenses"}) || !got.Constraints.Categories.Equal(authority.Only("travel")) {
		t.Fatalf("aud %v categories %v", got.Audience, got.Constraints.Categories.Items())
	}
	if c.Audience[0] != "HTTPS://GW.example:443/mcp/expenses/" {
		t.Fatal("Sign modified its argument")
	}
}

func TestSignRefuses(t *testing.T) {
	k := edKey(t)
	for name, edit := range map[string]func(*authority.Claims){
		"no iss":         func(c *authority.Claims) { c.Issuer = "" },
		"no sub":         func(c *authority.Claims) { c.Subject = "" },
		"no exp":         func(c *authority.Claims) { c.ExpiresAt = time.Time{} },
		"no aud":         func(c *authority.Claims) { c.Audience = nil },
		"bad aud":        func(c *authority.Claims) { c.Audience = []string{"https://x/#f"} },
		"scope w/ space": func(c *authority.Claims) { c.Scopes = []string{"a b"} },
		"bad amount":     func(c *authority.Claims) { c.Constraints.MaxAmount = money("-1", "") },
	} {
		c := sampleClaims(t)
		edit(c)
		if _, err := authority.Sign(k, c); err == nil {
			t.Errorf("%s: Sign succeeded", name)
		}
	}
	pub, _ := keySet(k).Lookup("k-ed", t0)
	jwks, _ := keySet(pub).JWKS(t0)
	verifyOnly, _ := authority.ParseJWKS(jwks)
	vk, _ := verifyOnly.Lookup("k-ed", t0)
	if _, err := authority.Sign(vk, sampleClaims(t)); err == nil {
		t.Error("Sign with a verify-only key succeeded")
	}
	if _, err := authority.Sign(k, nil); err == nil {
		t.Error("Sign(nil) succeeded")
	}
}

// forge builds a compact token with any header and payload and the given
// signature bytes.
func forge(h map[string]any, payload string, sig []byte) string {
	hb, _ := json.Marshal(h)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(hb) + "." + enc([]byte(payload)) + "." + enc(sig)
}

// signRaw signs any header and payload with golang-jwt and the given key.
func signRaw(t *testing.T, method jwt.SigningMethod, key any, h map[string]any, payload string) string {
	t.Helper()
	hb, _ := json.Marshal(h)
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc(hb) + "." + enc([]byte(payload))
	sig, err := method.Sign(signing, key)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + enc(sig)
}

func TestVerifyErrors(t *testing.T) {
	ed, r := edKey(t), rsaKey(t)
	ks := keySet(ed, r)
	sign := func(edit func(*authority.Claims)) string {
		c := sampleClaims(t)
		if edit != nil {
			edit(c)
		}
		tok, err := authority.Sign(ed, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := sign(nil)
	payload, _ := json.Marshal(sampleClaims(t))
	edPriv := privateOf(t, ed)
	parts := strings.Split(good, ".")
	tests := []struct {
		name  string
		token string
		opts  func(*authority.VerifyOptions)
		now   time.Time
		want  error
	}{
		{"valid", good, nil, t0, nil},
		{"expired", sign(func(c *authority.Claims) { c.ExpiresAt = t0.Add(-time.Minute) }), nil, t0, authority.ErrExpired},
		{"expired inside default leeway", sign(func(c *authority.Claims) { c.ExpiresAt = t0.Add(-10 * time.Second) }), nil, t0, nil},
		{"exp == now, no leeway", sign(func(c *authority.Claims) { c.ExpiresAt = t0 }), func(o *authority.VerifyOptions) { o.Leeway = -1 }, t0, authority.ErrExpired},
		{"nbf in the future", sign(func(c *authority.Claims) { c.NotBefore = t0.Add(time.Minute) }), nil, t0, authority.ErrNotYetValid},
		{"iat in the future", sign(func(c *authority.Claims) { c.IssuedAt = t0.Add(time.Minute) }), nil, t0, authority.ErrNotYetValid},
		{"nbf inside leeway", sign(func(c *authority.Claims) { c.NotBefore = t0.Add(20 * time.Second) }), nil, t0, nil},
		{"wrong issuer", good, func(o *authority.VerifyOptions) { o.Issuer = "https://issuer.example/" }, t0, authority.ErrIssuer},
		{"wrong audience", good, func(o *authority.VerifyOptions) { o.Audience = "https://gw.example/mcp/other" }, t0, authority.ErrAudience},
		{"audience canonical", good, func(o *authority.VerifyOptions) { o.Audience = "HTTPS://gw.EXAMPLE:443/mcp/expenses" }, t0, nil},
		{"no issuer option", good, func(o *authority.VerifyOptions) { o.Issuer = "" }, t0, authority.ErrIssuer},
		{"no audience option", good, func(o *authority.VerifyOptions) { o.Audience = "" }, t0, authority.ErrAudience},
		{"missing act", sign(func(c *authority.Claims) { c.Actor = nil }), nil, t0, authority.ErrMissingActor},
		{"act not required", sign(func(c *authority.Claims) { c.Actor = nil }), func(o *authority.VerifyOptions) { o.RequireActor = false }, t0, nil},
		{"act without sub", sign(func(c *authority.Claims) { c.Actor = &authority.Actor{} }), nil, t0, authority.ErrMalformed},
		{"unknown kid", forgeKid(t, edPriv, "nope", string(payload)), nil, t0, authority.ErrUnknownKey},
		{"no kid", signRaw(t, jwt.SigningMethodEdDSA, edPriv, map[string]any{"alg": "EdDSA", "typ": "at+jwt"}, string(payload)), nil, t0, authority.ErrUnknownKey},
		{"alg none", forge(map[string]any{"alg": "none", "kid": "k-ed", "typ": "at+jwt"}, string(payload), nil), nil, t0, authority.ErrAlgorithm},
		{"alg None", forge(map[string]any{"alg": "None", "kid": "k-ed", "typ": "at+jwt"}, string(payload), nil), nil, t0, authority.ErrAlgorithm},
		{"HS256 with the Ed25519 public key", signRaw(t, jwt.SigningMethodHS256, []byte(ed.Public().(ed25519.PublicKey)), map[string]any{"alg": "HS256", "kid": "k-ed", "typ": "at+jwt"}, string(payload)), nil, t0, authority.ErrAlgorithm},
		{"RS256 header on an Ed25519 kid", forge(map[string]any{"alg": "RS256", "kid": "k-ed", "typ": "at+jwt"}, string(payload), []byte("x")), nil, t0, authority.ErrAlgorithm},
		{"algorithm not in options", signRaw(t, jwt.SigningMethodRS256, privateOf(t, r), map[string]any{"alg": "RS256", "kid": "k-rsa", "typ": "at+jwt"}, string(payload)), func(o *authority.VerifyOptions) { o.Algorithms = []string{"EdDSA"} }, t0, authority.ErrAlgorithm},
		{"HS256 in options", good, func(o *authority.VerifyOptions) { o.Algorithms = []string{"EdDSA", "HS256"} }, t0, authority.ErrAlgorithm},
		{"typ JWT", signRaw(t, jwt.SigningMethodEdDSA, edPriv, map[string]any{"alg": "EdDSA", "kid": "k-ed", "typ": "JWT"}, string(payload)), nil, t0, authority.ErrType},
		{"typ missing", signRaw(t, jwt.SigningMethodEdDSA, edPriv, map[string]any{"alg": "EdDSA", "kid": "k-ed"}, string(payload)), nil, t0, authority.ErrType},
		{"typ application/at+jwt", signRaw(t, jwt.SigningMethodEdDSA, edPriv, map[string]any{"alg": "EdDSA", "kid": "k-ed", "typ": "application/AT+JWT"}, string(payload)), nil, t0, nil},
		{"crit header", signRaw(t, jwt.SigningMethodEdDSA, edPriv, map[string]any{"alg": "EdDSA", "kid": "k-ed", "typ": "at+jwt", "crit": []string{"exp"}, "exp": 1}, string(payload)), nil, t0, authority.ErrMalformed},
		{"duplicate header key", forgeRawHeader(t, edPriv, `{"alg":"EdDSA","kid":"k-ed","typ":"at+jwt","typ":"JWT"}`, string(payload)), nil, t0, authority.ErrMalformed},
		{"bad signature", parts[0] + "." + parts[1] + "." + strings.Split(sign(func(c *authority.Claims) { c.ID = "other" }), ".")[2], nil, t0, authority.ErrSignature},
		{"payload swapped", parts[0] + "." + strings.Split(sign(func(c *authority.Claims) { c.Subject = "mallory" }), ".")[1] + "." + parts[2], nil, t0, authority.ErrSignature},
		{"bad constraints", signRaw(t, jwt.SigningMethodEdDSA, edPriv, map[string]any{"alg": "EdDSA", "kid": "k-ed", "typ": "at+jwt"},
			`{"iss":"https://issuer.example","sub":"alice","aud":"https://gw.example/mcp/expenses","exp":1900000000,"act":{"sub":"p"},"authorization_details":[{"type":"legant_delegation","surprise":1}]}`), nil, t0, authority.ErrConstraints},
		{"exp missing", signRaw(t, jwt.SigningMethodEdDSA, edPriv, map[string]any{"alg": "EdDSA", "kid": "k-ed", "typ": "at+jwt"},
			`{"iss":"https://issuer.example","sub":"alice","aud":"https://gw.example/mcp/expenses","act":{"sub":"p"}}`), nil, t0, authority.ErrMalformed},
		{"payload not an object", signRaw(t, jwt.SigningMethodEdDSA, edPriv, map[string]any{"alg": "EdDSA", "kid": "k-ed", "typ": "at+jwt"}, `[1]`), nil, t0, authority.ErrMalformed},
		{"two segments", parts[0] + "." + parts[1], nil, t0, authority.ErrMalformed},
		{"four segments", good + ".x", nil, t0, authority.ErrMalformed},
		{"padded signature", good + "==", nil, t0, authority.ErrMalformed},
		{"empty", "", nil, t0, authority.ErrMalformed},
		{"huge", strings.Repeat("a", 70<<10) + ".b.c", nil, t0, authority.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := verifyOpts()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			_, err := authority.Verify(tt.token, ks, opts, tt.now)
			if tt.want == nil && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func privateOf(t testing.TB, k *authority.Key) any {
	t.Helper()
	data, err := k.MarshalPrivatePEM()
	if err != nil {
		t.Fatal(err)
	}
	var key any
	if k.Algorithm() == authority.AlgEdDSA {
		key, err = jwt.ParseEdPrivateKeyFromPEM(data)
	} else {
		key, err = jwt.ParseRSAPrivateKeyFromPEM(data)
	}
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func forgeKid(t *testing.T, key any, kid, payload string) string {
	return signRaw(t, jwt.SigningMethodEdDSA, key, map[string]any{"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}, payload)
}

func forgeRawHeader(t *testing.T, key any, h, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc([]byte(h)) + "." + enc([]byte(payload))
	sig, err := jwt.SigningMethodEdDSA.Sign(signing, key)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + enc(sig)
}

func TestInspect(t *testing.T) {
	tok, err := authority.Sign(edKey(t), sampleClaims(t))
	if err != nil {
		t.Fatal(err)
	}
	ks := keySet(edKey(t))
	c, err := authority.Inspect(tok, ks, authority.VerifyOptions{}, t0)
	if err != nil || c.Subject != "alice" {
		t.Fatalf("Inspect = %v, %v", c, err)
	}
	if _, err := authority.Inspect(tok, ks, authority.VerifyOptions{}, t0.Add(2*time.Hour)); !errors.Is(err, authority.ErrExpired) {
		t.Fatalf("Inspect after exp = %v", err)
	}
	if _, err := authority.Inspect(tok, ks, authority.VerifyOptions{Issuer: "https://other"}, t0); !errors.Is(err, authority.ErrIssuer) {
		t.Fatalf("Inspect with issuer = %v", err)
	}
	if _, err := authority.Inspect(tok, keySet(rsaKey(t)), authority.VerifyOptions{}, t0); !errors.Is(err, authority.ErrUnknownKey) {
		t.Fatalf("Inspect with other keys = %v", err)
	}
}

func TestSignJWS(t *testing.T) {
	k := edKey(t)
	type feed struct {
		Revoked []string `json:"revoked"`
	}
	tok, err := authority.SignJWS(k, "legant-revocations+jwt", feed{Revoked: []string{"j1"}})
	if err != nil {
		t.Fatal(err)
	}
	var got feed
	if err := authority.VerifyJWS(tok, keySet(k), "legant-revocations+jwt", t0, &got); err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(got.Revoked, []string{"j1"}) {
		t.Fatalf("payload %+v", got)
	}
	if err := authority.VerifyJWS(tok, keySet(k), "at+jwt", t0, &got); !errors.Is(err, authority.ErrType) {
		t.Fatalf("VerifyJWS with another typ = %v", err)
	}
	if _, err := authority.SignJWS(k, "at+jwt", feed{}); err == nil {
		t.Fatal("SignJWS signed an access token")
	}
	if _, err := authority.SignJWS(k, "", feed{}); err == nil {
		t.Fatal("SignJWS without typ")
	}
	access, _ := authority.Sign(k, sampleClaims(t))
	if err := authority.VerifyJWS(access, keySet(k), "legant-revocations+jwt", t0, &got); !errors.Is(err, authority.ErrType) {
		t.Fatalf("an access token verified as a feed: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	k := edKey(f)
	ks := keySet(k, rsaKey(f))
	good, err := authority.Sign(k, sampleClaims(f))
	if err != nil {
		f.Fatal(err)
	}
	rsaTok, err := authority.Sign(rsaKey(f), sampleClaims(f))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, rsaTok, "", "a.b.c", "..", good + "x", strings.ToUpper(good)} {
		f.Add(s, uint16(0), byte(0))
	}
	f.Add(good, uint16(10), byte(1))
	f.Add(good, uint16(len(good)-1), byte('A'))
	f.Fuzz(func(t *testing.T, token string, pos uint16, b byte) {
		// Mutate one byte of the input (when b != 0) as well as fuzzing it whole.
		if b != 0 && len(token) > 0 {
			buf := []byte(token)
			buf[int(pos)%len(buf)] ^= b
			token = string(buf)
		}
		c, err := authority.Verify(token, ks, verifyOpts(), t0)
		if err == nil && token != good && token != rsaTok {
			t.Fatalf("a modified token verified: %q -> %+v", token, c)
		}
		if err != nil && (token == good || token == rsaTok) {
			t.Fatalf("the valid token failed: %v", err)
		}
	})
}

func benchToken(b *testing.B, k *authority.Key) (string, *authority.KeySet) {
	tok, err := authority.Sign(k, sampleClaims(b))
	if err != nil {
		b.Fatal(err)
	}
	return tok, keySet(k)
}

func benchSign(b *testing.B, k *authority.Key) {
	c := sampleClaims(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := authority.Sign(k, c); err != nil {
			b.Fatal(err)
		}
	}
}

func benchVerify(b *testing.B, k *authority.Key) {
	tok, ks := benchToken(b, k)
	opts := verifyOpts()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := authority.Verify(tok, ks, opts, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignEd25519(b *testing.B)   { benchSign(b, edKey(b)) }
func BenchmarkSignRSA2048(b *testing.B)   { benchSign(b, rsaKey(b)) }
func BenchmarkVerifyEd25519(b *testing.B) { benchVerify(b, edKey(b)) }
func BenchmarkVerifyRSA2048(b *testing.B) { benchVerify(b, rsaKey(b)) }

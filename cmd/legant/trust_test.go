package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
)

// TestParseTrustedIssuer: --trust-subject-issuer reads the issuer, its
// JWKS (URL or file) and the clients, and refuses what is incomplete or
// not allowed.
func TestParseTrustedIssuer(t *testing.T) {
	ctx := context.Background()
	key, err := authority.GenerateEd25519Key("gw-k1")
	if err != nil {
		t.Fatal(err)
	}
	ks := authority.NewKeySet()
	ks.Add(key, time.Time{})
	jwks, err := ks.JWKS(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/gateway/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Write(jwks)
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := authority.Sign(key, &authority.Claims{Issuer: srv.URL + "/gateway", Subject: "alice", Audience: []string{"https://as.example"},
		IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute), ID: "at_1", Actor: authority.NewActor("legant-gateway")})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{srv.URL + "/gateway/jwks.json", file} {
		ti, err := parseTrustedIssuer(ctx, "issuer="+srv.URL+"/gateway;jwks="+src+";clients=lc_a,lc_b;algs=EdDSA")
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if ti.Issuer != srv.URL+"/gateway" || strings.Join(ti.Clients, " ") != "lc_a lc_b" || strings.Join(ti.Algorithms, " ") != "EdDSA" {
			t.Errorf("%s: %+v", src, ti)
		}
		if _, err := authority.Verify(tok, ti.Keys, authority.VerifyOptions{Issuer: ti.Issuer, Audience: "https://as.example"}, time.Now()); err != nil {
			t.Errorf("%s: the gateway's token does not verify with the keys read: %v", src, err)
		}
	}
	for _, bad := range []string{
		"issuer=" + srv.URL + "/gateway;jwks=" + file,                           // no clients
		"issuer=" + srv.URL + "/gateway;clients=c",                              // no jwks
		"jwks=" + file + ";clients=c",                                           // no issuer
		"issuer=" + srv.URL + "/gateway;jwks=" + file + ";clients=c;algs=HS256", // alg not allowed
		"issuer=" + srv.URL + "/gateway;jwks=" + srv.URL + "/missing;clients=c", // 404
		"issuer=" + srv.URL + "/gateway;jwks=" + file + ";clients=c;aud=x",      // unknown key
		"issuer=gateway;jwks=" + file + ";clients=c",                            // not a URL
	} {
		if _, err := parseTrustedIssuer(ctx, bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/oauth"
)

// maxTrustedJWKS bounds a trusted issuer's JWKS document.
const maxTrustedJWKS = 1 << 20

// parseTrustedIssuer reads one --trust-subject-issuer value:
//
//	issuer=https://gw.example/gateway;jwks=https://gw.example/gateway/jwks.json;clients=ID[,ID…][;algs=EdDSA[,RS256]]
//
// jwks is an http(s) URL, fetched once now, or a file path. The keys are
// not refreshed: a gateway that rotates its keys is trusted again after a
// restart of this server.
func parseTrustedIssuer(ctx context.Context, v string) (oauth.TrustedIssuer, error) {
	var t oauth.TrustedIssuer
	var jwks string
	for _, part := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case !ok:
			return t, fmt.Errorf("--trust-subject-issuer: %q is not key=value", part)
		case k == "issuer":
			t.Issuer = val
		case k == "jwks":
			jwks = val
		case k == "clients":
			t.Clients = strings.Split(val, ",")
		case k == "algs":
			t.Algorithms = strings.Split(val, ",")
		default:
			return t, fmt.Errorf("--trust-subject-issuer: unknown key %q (issuer, jwks, clients, algs)", k)
		}
	}
	if t.Issuer == "" || jwks == "" || len(t.Clients) == 0 {
		return t, fmt.Errorf("--trust-subject-issuer: issuer, jwks and clients are required")
	}
	data, err := readJWKS(ctx, jwks)
	if err != nil {
		return t, fmt.Errorf("--trust-subject-issuer %s: %w", t.Issuer, err)
	}
	if t.Keys, err = authority.ParseJWKS(data); err != nil {
		return t, fmt.Errorf("--trust-subject-issuer %s: %w", t.Issuer, err)
	}
	if err := t.Validate(); err != nil {
		return t, fmt.Errorf("--trust-subject-issuer: %w", err)
	}
	return t, nil
}

func readJWKS(ctx context.Context, src string) ([]byte, error) {
	if !strings.HasPrefix(src, "https://") && !strings.HasPrefix(src, "http://") {
		return os.ReadFile(src)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("JWKS %s: HTTP %d", src, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxTrustedJWKS+1))
	if err == nil && len(data) > maxTrustedJWKS {
		err = fmt.Errorf("JWKS %s is larger than %d bytes", src, maxTrustedJWKS)
	}
	return data, err
}

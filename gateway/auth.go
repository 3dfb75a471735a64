package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/dpop"
	"github.com/openlegant/legant/upstreams"
)

// maxCachedTokens bounds the verification cache; when full, expired entries
// are dropped and, if none expired, the cache is cleared (verification is
// cheap enough that this is only a slow path, never a correctness issue).
const maxCachedTokens = 100_000

// verifier verifies inbound tokens once per (token, audience) and caches the
// claims until the token expires. Revocation is not cached: it is checked on
// every request. Safe for concurrent use.
type verifier struct {
	keys   *authority.KeySet
	issuer string

	stats verifyStats // observe.go

	mu    sync.RWMutex
	cache map[cacheKey]*authority.Claims
}

type cacheKey struct{ token, audience string }

func newVerifier(keys *authority.KeySet, issuer string) *verifier {
	return &verifier{keys: keys, issuer: issuer, cache: make(map[cacheKey]*authority.Claims)}
}

func (v *verifier) verify(token, audience string, now time.Time) (*authority.Claims, error) {
	k := cacheKey{token, audience}
	v.mu.RLock()
	c, ok := v.cache[k]
	v.mu.RUnlock()
	if ok && now.Before(c.ExpiresAt) {
		v.stats.hit()
		return c, nil
	}
	v.stats.miss()
	c, err := authority.Verify(token, v.keys, authority.VerifyOptions{
		Issuer: v.issuer, Audience: audience, RequireActor: true,
	}, now)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	if len(v.cache) >= maxCachedTokens {
		v.evictLocked(now)
	}
	v.cache[k] = c
	v.mu.Unlock()
	return c, nil
}

func (v *verifier) evictLocked(now time.Time) {
	for k, c := range v.cache {
		if !now.Before(c.ExpiresAt) {
			delete(v.cache, k)
		}
	}
	if len(v.cache) >= maxCachedTokens {
		clear(v.cache)
	}
}

// authError is a refusal at the HTTP edge.
type authError struct {
	status int
	code   string // RFC 6750 error code: invalid_request, invalid_token, insufficient_scope
	desc   string // safe to show the client
	reason string // audit reason
	// dpop is the WWW-Authenticate DPoP challenge sent beside the Bearer one
	// (RFC 9449 §7.1), "" when the upstream accepts bearer tokens only;
	// proofErr, when set, is the refusal of a proof (dpop.Check's error):
	// it is named on the DPoP challenge, not the Bearer one.
	dpop     string
	proofErr error
	nonce    string // the DPoP-Nonce to send with a use_dpop_nonce refusal (dpop_nonce.go)
}

func (e *authError) Error() string { return e.desc }

// authenticate verifies the access token of r for upstream up — presented
// with the Bearer scheme, or with the DPoP scheme and a proof when the token
// is bound to a key (RFC 9449, dpop.Check, in the upstream's DPoP mode).
func (g *Gateway) authenticate(r *http.Request, up *upstreams.Upstream) (*authority.Claims, string, *authError) {
	c, token, e := g.verifyAccess(r, up)
	if e != nil && up.DPoP != dpop.ModeBearer {
		e.dpop = dpop.Challenge(e.proofErr, nil)
	}
	return c, token, e
}

func (g *Gateway) verifyAccess(r *http.Request, up *upstreams.Upstream) (*authority.Claims, string, *authError) {
	scheme, token, ok := authority.AccessToken(r.Header.Values("Authorization"))
	if !ok {
		return nil, "", &authError{status: http.StatusUnauthorized, reason: "missing_token",
			desc: "a bearer token is required"}
	}
	c, err := g.verifier.verify(token, up.InboundAudience, g.now())
	if err != nil {
		return nil, "", &authError{status: http.StatusUnauthorized, code: "invalid_token",
			reason: "invalid_token", desc: authority.ErrorText(err)}
	}
	if g.opts.Revocations != nil {
		if why, revoked := g.opts.Revocations.Revoked(c); revoked {
			return c, token, &authError{status: http.StatusUnauthorized, code: "invalid_token",
				reason: "revoked", desc: "the token has been revoked (" + why + ")"}
		}
	}
	if why, held := g.held.covers(c, g.now()); held {
		return c, token, &authError{status: http.StatusUnauthorized, code: "invalid_token",
			reason: "revoked", desc: "the token has been revoked (" + why + ")"}
	}
	req := dpop.Request{Scheme: scheme, Token: token, Claims: c, Proofs: r.Header.Values("DPoP"),
		Method: r.Method, URL: g.publicURL(r) + r.URL.EscapedPath()}
	if nonce, err := g.checkProof(r.Context(), req, dpop.CheckOptions{Mode: up.DPoP, Cache: g.proofs}); err != nil {
		code := dpop.ErrorCode(err)
		e := &authError{status: http.StatusUnauthorized, code: code, reason: "dpop_" + code, desc: dpop.ErrorText(err)}
		if code != "invalid_token" {
			e.proofErr = err
		}
		if errors.Is(err, dpop.ErrUseNonce) {
			e.nonce = nonce
		}
		return c, token, e
	}
	return c, token, nil
}

// writeAuthError answers 401/403 with an RFC 6750 WWW-Authenticate header
// naming the RFC 9728 metadata of the resource.
func (g *Gateway) writeAuthError(w http.ResponseWriter, r *http.Request, slug string, e *authError, scope string) {
	params := []string{fmt.Sprintf("resource_metadata=%q", g.metadataURL(r, slug))}
	if e.code != "" && e.proofErr == nil {
		params = append(params, fmt.Sprintf("error=%q", e.code), fmt.Sprintf("error_description=%q", e.desc))
	}
	if scope != "" {
		params = append(params, fmt.Sprintf("scope=%q", scope))
	}
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	if e.dpop != "" {
		w.Header().Add("WWW-Authenticate", e.dpop)
	}
	if e.nonce != "" {
		w.Header().Set("DPoP-Nonce", e.nonce)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	code := e.code
	if code == "" {
		code = "invalid_request"
	}
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": e.desc})
}

package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openlegant/legant/authority"
)

// keyCache holds the issuer's key set and refreshes it: periodically, and when
// a token or feed names an unknown kid, at most once per minRefresh (counted
// from the previous fetch of any kind, successful or not), so a flood of
// tokens with made-up kids cannot make us hammer the issuer.
//
// Safe for concurrent use. Reads are lock-free (an atomic pointer); fetches
// are serialized by sem, which also guards lastFetch.
type keyCache struct {
	load       func(ctx context.Context) (*authority.KeySet, error)
	now        func() time.Time
	minRefresh time.Duration

	current atomic.Pointer[authority.KeySet]
	fetches atomic.Int64

	sem       chan struct{} // one slot: held while fetching
	lastFetch time.Time     // guarded by sem
}

func newKeyCache(load func(context.Context) (*authority.KeySet, error), now func() time.Time, minRefresh time.Duration) *keyCache {
	return &keyCache{load: load, now: now, minRefresh: minRefresh, sem: make(chan struct{}, 1)}
}

// keys returns the current key set (nil before the first successful fetch).
func (c *keyCache) keys() *authority.KeySet { return c.current.Load() }

// acquire takes the fetch slot, or fails when ctx ends first.
func (c *keyCache) acquire(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *keyCache) release() { <-c.sem }

// refresh fetches the key set unconditionally (start-up and the periodic
// refresh). On failure the previous key set stays.
func (c *keyCache) refresh(ctx context.Context) error {
	if err := c.acquire(ctx); err != nil {
		return err
	}
	defer c.release()
	return c.fetchLocked(ctx)
}

// refreshUnknown is called when seen (the key set a verification used) lacks
// a kid. It reports whether a newer key set is available to retry with: one
// another caller fetched meanwhile, or one it fetched itself when the rate
// limit allows.
func (c *keyCache) refreshUnknown(ctx context.Context, seen *authority.KeySet) bool {
	if err := c.acquire(ctx); err != nil {
		return false
	}
	defer c.release()
	if c.current.Load() != seen {
		return true
	}
	if !c.lastFetch.IsZero() && c.now().Sub(c.lastFetch) < c.minRefresh {
		return false
	}
	return c.fetchLocked(ctx) == nil
}

// fetchLocked loads the key set; the caller holds sem.
func (c *keyCache) fetchLocked(ctx context.Context) error {
	c.lastFetch = c.now()
	c.fetches.Add(1)
	ks, err := c.load(ctx)
	if err != nil {
		return err
	}
	c.current.Store(ks)
	return nil
}

// jwksSource finds and loads the issuer's JWKS over HTTP. Discovery (RFC 8414
// metadata, else the conventional /.well-known/jwks.json) runs once; the URL
// it found is reused afterwards. Safe for concurrent use.
type jwksSource struct {
	f        *fetcher
	issuer   string
	explicit string // VerifierOptions.JWKSURL

	mu  sync.Mutex
	uri string // discovered jwks_uri; "" until discovered
}

// metadata is the part of RFC 8414 authorization server metadata we read.
type metadata struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

func (s *jwksSource) load(ctx context.Context) (*authority.KeySet, error) {
	uri, err := s.jwksURI(ctx)
	if err != nil {
		return nil, err
	}
	body, err := s.f.get(ctx, uri, "application/jwk-set+json, application/json")
	if err != nil {
		return nil, fmt.Errorf("sdk: fetch JWKS: %w", err)
	}
	ks, err := authority.ParseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("sdk: JWKS at %s: %w", uri, err)
	}
	return ks, nil
}

func (s *jwksSource) jwksURI(ctx context.Context) (string, error) {
	if s.explicit != "" {
		return s.explicit, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.uri != "" {
		return s.uri, nil
	}
	uri, err := s.discover(ctx)
	if err != nil {
		return "", err
	}
	s.uri = uri
	return uri, nil
}

// discover reads the issuer's RFC 8414 metadata for jwks_uri; when the
// issuer publishes none (404), it falls back to issuer + "/.well-known/jwks.json".
func (s *jwksSource) discover(ctx context.Context) (string, error) {
	mdURL, err := wellKnown(s.issuer, "oauth-authorization-server")
	if err != nil {
		return "", err
	}
	body, err := s.f.get(ctx, mdURL, "application/json")
	if errors.Is(err, errNotFound) {
		return strings.TrimSuffix(s.issuer, "/") + "/.well-known/jwks.json", nil
	}
	if err != nil {
		return "", fmt.Errorf("sdk: issuer metadata: %w", err)
	}
	var md metadata
	if err := json.Unmarshal(body, &md); err != nil {
		return "", fmt.Errorf("sdk: issuer metadata at %s: %w", mdURL, err)
	}
	switch {
	case md.Issuer != s.issuer:
		// RFC 8414 §3.3: the metadata must name the issuer it was fetched for.
		return "", fmt.Errorf("sdk: issuer metadata at %s names issuer %q, want %q", mdURL, md.Issuer, s.issuer)
	case md.JWKSURI == "":
		return "", fmt.Errorf("sdk: issuer metadata at %s has no jwks_uri", mdURL)
	}
	return md.JWKSURI, nil
}

package sdk

import (
	"sync"
	"time"

	"github.com/openlegant/legant/authority"
)

// MaxCachedTokens bounds the verified-token cache. When it is full, expired
// entries are dropped, and if none had expired the cache is cleared:
// verification is only slower then, never wrong.
const MaxCachedTokens = 10_000

// tokenCache remembers the claims of tokens that verified, so that an agent
// making many calls with one token pays for the signature once, as in the
// gateway. An entry is used only with the key set it was verified against
// (any key refresh starts over, so a retired key stops verifying at once) and
// only before the token's exp. Revocation and feed freshness are never
// cached: Verify checks them on every call. Safe for concurrent use.
type tokenCache struct {
	mu sync.RWMutex
	m  map[string]cachedClaims
}

type cachedClaims struct {
	claims *authority.Claims
	keys   *authority.KeySet
}

func (c *tokenCache) get(token string, keys *authority.KeySet, now time.Time) (*authority.Claims, bool) {
	c.mu.RLock()
	e, ok := c.m[token]
	c.mu.RUnlock()
	if !ok || e.keys != keys || !now.Before(e.claims.ExpiresAt) {
		return nil, false
	}
	return e.claims, true
}

func (c *tokenCache) put(token string, keys *authority.KeySet, claims *authority.Claims, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]cachedClaims)
	}
	if len(c.m) >= MaxCachedTokens {
		c.evictLocked(now)
	}
	c.m[token] = cachedClaims{claims, keys}
}

func (c *tokenCache) evictLocked(now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.claims.ExpiresAt) {
			delete(c.m, k)
		}
	}
	if len(c.m) >= MaxCachedTokens {
		clear(c.m)
	}
}

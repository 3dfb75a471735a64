package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/openlegant/legant/authority/revfeed"
)

// FeedPath is where the issuer serves the signed revocation feed.
const FeedPath = "/.well-known/revoked"

// Feed returns the signed revocation feed at now (see package revfeed and
// docs/STORE.md): every revoked token, delegation, agent and user whose
// revocation has not expired, the current revocation version, signed with the
// current signing key and valid for Options.FeedTTL.
func (s *Store) Feed(ctx context.Context, now time.Time) ([]byte, error) {
	if s.opts.Issuer == "" {
		return nil, errors.New("store: Options.Issuer is required to sign the revocation feed")
	}
	key, err := s.signer(ctx)
	if err != nil {
		return nil, err
	}
	version, revs, err := s.loadRevocations(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("store: load revocations: %w", err)
	}
	var entries []revfeed.Entry
	for _, r := range revs {
		if r.ExpiresAt.IsZero() || now.Before(r.ExpiresAt) {
			entries = append(entries, revfeed.Entry{Kind: r.Kind, Value: r.Value})
		}
	}
	ttl := s.opts.FeedTTL
	if ttl <= 0 {
		ttl = DefaultFeedTTL
	}
	tok, err := revfeed.Sign(key, revfeed.NewFeed(s.opts.Issuer, version, now, now.Add(ttl), entries))
	if err != nil {
		return nil, fmt.Errorf("store: sign revocation feed: %w", err)
	}
	return []byte(tok), nil
}

// feedCacheMaxAge bounds how long FeedHandler reuses a signed feed while the
// revocation version stays the same (entries can also expire).
const feedCacheMaxAge = 10 * time.Second

// feedCache is FeedHandler's last signed feed. Safe for concurrent use.
type feedCache struct {
	mu      sync.Mutex
	version int64
	made    time.Time
	tok     []byte
}

// get returns the cached feed if it is of version v and fresh at now.
func (c *feedCache) get(v int64, now time.Time) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == nil || c.version != v || now.Before(c.made) || now.Sub(c.made) >= feedCacheMaxAge {
		return nil, false
	}
	return c.tok, true
}

func (c *feedCache) put(v int64, now time.Time, tok []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.version, c.made, c.tok = v, now, tok
}

// FeedHandler serves Feed at FeedPath: GET or HEAD, Content-Type
// application/jwt, never cached by intermediaries beyond revalidation. The
// signed feed is reused for up to feedCacheMaxAge while the revocation version
// does not change. A failure answers 503 without detail (the cause goes to
// the log).
func (s *Store) FeedHandler() http.Handler {
	var cache feedCache
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		now, v := s.now(), s.revs.Version()
		tok, ok := cache.get(v, now)
		if !ok {
			var err error
			if tok, err = s.Feed(r.Context(), now); err != nil {
				s.log.Error("revocation feed", "err", err)
				http.Error(w, "revocation feed unavailable", http.StatusServiceUnavailable)
				return
			}
			cache.put(v, now, tok)
		}
		w.Header().Set("Content-Type", "application/jwt")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(tok)
	})
}

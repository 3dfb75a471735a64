package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/openlegant/legant/issuer/revfeed"
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

// FeedHandler serves Feed at FeedPath: GET or HEAD, Content-Type
// application/jwt, never cached by intermediaries beyond revalidation. A
// failure answers 503 without detail (the cause goes to the log).
func (s *Store) FeedHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		tok, err := s.Feed(r.Context(), s.now())
		if err != nil {
			s.log.Error("revocation feed", "err", err)
			http.Error(w, "revocation feed unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwt")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(tok)
	})
}

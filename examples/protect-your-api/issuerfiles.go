package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/keydir"
)

// writeJWKS publishes the public keys of a key directory (made by
// `legant keys init`) as the JWKS file the SDK reads.
func writeJWKS(keysDir, out string, now time.Time) error {
	ks, err := keydir.Load(keysDir)
	if err != nil {
		return err
	}
	b, err := ks.JWKS(now)
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

// writeFeed signs a revocation feed with the key directory's current key, as
// Legant's issuer signs the one it serves at /.well-known/revoked. The feed
// in out, if any, is carried over: its entries stay and the version goes up
// by one, so a verifier that saw the previous file accepts this one.
func writeFeed(keysDir, issuer, out string, add []revfeed.Entry, ttl time.Duration, now time.Time) (*revfeed.Feed, error) {
	ks, err := keydir.Load(keysDir)
	if err != nil {
		return nil, err
	}
	key, err := ks.Signer()
	if err != nil {
		return nil, err
	}
	var version int64 = 1
	entries := add
	old, err := os.ReadFile(out)
	switch {
	case err == nil:
		prev, err := revfeed.Verify(string(old), ks, now, 0)
		if err != nil {
			return nil, fmt.Errorf("previous feed %s (remove it to start over): %w", out, err)
		}
		version, entries = prev.Version+1, append(prev.Entries(), add...)
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	feed := revfeed.NewFeed(issuer, version, now, now.Add(ttl), entries)
	tok, err := revfeed.Sign(key, feed)
	if err != nil {
		return nil, err
	}
	// Write then rename, so a verifier polling the file never reads half of it.
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o644); err != nil {
		return nil, err
	}
	return feed, os.Rename(tmp, out)
}

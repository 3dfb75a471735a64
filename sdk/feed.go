package sdk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
)

// FeedStatus describes the revocation feed as the Verifier last saw it.
type FeedStatus struct {
	// Version is the highest feed version accepted; 0 before the first.
	Version int64
	// IssuedAt is the iat of the newest accepted feed; zero before the first.
	IssuedAt time.Time
	// Entries is the number of revocations in the set.
	Entries int
	// CheckedAt is when the last poll finished, successful or not.
	CheckedAt time.Time
	// Err is the error of the last poll (nil when it succeeded). A refused
	// rollback wraps revfeed.ErrRollback; an unverifiable feed revfeed.ErrInvalid.
	Err error
}

// feedPoller keeps the revocation set current from the issuer's signed feed
// (HTTP) or a feed file. Safe for concurrent use: polls are serialized by
// pollMu, so that the rollback check and the update of the set are one step;
// readers (snapshot, age, the set) never wait for a poll in flight.
type feedPoller struct {
	read   func(ctx context.Context) ([]byte, error)
	keys   *keyCache
	issuer string
	now    func() time.Time
	notify func(FeedStatus) // VerifierOptions.OnFeed; may be nil

	set revfeed.Set

	pollMu sync.Mutex // held for a whole poll

	mu     sync.Mutex
	status FeedStatus
}

// poll reads, verifies and applies one feed. A feed that does not verify,
// names another issuer or is older than the last accepted one (rollback) is
// refused and the previous set stays.
func (p *feedPoller) poll(ctx context.Context) error {
	p.pollMu.Lock()
	defer p.pollMu.Unlock()
	err := p.fetchAndApply(ctx)
	p.mu.Lock()
	p.status.CheckedAt, p.status.Err = p.now(), err
	st := p.status
	p.mu.Unlock()
	if p.notify != nil {
		p.notify(st)
	}
	return err
}

func (p *feedPoller) fetchAndApply(ctx context.Context) error {
	raw, err := p.read(ctx)
	if err != nil {
		return fmt.Errorf("sdk: read revocation feed: %w", err)
	}
	tok := string(bytes.TrimSpace(raw))
	p.mu.Lock()
	last := p.status.Version
	p.mu.Unlock()
	feed, err := p.verify(ctx, tok, last)
	if err != nil {
		return fmt.Errorf("sdk: revocation feed: %w", err)
	}
	if feed.Issuer != p.issuer {
		return fmt.Errorf("sdk: revocation feed: %w: issuer %q, want %q", revfeed.ErrInvalid, feed.Issuer, p.issuer)
	}
	p.set.Replace(feed.Entries())
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status.Version = feed.Version
	if iat := time.Unix(feed.IssuedAt, 0); iat.After(p.status.IssuedAt) {
		p.status.IssuedAt = iat
	}
	p.status.Entries = p.set.Len()
	return nil
}

// verify checks the feed against the issuer's keys; a feed signed with a key
// we do not know yet (the issuer rotated) refreshes the key set, within the
// same rate limit as tokens.
func (p *feedPoller) verify(ctx context.Context, tok string, last int64) (*revfeed.Feed, error) {
	seen := p.keys.keys()
	ks := seen
	if ks == nil {
		ks = authority.NewKeySet()
	}
	feed, err := revfeed.Verify(tok, ks, p.now(), last)
	if errors.Is(err, authority.ErrUnknownKey) && p.keys.refreshUnknown(ctx, seen) {
		feed, err = revfeed.Verify(tok, p.keys.keys(), p.now(), last)
	}
	return feed, err
}

// snapshot returns the current status.
func (p *feedPoller) snapshot() FeedStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.status
	st.Entries = p.set.Len()
	return st
}

// age is how long ago the newest accepted feed was issued; math.MaxInt64
// before any feed was accepted. It is never negative.
func (p *feedPoller) age() time.Duration {
	p.mu.Lock()
	iat := p.status.IssuedAt
	p.mu.Unlock()
	if iat.IsZero() {
		return time.Duration(math.MaxInt64)
	}
	return max(p.now().Sub(iat), 0)
}

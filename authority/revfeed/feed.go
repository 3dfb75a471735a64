package revfeed

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/openlegant/legant/authority"
)

// Type is the JWS header typ of a revocation feed.
const Type = "legant-revocations+jwt"

// Leeway is the clock skew Verify allows on iat and exp.
const Leeway = 30 * time.Second

// Feed is the payload of a signed revocation feed. Lists are sorted and never
// nil on the wire (an empty list is []).
type Feed struct {
	Issuer      string   `json:"iss"`
	IssuedAt    int64    `json:"iat"` // seconds since the epoch
	ExpiresAt   int64    `json:"exp"` // seconds since the epoch
	Version     int64    `json:"version"`
	Tokens      []string `json:"jti"`         // revoked, unexpired token ids
	Delegations []string `json:"delegations"` // revoked delegation ids, sub-trees expanded
	Agents      []string `json:"agents"`      // revoked agents (any token whose act chain contains one)
	Users       []string `json:"users"`       // revoked users (token sub)
}

// Entries returns the feed's revocations as set entries (without reasons).
func (f *Feed) Entries() []Entry {
	var out []Entry
	for _, l := range []struct {
		k Kind
		v []string
	}{{KindToken, f.Tokens}, {KindDelegation, f.Delegations}, {KindAgent, f.Agents}, {KindUser, f.Users}} {
		for _, v := range l.v {
			out = append(out, Entry{Kind: l.k, Value: v})
		}
	}
	return out
}

// NewFeed builds the payload for entries, sorting and de-duplicating them.
func NewFeed(issuer string, version int64, iat, exp time.Time, entries []Entry) *Feed {
	f := &Feed{Issuer: issuer, Version: version, IssuedAt: iat.Unix(), ExpiresAt: exp.Unix(),
		Tokens: []string{}, Delegations: []string{}, Agents: []string{}, Users: []string{}}
	for _, e := range entries {
		if l := f.list(e.Kind); l != nil {
			*l = append(*l, e.Value)
		}
	}
	for _, l := range []*[]string{&f.Tokens, &f.Delegations, &f.Agents, &f.Users} {
		slices.Sort(*l)
		*l = slices.Compact(*l)
	}
	return f
}

func (f *Feed) list(k Kind) *[]string {
	switch k {
	case KindToken:
		return &f.Tokens
	case KindDelegation:
		return &f.Delegations
	case KindAgent:
		return &f.Agents
	case KindUser:
		return &f.Users
	}
	return nil
}

// Sign signs f with k as a compact JWS of type Type.
func Sign(k *authority.Key, f *Feed) (string, error) {
	if f.Issuer == "" {
		return "", errors.New("revfeed: feed has no issuer")
	}
	return authority.SignJWS(k, Type, f)
}

// Errors Verify returns (wrapped with detail).
var (
	ErrInvalid  = errors.New("invalid revocation feed")
	ErrExpired  = errors.New("revocation feed expired")
	ErrRollback = errors.New("revocation feed older than one already accepted")
)

// Verify checks a feed's signature against ks (the issuer's JWKS), its type,
// that now is within [iat, exp) give or take Leeway, and that its version is
// not lower than lastVersion (the highest version the caller accepted; 0 for
// none). An equal version is accepted: it is the same state, re-signed.
// Callers must also check Feed.Issuer if ks may hold other issuers' keys.
func Verify(token string, ks *authority.KeySet, now time.Time, lastVersion int64) (*Feed, error) {
	var f Feed
	if err := authority.VerifyJWS(token, ks, Type, now, &f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch {
	case f.Issuer == "" || f.Version < 0 || f.ExpiresAt <= f.IssuedAt:
		return nil, fmt.Errorf("%w: missing iss, negative version or exp not after iat", ErrInvalid)
	case time.Unix(f.IssuedAt, 0).After(now.Add(Leeway)):
		return nil, fmt.Errorf("%w: issued in the future (iat %d)", ErrInvalid, f.IssuedAt)
	case !now.Before(time.Unix(f.ExpiresAt, 0).Add(Leeway)):
		return nil, fmt.Errorf("%w at %s", ErrExpired, time.Unix(f.ExpiresAt, 0).UTC().Format(time.RFC3339))
	case f.Version < lastVersion:
		return nil, fmt.Errorf("%w: version %d < %d", ErrRollback, f.Version, lastVersion)
	}
	return &f, nil
}

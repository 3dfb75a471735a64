package gateway

import (
	"sync"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/upstreams"
)

// minter mints the downstream tokens sent to upstreams: audience-bound to the
// upstream, short-lived, with the gateway appended to the act chain. The
// caller's token is never forwarded.
//
// A token is minted per (caller token, upstream) and reused while more than
// half of its lifetime remains: it carries nothing specific to one call, and
// signing is the largest cost of a relayed request. Safe for concurrent use.
type minter struct {
	key    *authority.Key
	issuer string
	actor  string
	ttl    time.Duration
	dpop   *dpopKey // binds the tokens of downstream_dpop upstreams (downstream_dpop.go)

	mu    sync.Mutex
	cache map[mintKey]minted
}

// mintKey identifies the caller's token by its verified claims: the verifier
// caches one *Claims per token, so the pointer names exactly one token.
type mintKey struct {
	caller   *authority.Claims
	audience string
	bound    bool // DPoP-bound to m.dpop (the upstream's downstream_dpop)
}

type minted struct {
	token   string
	bearer  string // "Bearer " + token: the header value, made once per token
	renewAt time.Time
}

// maxMinted bounds the cache; when full it is cleared (a slow path only).
const maxMinted = 50_000

func newMinter(o Options) *minter {
	m := &minter{key: o.Signer, issuer: o.DownstreamIssuer, actor: o.Actor, ttl: o.DownstreamTTL,
		dpop: newDPoPKey(), cache: make(map[mintKey]minted)}
	if m.issuer == "" {
		m.issuer = o.PublicURL
	}
	if m.actor == "" {
		m.actor = DefaultActor
	}
	if m.ttl <= 0 {
		m.ttl = DefaultDownstreamTTL
	}
	return m
}

// token returns a downstream token for up on behalf of c, minting one when no
// cached token has more than half its life left.
func (m *minter) token(c *authority.Claims, up *upstreams.Upstream, now time.Time) (string, error) {
	t, err := m.cached(c, up, now)
	return t.token, err
}

// bearer returns the Authorization header value for the token that token
// returns: one string per minted token, not one per request (a session's GET
// stream holds it as long as the stream lives).
func (m *minter) bearer(c *authority.Claims, up *upstreams.Upstream, now time.Time) (string, error) {
	t, err := m.cached(c, up, now)
	return t.bearer, err
}

func (m *minter) cached(c *authority.Claims, up *upstreams.Upstream, now time.Time) (minted, error) {
	k := mintKey{caller: c, audience: up.DownstreamAudience, bound: up.DownstreamDPoP}
	m.mu.Lock()
	t, ok := m.cache[k]
	m.mu.Unlock()
	if ok && now.Before(t.renewAt) {
		return t, nil
	}
	tok, err := m.mint(c, up, now)
	if err != nil {
		return minted{}, err
	}
	exp := now.Add(m.ttl)
	if c.ExpiresAt.Before(exp) {
		exp = c.ExpiresAt
	}
	m.mu.Lock()
	if len(m.cache) >= maxMinted {
		clear(m.cache)
	}
	t = minted{token: tok, bearer: "Bearer " + tok, renewAt: now.Add(exp.Sub(now) / 2)}
	m.cache[k] = t
	m.mu.Unlock()
	return t, nil
}

// mint returns a fresh token for up carrying c's user, scopes and constraints.
func (m *minter) mint(c *authority.Claims, up *upstreams.Upstream, now time.Time) (string, error) {
	exp := now.Add(m.ttl)
	if c.ExpiresAt.Before(exp) {
		exp = c.ExpiresAt // never outlive the caller's authority
	}
	d := &authority.Claims{
		Issuer:       m.issuer,
		Subject:      c.Subject,
		Audience:     []string{up.DownstreamAudience},
		ExpiresAt:    exp,
		IssuedAt:     now,
		ID:           authority.NewID(),
		ClientID:     c.ClientID,
		Scopes:       c.Scopes,
		Actor:        &authority.Actor{Subject: m.actor, Actor: c.Actor},
		DelegationID: c.DelegationID,
		ParentID:     c.ParentID,
		Constraints:  c.Constraints,
	}
	if up.DownstreamDPoP {
		d.Confirmation = &authority.Confirmation{JKT: m.dpop.jkt}
	}
	return authority.Sign(m.key, d)
}

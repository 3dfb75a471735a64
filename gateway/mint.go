package gateway

import (
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/upstreams"
)

// minter mints the downstream tokens sent to upstreams: audience-bound to the
// upstream, short-lived, with the gateway appended to the act chain. The
// caller's token is never forwarded.
type minter struct {
	key    *authority.Key
	issuer string
	actor  string
	ttl    time.Duration
}

func newMinter(o Options) *minter {
	m := &minter{key: o.Signer, issuer: o.DownstreamIssuer, actor: o.Actor, ttl: o.DownstreamTTL}
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
		ID:           newID(),
		ClientID:     c.ClientID,
		Scopes:       c.Scopes,
		Actor:        &authority.Actor{Subject: m.actor, Actor: c.Actor},
		DelegationID: c.DelegationID,
		ParentID:     c.ParentID,
		Constraints:  c.Constraints,
	}
	return authority.Sign(m.key, d)
}

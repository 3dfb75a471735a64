package grants

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/upstreams"
)

// Spec is everything a grant's token is made of apart from its ids and
// times: two specs with one Digest stand for the same authority.
type Spec struct {
	Issuer      string                `json:"iss"`
	User        string                `json:"sub"`
	Agents      []string              `json:"agents"`
	ClientID    string                `json:"client_id,omitempty"`
	Audience    string                `json:"aud"`
	Scopes      []string              `json:"scopes"`
	Constraints authority.Constraints `json:"authorization_details"`
	TTL         string                `json:"ttl"`
}

// SpecFor resolves the grant against its upstream: the audience is the
// upstream's inbound audience and, unless the grant lists them, the scopes
// are those its tools need.
func (f *File) SpecFor(g *Grant, up *upstreams.Upstream) (Spec, error) {
	if up.InboundAudience == "" {
		return Spec{}, fmt.Errorf("grant %s: upstream %q has no inbound audience (give the registry a public URL)", g.Name, up.Slug)
	}
	return Spec{Issuer: f.Issuer, User: g.User, Agents: g.Agents, ClientID: g.ClientID, Audience: up.InboundAudience,
		Scopes: g.ScopesFor(up), Constraints: g.Constraints, TTL: g.TTL.String()}, nil
}

// Digest is the hex SHA-256 of the spec's JSON form.
func (s Spec) Digest() string {
	b, err := json.Marshal(s)
	if err != nil { // Constraints of a parsed grant are normalized and always marshal
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Link is one delegation of a minted chain: the user's grant to the first
// agent (ParentID "") and each agent's attenuation to the next.
type Link struct {
	ID, ParentID string
	Agents       []string // the act chain up to this link, oldest first
}

// Claims builds the token the spec stands for, issued at now: a root
// delegation to the first agent extended to each further agent with
// authority.Attenuate (so the chain rules are the authority package's).
// It returns the claims of the last link and every link, root first.
func (s Spec) Claims(now time.Time) (*authority.Claims, []Link, error) {
	ttl, err := time.ParseDuration(s.TTL)
	if err != nil || ttl <= 0 {
		return nil, nil, fmt.Errorf("ttl %q: want a positive duration", s.TTL)
	}
	if len(s.Agents) == 0 {
		return nil, nil, fmt.Errorf("no agent")
	}
	c := &authority.Claims{
		Issuer: s.Issuer, Subject: s.User, Audience: []string{s.Audience}, IssuedAt: now, ExpiresAt: now.Add(ttl),
		ID: authority.NewID(), ClientID: s.ClientID, Scopes: s.Scopes, DelegationID: authority.NewID(),
		Constraints: s.Constraints, Actor: &authority.Actor{Subject: s.Agents[0], ClientID: s.ClientID},
	}
	links := []Link{{ID: c.DelegationID, Agents: s.Agents[:1]}}
	for i, agent := range s.Agents[1:] {
		if c, err = authority.Attenuate(c, authority.Request{Actor: agent, ID: authority.NewID(), DelegationID: authority.NewID(),
			IssuedAt: now, Constraints: authority.Unrestricted()}, authority.AttenuateOptions{}); err != nil {
			return nil, nil, err
		}
		links = append(links, Link{ID: c.DelegationID, ParentID: c.ParentID, Agents: s.Agents[:i+2]})
	}
	return c, links, nil
}

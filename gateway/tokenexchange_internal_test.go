package gateway

import (
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/upstreams"
)

// TestExchangerCache: an exchanged token is used until its useUntil, per
// (upstream, user, delegation); Kill's selectors drop exactly the tokens
// of what they kill.
func TestExchangerCache(t *testing.T) {
	up := &upstreams.Upstream{Slug: "hosted", URL: "https://h/mcp", Auth: upstreams.Auth{Kind: upstreams.AuthExchange,
		Exchange: &upstreams.TokenExchange{ClientID: "gw"}}}
	now := time.Unix(1_700_000_000, 0)
	claims := func(user, dlg, parent string, agents ...string) *authority.Claims {
		return &authority.Claims{Subject: user, DelegationID: dlg, ParentID: parent, Actor: authority.NewActor(agents...)}
	}
	a := claims("alice", "dlg_a", "", "agent:planner")
	aChild := claims("alice", "dlg_a1", "dlg_a", "agent:planner", "agent:exec")
	b := claims("bob", "dlg_b", "", "agent:mailer")
	fill := func() *exchanger {
		x := newExchanger()
		for _, c := range []*authority.Claims{a, aChild, b} {
			x.put(exchangeKey(up, c), &exchangedToken{token: "tok-" + c.DelegationID, useUntil: now.Add(time.Minute),
				user: c.Subject, delegation: c.DelegationID, parent: c.ParentID, chain: c.Chain()})
		}
		return x
	}
	x := fill()
	if got := x.cached(exchangeKey(up, a), now); got != "tok-dlg_a" {
		t.Fatalf("cached = %q", got)
	}
	if got := x.cached(exchangeKey(up, a), now.Add(time.Minute)); got != "" {
		t.Error("a token is used at its useUntil")
	}
	other := *up
	other.Auth.Exchange = &upstreams.TokenExchange{ClientID: "another-client"}
	if got := x.cached(exchangeKey(&other, a), now); got != "" {
		t.Error("a token is reused after the upstream's exchange settings changed")
	}
	tests := []struct {
		name        string
		sel         Selector
		delegations []string
		left        []*authority.Claims
	}{
		{"delegation with its children", Selector{DelegationID: "dlg_a"}, nil, []*authority.Claims{b}},
		{"child only", Selector{DelegationID: "dlg_a1"}, nil, []*authority.Claims{a, b}},
		{"agent", Selector{Agent: "agent:exec"}, nil, []*authority.Claims{a, b}},
		{"user", Selector{User: "bob"}, nil, []*authority.Claims{a, aChild}},
		{"session: its delegation", Selector{SessionID: "s1"}, []string{"dlg_b"}, []*authority.Claims{a, aChild}},
		{"token: its session's delegation", Selector{TokenID: "at_1"}, []string{"dlg_a1"}, []*authority.Claims{a, b}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := fill()
			x.forget(tt.sel, tt.delegations)
			if len(x.tokens) != len(tt.left) {
				t.Errorf("%d tokens left, want %d", len(x.tokens), len(tt.left))
			}
			for _, c := range tt.left {
				if x.cached(exchangeKey(up, c), now) == "" {
					t.Errorf("%s was dropped", c.DelegationID)
				}
			}
		})
	}
}

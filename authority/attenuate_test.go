package authority_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openlegant/legant/authority"
)

func rootClaims(t testing.TB) *authority.Claims {
	c := sampleClaims(t)
	c.Actor = authority.NewActor("planner")
	c.DelegationID, c.ParentID = "dlg-1", ""
	return c
}

func TestAttenuate(t *testing.T) {
	parent := rootClaims(t)
	child, err := authority.Attenuate(parent, authority.Request{
		Actor: "executor", ClientID: "exec-client", Scopes: []string{"expenses:write"},
		ExpiresAt: t0.Add(30 * time.Minute), ID: "jti-2", DelegationID: "dlg-2", IssuedAt: t0,
		Constraints: authority.Constraints{
			Tools: authority.Only("submit_expense", "delete_expense"), Resources: authority.AnyOf(), Categories: authority.Only("TRAVEL", "food"),
			MaxAmount: money("1000", ""), Budget: money("100", "USD"), MaxCalls: count(50),
			Window: ptr(mustWindow(t, "wed-sat 12:00-20:00 Europe/Paris")),
		},
	}, authority.AttenuateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := &authority.Claims{
		Issuer: parent.Issuer, Subject: "alice", Audience: parent.Audience,
		ExpiresAt: t0.Add(30 * time.Minute), IssuedAt: t0, NotBefore: parent.NotBefore,
		ID: "jti-2", ClientID: "exec-client", Scopes: []string{"expenses:write"},
		Actor:        &authority.Actor{Subject: "executor", ClientID: "exec-client", Actor: &authority.Actor{Subject: "planner"}},
		DelegationID: "dlg-2", ParentID: "dlg-1",
		Constraints: authority.Constraints{
			Tools: authority.Only("submit_expense"), Resources: authority.AnyOf(), Categories: authority.Only("travel"),
			MaxAmount: money("500", "USD"), Budget: money("100", "USD"), MaxCalls: count(10),
			Window: ptr(mustWindow(t, "wed-fri 12:00-17:00 Europe/Paris")),
		},
	}
	if diff := cmp.Diff(want, child); diff != "" {
		t.Fatalf("child (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(rootClaims(t), parent); diff != "" {
		t.Fatalf("Attenuate modified the parent (-want +got):\n%s", diff)
	}
	if got := child.Provenance(); got != "user:alice → agent:planner → agent:executor" {
		t.Errorf("Provenance = %q", got)
	}
}

func ptr[T any](v T) *T { return &v }

func TestAttenuateInherits(t *testing.T) {
	parent := rootClaims(t)
	child, err := authority.Attenuate(parent, authority.Request{Actor: "executor", Constraints: authority.Unrestricted()}, authority.AttenuateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(parent.Constraints, child.Constraints); diff != "" {
		t.Errorf("constraints (-parent +child):\n%s", diff)
	}
	if !cmp.Equal(parent.Scopes, child.Scopes) || !cmp.Equal(parent.Audience, child.Audience) || !child.ExpiresAt.Equal(parent.ExpiresAt) || child.ClientID != parent.ClientID {
		t.Errorf("inherited fields differ: %+v", child)
	}
	// A zero Constraints request is deny-all: it narrows the sets to nothing.
	none, err := authority.Attenuate(parent, authority.Request{Actor: "executor"}, authority.AttenuateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !none.Constraints.Tools.Empty() {
		t.Errorf("zero request kept tools %v", none.Constraints.Tools.Items())
	}
	child.Scopes[0] = "changed"
	if parent.Scopes[0] == "changed" {
		t.Error("child aliases the parent's scopes")
	}
}

func TestAttenuateRefuses(t *testing.T) {
	deep := rootClaims(t)
	deep.Actor = authority.NewActor("a1", "a2", "a3", "a4", "a5")
	unr := authority.Unrestricted()
	tests := []struct {
		name    string
		parent  *authority.Claims
		req     authority.Request
		opts    authority.AttenuateOptions
		field   string
		mention string
	}{
		{"scope not in parent", rootClaims(t), authority.Request{Actor: "x", Scopes: []string{"expenses:read", "payroll:write"}, Constraints: unr}, authority.AttenuateOptions{}, "scope", "payroll:write"},
		{"audience not in parent", rootClaims(t), authority.Request{Actor: "x", Audience: []string{"https://gw.example/mcp/payroll"}, Constraints: unr}, authority.AttenuateOptions{}, "audience", "payroll"},
		{"empty audience", rootClaims(t), authority.Request{Actor: "x", Audience: []string{}, Constraints: unr}, authority.AttenuateOptions{}, "audience", "empty"},
		{"no actor", rootClaims(t), authority.Request{Constraints: unr}, authority.AttenuateOptions{}, "actor", "required"},
		{"actor is the user", rootClaims(t), authority.Request{Actor: "alice", Constraints: unr}, authority.AttenuateOptions{}, "actor", "alice"},
		{"cycle", rootClaims(t), authority.Request{Actor: "planner", Constraints: unr}, authority.AttenuateOptions{}, "actor", "cycle"},
		{"depth default 5", deep, authority.Request{Actor: "a6", Constraints: unr}, authority.AttenuateOptions{}, "depth", "5"},
		{"depth custom", rootClaims(t), authority.Request{Actor: "x", Constraints: unr}, authority.AttenuateOptions{MaxDepth: 1}, "depth", "1"},
		{"currency differs", rootClaims(t), authority.Request{Actor: "x", Constraints: authority.Constraints{Tools: authority.AnyOf(), Resources: authority.AnyOf(), Categories: authority.AnyOf(), MaxAmount: money("5", "EUR")}}, authority.AttenuateOptions{}, "max_amount", "EUR"},
		{"budget currency differs", rootClaims(t), authority.Request{Actor: "x", Constraints: authority.Constraints{Tools: authority.AnyOf(), Resources: authority.AnyOf(), Categories: authority.AnyOf(), Budget: money("5", "EUR")}}, authority.AttenuateOptions{}, "budget", "EUR"},
		{"window in another zone", rootClaims(t), authority.Request{Actor: "x", Constraints: authority.Constraints{Tools: authority.AnyOf(), Resources: authority.AnyOf(), Categories: authority.AnyOf(), Window: ptr(mustWindow(t, "mon-fri 09:00-17:00 UTC"))}}, authority.AttenuateOptions{}, "window", "UTC"},
		{"expired parent", rootClaims(t), authority.Request{Actor: "x", IssuedAt: t0.Add(2 * time.Hour), Constraints: unr}, authority.AttenuateOptions{}, "expires_at", "expire"},
		{"strict: wider amount", rootClaims(t), authority.Request{Actor: "x", Constraints: authority.Constraints{Tools: authority.AnyOf(), Resources: authority.AnyOf(), Categories: authority.AnyOf(), MaxAmount: money("1000", "")}}, authority.AttenuateOptions{Strict: true}, "max_amount", "1000"},
		{"strict: extra tool", rootClaims(t), authority.Request{Actor: "x", Constraints: authority.Constraints{Tools: authority.Only("submit_expense", "delete"), Resources: authority.AnyOf(), Categories: authority.AnyOf()}}, authority.AttenuateOptions{Strict: true}, "tools", "delete"},
		{"strict: more calls", rootClaims(t), authority.Request{Actor: "x", Constraints: authority.Constraints{Tools: authority.AnyOf(), Resources: authority.AnyOf(), Categories: authority.AnyOf(), MaxCalls: count(11)}}, authority.AttenuateOptions{Strict: true}, "max_calls", "11"},
		{"strict: wider window", rootClaims(t), authority.Request{Actor: "x", Constraints: authority.Constraints{Tools: authority.AnyOf(), Resources: authority.AnyOf(), Categories: authority.AnyOf(), Window: ptr(mustWindow(t, "mon-sat 09:00-17:00 Europe/Paris"))}}, authority.AttenuateOptions{Strict: true}, "window", "sat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := authority.Attenuate(tt.parent, tt.req, tt.opts)
			var ae *authority.AttenuationError
			if !errors.As(err, &ae) || ae.Field != tt.field {
				t.Fatalf("Attenuate = %v, want an AttenuationError on %s", err, tt.field)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
	if _, err := authority.Attenuate(nil, authority.Request{Actor: "x"}, authority.AttenuateOptions{}); err == nil {
		t.Error("nil parent accepted")
	}
}

func TestAttenuateClamps(t *testing.T) {
	base := func(edit func(*authority.Constraints)) authority.Constraints {
		c := authority.Unrestricted()
		edit(&c)
		return c
	}
	tests := []struct {
		name           string
		parent, req    authority.Constraints
		check          func(authority.Constraints) bool
		strictRefusals bool
	}{
		{"disjoint tools give deny-all", base(func(c *authority.Constraints) { c.Tools = authority.Only("a") }), base(func(c *authority.Constraints) { c.Tools = authority.Only("b") }),
			func(c authority.Constraints) bool { return c.Tools.Empty() }, true},
		{"larger amount clamped", base(func(c *authority.Constraints) { c.MaxAmount = money("500", "USD") }), base(func(c *authority.Constraints) { c.MaxAmount = money("500.0000001", "") }),
			func(c authority.Constraints) bool { return c.MaxAmount.String() == "500 USD" }, true},
		{"smaller amount kept, currency inherited", base(func(c *authority.Constraints) { c.MaxAmount = money("500", "USD") }), base(func(c *authority.Constraints) { c.MaxAmount = money("20", "") }),
			func(c authority.Constraints) bool { return c.MaxAmount.String() == "20 USD" }, false},
		{"parent any currency, child USD", base(func(c *authority.Constraints) { c.MaxAmount = money("500", "") }), base(func(c *authority.Constraints) { c.MaxAmount = money("600", "usd") }),
			func(c authority.Constraints) bool { return c.MaxAmount.String() == "500 USD" }, true},
		{"parent no amount limit", authority.Unrestricted(), base(func(c *authority.Constraints) { c.MaxAmount = money("7", "JPY") }),
			func(c authority.Constraints) bool { return c.MaxAmount.String() == "7 JPY" }, false},
		{"budget min", base(func(c *authority.Constraints) { c.Budget = money("100", "") }), base(func(c *authority.Constraints) { c.Budget = money("1000", "") }),
			func(c authority.Constraints) bool { return c.Budget.String() == "100" }, true},
		{"max_calls min", base(func(c *authority.Constraints) { c.MaxCalls = count(3) }), base(func(c *authority.Constraints) { c.MaxCalls = count(30) }),
			func(c authority.Constraints) bool { return *c.MaxCalls == 3 }, true},
		{"max_calls zero kept", base(func(c *authority.Constraints) { c.MaxCalls = count(3) }), base(func(c *authority.Constraints) { c.MaxCalls = count(0) }),
			func(c authority.Constraints) bool { return *c.MaxCalls == 0 }, false},
		{"window intersection", base(func(c *authority.Constraints) { c.Window = ptr(mustWindow(t, "fri 22:00-06:00 UTC")) }), base(func(c *authority.Constraints) { c.Window = ptr(mustWindow(t, "sat 05:00-09:00 UTC")) }),
			func(c authority.Constraints) bool { return c.Window.String() == "sat 05:00-06:00 (UTC)" }, true},
		{"categories normalized before intersecting", base(func(c *authority.Constraints) { c.Categories = authority.Only("Travel") }), base(func(c *authority.Constraints) { c.Categories = authority.Only("TRAVEL", "x") }),
			func(c authority.Constraints) bool { return c.Categories.Equal(authority.Only("travel")) }, true},
		{"resources canonical before intersecting", base(func(c *authority.Constraints) { c.Resources = authority.Only("https://A.example/r/") }), base(func(c *authority.Constraints) { c.Resources = authority.Only("https://a.example:443/r") }),
			func(c authority.Constraints) bool { return c.Resources.Equal(authority.Only("https://a.example/r")) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := rootClaims(t)
			parent.Constraints = tt.parent
			child, err := authority.Attenuate(parent, authority.Request{Actor: "x", Constraints: tt.req}, authority.AttenuateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(child.Constraints) {
				t.Fatalf("unexpected child constraints %+v", child.Constraints)
			}
			_, err = authority.Attenuate(parent, authority.Request{Actor: "x", Constraints: tt.req}, authority.AttenuateOptions{Strict: true})
			if (err != nil) != tt.strictRefusals {
				t.Fatalf("strict: err = %v, want refusal %v", err, tt.strictRefusals)
			}
		})
	}
}

func TestAttenuateExpiry(t *testing.T) {
	parent := rootClaims(t)
	later, err := authority.Attenuate(parent, authority.Request{Actor: "x", ExpiresAt: parent.ExpiresAt.Add(time.Hour), Constraints: authority.Unrestricted()}, authority.AttenuateOptions{})
	if err != nil || !later.ExpiresAt.Equal(parent.ExpiresAt) {
		t.Fatalf("later expiry: %v, %v; want the parent's", later.ExpiresAt, err)
	}
	sooner, err := authority.Attenuate(parent, authority.Request{Actor: "x", ExpiresAt: t0.Add(time.Minute), Constraints: authority.Unrestricted()}, authority.AttenuateOptions{})
	if err != nil || !sooner.ExpiresAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("sooner expiry: %v, %v", sooner.ExpiresAt, err)
	}
}

func TestAttenuateChainOfTokens(t *testing.T) {
	k := edKey(t)
	ks := keySet(k)
	tok, err := authority.Sign(k, rootClaims(t))
	if err != nil {
		t.Fatal(err)
	}
	for i, agent := range []string{"b", "c", "d", "e"} {
		parent, err := authority.Verify(tok, ks, verifyOpts(), t0)
		if err != nil {
			t.Fatal(err)
		}
		child, err := authority.Attenuate(parent, authority.Request{Actor: agent, Constraints: authority.Unrestricted()}, authority.AttenuateOptions{})
		if err != nil {
			t.Fatalf("hop %d: %v", i, err)
		}
		if tok, err = authority.Sign(k, child); err != nil {
			t.Fatal(err)
		}
	}
	last, err := authority.Verify(tok, ks, verifyOpts(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := last.Principal(); got != "alice|planner|b|c|d|e" {
		t.Fatalf("Principal = %q", got)
	}
	if _, err := authority.Attenuate(last, authority.Request{Actor: "f", Constraints: authority.Unrestricted()}, authority.AttenuateOptions{}); err == nil {
		t.Fatal("a sixth actor was accepted with the default depth 5")
	}
}

// TestAttenuateKeyBinding: a child is bound to the new actor's own key and its
// hop records it; a bound parent refuses a bearer child (no downgrade).
func TestAttenuateKeyBinding(t *testing.T) {
	parent := rootClaims(t)
	parent.Confirmation = &authority.Confirmation{JKT: "planner-key"}
	child, err := authority.Attenuate(parent, authority.Request{Actor: "executor", KeyThumbprint: "executor-key",
		Constraints: authority.Unrestricted()}, authority.AttenuateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if child.BoundKey() != "executor-key" || child.Actor.Confirmation == nil || child.Actor.Confirmation.JKT != "executor-key" {
		t.Errorf("child cnf %+v, hop %+v: want bound to executor-key", child.Confirmation, child.Actor)
	}
	if parent.BoundKey() != "planner-key" {
		t.Error("attenuating changed the parent's binding")
	}
	_, err = authority.Attenuate(parent, authority.Request{Actor: "executor", Constraints: authority.Unrestricted()}, authority.AttenuateOptions{})
	var ae *authority.AttenuationError
	if !errors.As(err, &ae) || ae.Field != "cnf" {
		t.Fatalf("bearer child of a bound parent: err %v, want an AttenuationError on cnf", err)
	}
	bearer := rootClaims(t)
	if c, err := authority.Attenuate(bearer, authority.Request{Actor: "executor", Constraints: authority.Unrestricted()}, authority.AttenuateOptions{}); err != nil || c.BoundKey() != "" {
		t.Fatalf("bearer child of a bearer parent: %v, bound %q", err, c.BoundKey())
	}
}

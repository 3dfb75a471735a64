package authority_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openlegant/legant/authority"
)

var t0 = time.Date(2026, 3, 4, 9, 30, 0, 0, time.UTC)

func sampleClaims(t testing.TB) *authority.Claims {
	w, err := authority.ParseWindowSpec("mon-fri 09:00-17:00 Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	return &authority.Claims{
		Issuer: "https://issuer.example", Subject: "alice", Audience: []string{"https://gw.example/mcp/expenses"},
		ExpiresAt: t0.Add(time.Hour), IssuedAt: t0, NotBefore: t0.Add(-time.Minute),
		ID: "jti-1", ClientID: "client-1", Scopes: []string{"expenses:read", "expenses:write"},
		Actor: authority.NewActor("planner", "executor"), DelegationID: "dlg-2", ParentID: "dlg-1",
		Constraints: authority.Constraints{
			Tools: authority.Only("submit_expense"), Resources: authority.AnyOf(), Categories: authority.Only("travel"),
			MaxAmount: money("500", "USD"), Budget: money("1000", "USD"), MaxCalls: count(10), Window: &w,
		},
	}
}

func TestClaimsJSONRoundTrip(t *testing.T) {
	full := sampleClaims(t)
	twoAud := sampleClaims(t)
	twoAud.Audience = []string{"https://a.example", "https://b.example"}
	tests := []struct {
		name string
		c    *authority.Claims
	}{
		{"full", full},
		{"two audiences", twoAud},
		{"minimal", &authority.Claims{Subject: "bob", Constraints: authority.Unrestricted()}},
		{"bound to a key, hops with keys", &authority.Claims{Subject: "bob", Constraints: authority.Unrestricted(),
			Confirmation: &authority.Confirmation{JKT: "k2"},
			Actor: &authority.Actor{Subject: "exec", Confirmation: &authority.Confirmation{JKT: "k2"},
				Actor: &authority.Actor{Subject: "planner", Confirmation: &authority.Confirmation{JKT: "k1"}}}}},
		{"zero", &authority.Claims{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(tt.c)
			if err != nil {
				t.Fatal(err)
			}
			var back authority.Claims
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.c, &back); diff != "" {
				t.Fatalf("round trip of %s (-want +got):\n%s", data, diff)
			}
		})
	}
}

func TestClaimsJSONWire(t *testing.T) {
	c := &authority.Claims{
		Issuer: "https://issuer.example", Subject: "alice", Audience: []string{"https://gw.example"},
		ExpiresAt: time.Unix(1700000000, 0), Scopes: []string{"a", "b"}, Actor: authority.NewActor("planner", "executor"),
		Constraints: authority.Unrestricted(),
	}
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"iss":"https://issuer.example","sub":"alice","aud":"https://gw.example","exp":1700000000,"scope":"a b",` +
		`"act":{"sub":"executor","act":{"sub":"planner"}},"authorization_details":[{"type":"legant_delegation"}]}`
	if string(data) != want {
		t.Fatalf("Marshal =\n%s\nwant\n%s", data, want)
	}
}

func TestClaimsUnmarshal(t *testing.T) {
	tests := []struct {
		name, in string
		check    func(*authority.Claims) bool
		err      error // nil = success; errAny = any error
	}{
		{"aud array", `{"aud":["https://a","https://b"]}`, func(c *authority.Claims) bool { return len(c.Audience) == 2 }, nil},
		{"fractional exp truncated", `{"exp":1700000000.9}`, func(c *authority.Claims) bool { return c.ExpiresAt.Unix() == 1700000000 }, nil},
		{"unknown claims ignored", `{"sub":"a","foo":{"bar":1}}`, func(c *authority.Claims) bool { return c.Subject == "a" }, nil},
		{"no details is deny-all", `{"sub":"a"}`, func(c *authority.Claims) bool { return c.Constraints.Tools.Empty() }, nil},
		{"scope spaces", `{"scope":"  a   b "}`, func(c *authority.Claims) bool { return cmp.Equal(c.Scopes, []string{"a", "b"}) }, nil},
		{"duplicate claim", `{"sub":"a","sub":"b"}`, nil, errAny},
		{"exp string", `{"exp":"1700000000"}`, nil, errAny},
		{"exp negative", `{"exp":-1}`, nil, errAny},
		{"exp huge", `{"exp":1e300}`, nil, errAny},
		{"aud number", `{"aud":5}`, nil, errAny},
		{"act duplicate sub", `{"act":{"sub":"a","sub":"b"}}`, nil, errAny},
		{"two detail entries", `{"authorization_details":[{"type":"legant_delegation"},{"type":"legant_delegation"}]}`, nil, authority.ErrConstraints},
		{"other detail type", `{"authorization_details":[{"type":"payment_initiation"}]}`, nil, authority.ErrConstraints},
		{"details not array", `{"authorization_details":{"type":"legant_delegation"}}`, nil, authority.ErrConstraints},
		{"details null", `{"authorization_details":null}`, nil, authority.ErrConstraints},
		{"cnf jkt binds the token", `{"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}`, func(c *authority.Claims) bool { return c.BoundKey() == "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" }, nil},
		{"no cnf is a bearer token", `{"sub":"a"}`, func(c *authority.Claims) bool { return c.BoundKey() == "" }, nil},
		{"cnf of another method is refused", `{"cnf":{"x5t#S256":"abc"}}`, nil, errAny},
		{"cnf with jkt and another method is refused", `{"cnf":{"jkt":"a","x5t#S256":"b"}}`, nil, errAny},
		{"cnf without jkt is refused", `{"cnf":{}}`, nil, errAny},
		{"cnf jkt empty is refused", `{"cnf":{"jkt":""}}`, nil, errAny},
		{"hop key in the act chain", `{"act":{"sub":"exec","cnf":{"jkt":"k2"},"act":{"sub":"planner","cnf":{"jkt":"k1"}}}}`, func(c *authority.Claims) bool {
			return c.Actor.Confirmation.JKT == "k2" && c.Actor.Actor.Confirmation.JKT == "k1"
		}, nil},
		{"not an object", `[]`, nil, errAny},
		{"trailing data", `{} {}`, nil, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c authority.Claims
			err := c.UnmarshalJSON([]byte(tt.in))
			switch {
			case tt.err == nil && err != nil:
				t.Fatalf("error %v", err)
			case tt.err == nil && !tt.check(&c):
				t.Fatalf("unexpected claims %+v", c)
			case tt.err == errAny && err == nil, tt.err != nil && tt.err != errAny && !errors.Is(err, tt.err):
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestChainAndProvenance(t *testing.T) {
	c := sampleClaims(t)
	if diff := cmp.Diff(authority.Chain{"planner", "executor"}, c.Chain()); diff != "" {
		t.Fatalf("Chain (-want +got):\n%s", diff)
	}
	if got, want := c.Provenance(), "user:alice → agent:planner → agent:executor"; got != want {
		t.Errorf("Provenance = %q, want %q", got, want)
	}
	if got, want := c.Chain().String(), "agent:planner → agent:executor"; got != want {
		t.Errorf("Chain.String = %q, want %q", got, want)
	}
	if got, want := c.Principal(), "alice|planner|executor"; got != want {
		t.Errorf("Principal = %q, want %q", got, want)
	}
	if !c.Chain().Contains("planner") || c.Chain().Contains("alice") {
		t.Error("Chain.Contains")
	}
	if !c.HasScope("expenses:read") || c.HasScope("expenses") {
		t.Error("HasScope")
	}
	noAct := &authority.Claims{Subject: "bob"}
	if noAct.Provenance() != "user:bob" || noAct.Principal() != "bob" || len(noAct.Chain()) != 0 {
		t.Errorf("no act: %q %q %v", noAct.Provenance(), noAct.Principal(), noAct.Chain())
	}
	// "|" in a subject cannot make two principals collide.
	a := &authority.Claims{Subject: "a|b"}
	b := &authority.Claims{Subject: "a", Actor: authority.NewActor("b")}
	if a.Principal() == b.Principal() {
		t.Errorf("principals collide: %q", a.Principal())
	}
}

func FuzzClaimsJSON(f *testing.F) {
	seed, _ := json.Marshal(sampleClaims(f))
	for _, s := range []string{string(seed), `{}`, `{"aud":["a","b"],"exp":1.5}`, `{"act":{"sub":"x","act":{"sub":"y"}}}`,
		`{"authorization_details":[{"type":"legant_delegation","actions":[],"max_calls":0}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c1 authority.Claims
		if err := json.Unmarshal(data, &c1); err != nil {
			return
		}
		out, err := json.Marshal(&c1)
		if err != nil {
			t.Fatalf("decoded claims do not encode: %v", err)
		}
		var c2 authority.Claims
		if err := json.Unmarshal(out, &c2); err != nil {
			t.Fatalf("re-decoding %s: %v", out, err)
		}
		if diff := cmp.Diff(c1, c2); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

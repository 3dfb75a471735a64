package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/keydir"
)

const (
	testIssuer   = "https://gw.example"
	testAudience = "https://gw.example/mcp/expenses"
)

// policyFixture is a key directory, a registry and a way to mint tokens.
type policyFixture struct {
	keys, registry string
	key            *authority.Key
}

func newPolicyFixture(t *testing.T) *policyFixture {
	t.Helper()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if _, err := keydir.Init(keys, keydir.Ed25519, nil); err != nil {
		t.Fatal(err)
	}
	ks, err := keydir.Load(keys)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ks.Signer()
	if err != nil {
		t.Fatal(err)
	}
	registry := filepath.Join(dir, "legant.yaml")
	const yaml = `version: 1
upstreams:
  - slug: expenses
    url: http://127.0.0.1:9000/mcp
    inbound_audience: ` + testAudience + `
    tools:
      list_expenses:
        scope: expenses:read
      submit_expense:
        scope: expenses:write
        amount: {pointer: /amount, currency: USD}
        category: /category
        mutating: true
        approval: {from: [bob, carol]}
`
	if err := os.WriteFile(registry, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return &policyFixture{keys: keys, registry: registry, key: key}
}

// token mints a token for alice via agent:planner, allowed travel and meal
// expenses up to 500 USD, changed by mod.
func (f *policyFixture) token(t *testing.T, jti string, mod func(*authority.Claims)) string {
	t.Helper()
	now := time.Now()
	c := &authority.Claims{
		Issuer: testIssuer, Subject: "alice", Audience: []string{testAudience},
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), ID: jti, DelegationID: "del-" + jti,
		Scopes:      []string{"expenses:write"},
		Actor:       authority.NewActor("planner"),
		Constraints: authority.Unrestricted(),
	}
	c.Constraints.Tools = authority.Only("submit_expense")
	c.Constraints.Categories = authority.Only("travel", "meal")
	c.Constraints.MaxAmount = &authority.Money{Value: authority.MustDecimal("500"), Currency: "USD"}
	if mod != nil {
		mod(c)
	}
	tok, err := authority.Sign(f.key, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func execLegant(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestExplain(t *testing.T) {
	f := newPolicyFixture(t)
	tok := f.token(t, "t1", nil)
	base := []string{"explain", "--keys", f.keys, "--issuer", testIssuer, "--registry", f.registry, "--upstream", "expenses", "--token", tok}
	for _, tc := range []struct {
		name   string
		args   []string
		denied bool
		want   []string
	}{
		{name: "allowed", args: []string{"--tool", "submit_expense", "--args", `{"amount":120,"category":"Travel"}`},
			want: []string{"decision:", "allow", "amount:", "120 USD", "category:", "travel", "user:alice", "agent:planner", "jti=t1",
				"the gateway also holds this call until a second person approves it (one of bob, carol; never alice or an agent of the chain)"}},
		{name: "over max", args: []string{"--tool", "submit_expense", "--args", `{"amount":700,"category":"travel"}`}, denied: true,
			want: []string{"deny", "max_amount", "denied: amount 700 exceeds max_amount 500",
				`{"code":-32030,"message":"denied: amount 700 exceeds max_amount 500","data":{"reason":"max_amount","limit":"500","value":"700"}}`}},
		{name: "string amount", args: []string{"--tool", "submit_expense", "--args", `{"amount":"700","category":"travel"}`}, denied: true,
			want: []string{"invalid_argument", "argument /amount: string where a number is expected"}},
		{name: "unregistered tool", args: []string{"--tool", "wire_money", "--args", `{}`}, denied: true,
			want: []string{"tool_not_bound"}},
		{name: "missing scope", args: []string{"--tool", "list_expenses"}, denied: true,
			want: []string{"insufficient_scope", "expenses:read"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := execLegant(t, append(append([]string{}, base...), tc.args...)...)
			if tc.denied != errors.Is(err, errDenied) || (!tc.denied && err != nil) {
				t.Fatalf("err = %v, denied want %v\n%s", err, tc.denied, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestExplainToken(t *testing.T) {
	f := newPolicyFixture(t)
	other := newPolicyFixture(t)
	common := []string{"explain", "--keys", f.keys, "--issuer", testIssuer, "--registry", f.registry, "--upstream", "expenses",
		"--tool", "submit_expense", "--args", `{"amount":1,"category":"meal"}`}
	for _, tc := range []struct {
		name, token string
		extra       []string
		want        string
	}{
		{name: "foreign key", token: other.token(t, "x", nil), want: "unauthenticated"},
		{name: "wrong audience", token: f.token(t, "y", func(c *authority.Claims) { c.Audience = []string{"https://gw.example/mcp/other"} }), want: "unauthenticated"},
		{name: "expired at --at", token: f.token(t, "z", nil), extra: []string{"--at", time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)}, want: "unauthenticated"},
		{name: "wrong issuer", token: f.token(t, "w", func(c *authority.Claims) { c.Issuer = "https://evil.example" }), want: "unauthenticated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := execLegant(t, append(append(append([]string{}, common...), "--token", tc.token), tc.extra...)...)
			if !errors.Is(err, errDenied) || !strings.Contains(out, tc.want) {
				t.Fatalf("err = %v, want denial %q:\n%s", err, tc.want, out)
			}
		})
	}
	// The token can come from standard input.
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetIn(strings.NewReader(f.token(t, "stdin", nil) + "\n"))
	root.SetArgs(append(append([]string{}, common...), "--token", "-"))
	if err := root.Execute(); err != nil {
		t.Fatalf("token on stdin: %v\n%s", err, out.String())
	}
	// The issuer defaults to the public URL (the co-resident issuer).
	if out, err := execLegant(t, "explain", "--keys", f.keys, "--public-url", testIssuer, "--registry", f.registry,
		"--upstream", "expenses", "--tool", "submit_expense", "--args", `{"amount":1,"category":"meal"}`,
		"--token", f.token(t, "pub", nil)); err != nil {
		t.Errorf("issuer from --public-url: %v\n%s", err, out)
	}
	// Usage errors are errors, not denials.
	if _, err := execLegant(t, "explain", "--keys", f.keys, "--issuer", testIssuer, "--registry", f.registry,
		"--upstream", "nope", "--tool", "x", "--token", "t"); err == nil || errors.Is(err, errDenied) {
		t.Errorf("unknown upstream: err = %v", err)
	}
}

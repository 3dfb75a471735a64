package main

import (
	"strings"
	"testing"
	"time"
)

func mintRoot(t *testing.T, keys string) string {
	t.Helper()
	out, err := runCmd(t, "", mintArgs(keys, "--tool", "submit_expense", "--tool", "list_expenses", "--category", "travel",
		"--max-amount", "500", "--currency", "USD", "--max-calls", "10", "--window", "mon-fri 09:00-17:00 Europe/Paris")...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAttenuateCommand(t *testing.T) {
	keys := initKeys(t)
	parent := mintRoot(t, keys)
	out, err := runCmd(t, parent, "attenuate", "--keys", keys, "--parent", "-", "--agent", "executor",
		"--scope", "expenses:write", "--tool", "submit_expense", "--max-amount", "200", "--ttl", "10m")
	if err != nil {
		t.Fatal(err)
	}
	c := verifyOut(t, keys, out)
	p := verifyOut(t, keys, parent)
	if got := c.Provenance(); got != "user:alice → agent:planner → agent:executor" {
		t.Errorf("Provenance = %q", got)
	}
	if c.ParentID != p.DelegationID || !c.HasScope("expenses:write") || c.HasScope("expenses:read") {
		t.Errorf("child %+v", c)
	}
	if c.Constraints.MaxAmount.String() != "200 USD" || !c.Constraints.Tools.Equal(p.Constraints.Tools.Intersect(c.Constraints.Tools)) ||
		len(c.Constraints.Tools.Items()) != 1 || *c.Constraints.MaxCalls != 10 || c.Constraints.Window == nil {
		t.Errorf("child constraints %+v", c.Constraints)
	}
	if c.ExpiresAt.Sub(c.IssuedAt) != 10*time.Minute {
		t.Errorf("child lifetime %v", c.ExpiresAt.Sub(c.IssuedAt))
	}
	// The token may also be given inline.
	if _, err := runCmd(t, "", "attenuate", "--keys", keys, "--parent", strings.TrimSpace(parent), "--agent", "executor"); err != nil {
		t.Fatal(err)
	}
}

func TestAttenuateRefusesWidening(t *testing.T) {
	keys := initKeys(t)
	parent := mintRoot(t, keys)
	tests := []struct {
		name    string
		args    []string
		mention string
	}{
		{"scope", []string{"--scope", "payroll:write"}, `scope "payroll:write" is not granted`},
		{"audience", []string{"--aud", "https://gw.example/mcp/payroll"}, "audience"},
		{"tool", []string{"--tool", "delete_expense"}, "tools"},
		{"amount", []string{"--max-amount", "1000"}, "max_amount 1000 exceeds the parent's 500 USD"},
		{"currency", []string{"--max-amount", "100", "--currency", "EUR"}, "EUR"},
		{"calls", []string{"--max-calls", "11"}, "max_calls 11"},
		{"window zone", []string{"--window", "mon-fri 09:00-17:00 UTC"}, "window"},
		{"wider window", []string{"--window", "mon-sun 09:00-17:00 Europe/Paris"}, "window"},
		{"cycle", []string{}, "cycle"},
		{"user", []string{}, "user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agent := "executor"
			switch tt.name {
			case "cycle":
				agent = "planner"
			case "user":
				agent = "alice"
			}
			args := append([]string{"attenuate", "--keys", keys, "--parent", "-", "--agent", agent}, tt.args...)
			out, err := runCmd(t, parent, args...)
			if err == nil {
				t.Fatalf("attenuate succeeded: %s", out)
			}
			if !strings.Contains(err.Error(), tt.mention) || !strings.HasPrefix(err.Error(), "refusing to attenuate") {
				t.Fatalf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

func TestAttenuateBadParent(t *testing.T) {
	keys := initKeys(t)
	parent := strings.TrimSpace(mintRoot(t, keys))
	other := initKeys(t)
	tests := []struct {
		name, keys, parent string
		extra              []string
		mention            string
	}{
		{"tampered", keys, flipSignature(parent), nil, "signature"},
		{"other issuer's keys", other, parent, nil, "unknown signing key"},
		{"issuer mismatch", keys, parent, []string{"--issuer", "https://other.example"}, "issuer"},
		{"empty", keys, "", nil, "--parent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"attenuate", "--keys", tt.keys, "--parent", "-", "--agent", "executor"}, tt.extra...)
			if _, err := runCmd(t, tt.parent, args...); err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.mention)
			}
		})
	}
}

// flipSignature changes one character in the middle of a token's signature,
// which always changes the signature bytes (unlike its last characters,
// whose low bits base64url may ignore).
func flipSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 10
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

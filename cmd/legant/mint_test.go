package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/keydir"
)

const (
	mintIssuer = "https://issuer.example"
	mintAud    = "https://gw.example/mcp/expenses"
)

func mintArgs(keys string, extra ...string) []string {
	return append([]string{"mint", "--keys", keys, "--issuer", mintIssuer, "--user", "alice", "--agent", "planner",
		"--aud", mintAud, "--scope", "expenses:read", "--scope", "expenses:write"}, extra...)
}

// verifyOut verifies a printed token with the key directory.
func verifyOut(t *testing.T, keys, out string) *authority.Claims {
	t.Helper()
	ks, err := keydir.Load(keys)
	if err != nil {
		t.Fatal(err)
	}
	c, err := authority.Verify(strings.TrimSpace(out), ks, authority.VerifyOptions{Issuer: mintIssuer, Audience: mintAud, RequireActor: true}, time.Now())
	if err != nil {
		t.Fatalf("minted token does not verify: %v\n%s", err, out)
	}
	return c
}

func TestMint(t *testing.T) {
	keys := initKeys(t)
	out, err := runCmd(t, "", mintArgs(keys, "--agent", "executor", "--tool", "submit_expense", "--resource", "HTTPS://Files.example/r",
		"--category", "Travel", "--max-amount", "500.50", "--currency", "usd", "--budget", "1000", "--max-calls", "0",
		"--window", "mon-fri 09:00-17:00 Europe/Paris", "--ttl", "30m")...)
	if err != nil {
		t.Fatal(err)
	}
	c := verifyOut(t, keys, out)
	if got := c.Provenance(); got != "user:alice → agent:planner → agent:executor" {
		t.Errorf("Provenance = %q", got)
	}
	if c.ParentID == "" || c.DelegationID == "" || c.ID == "" || c.ParentID == c.DelegationID {
		t.Errorf("ids: jti %q delegation %q parent %q", c.ID, c.DelegationID, c.ParentID)
	}
	if d := c.ExpiresAt.Sub(c.IssuedAt); d != 30*time.Minute {
		t.Errorf("lifetime %v", d)
	}
	detail, _ := json.Marshal(c.Constraints)
	const want = `{"type":"legant_delegation","actions":["submit_expense"],"locations":["https://files.example/r"],"categories":["travel"],` +
		`"max_amount":{"value":"500.5","currency":"USD"},"budget":{"value":"1000","currency":"USD"},"max_calls":0,` +
		`"window":{"tz":"Europe/Paris","segments":[{"day":"mon","start":"09:00","end":"17:00"},{"day":"tue","start":"09:00","end":"17:00"},` +
		`{"day":"wed","start":"09:00","end":"17:00"},{"day":"thu","start":"09:00","end":"17:00"},{"day":"fri","start":"09:00","end":"17:00"}]}}`
	if diff := cmp.Diff(want, string(detail)); diff != "" {
		t.Errorf("constraints (-want +got):\n%s", diff)
	}
}

func TestMintUnrestricted(t *testing.T) {
	keys := initKeys(t)
	out, err := runCmd(t, "", mintArgs(keys)...)
	if err != nil {
		t.Fatal(err)
	}
	c := verifyOut(t, keys, out)
	if diff := cmp.Diff(authority.Unrestricted(), c.Constraints); diff != "" {
		t.Errorf("constraints without flags (-want +got):\n%s", diff)
	}
}

func TestMintRefuses(t *testing.T) {
	keys := initKeys(t)
	base := []string{"mint", "--keys", keys, "--issuer", mintIssuer, "--user", "alice", "--aud", mintAud}
	tests := []struct {
		name    string
		args    []string
		mention string
	}{
		{"no agent", base, "--agent"},
		{"no issuer", []string{"mint", "--keys", keys, "--user", "alice", "--agent", "p", "--aud", mintAud}, "--issuer"},
		{"no aud", []string{"mint", "--keys", keys, "--issuer", mintIssuer, "--user", "alice", "--agent", "p"}, "--aud"},
		{"agent is the user", append(base, "--agent", "alice"), "alice"},
		{"cycle", append(base, "--agent", "p", "--agent", "q", "--agent", "p"), "cycle"},
		{"too deep", append(base, "--agent", "a", "--agent", "b", "--agent", "c", "--agent", "d", "--agent", "e", "--agent", "f"), "limit"},
		{"float amount", append(base, "--agent", "p", "--max-amount", "5e2"), "--max-amount"},
		{"negative amount", append(base, "--agent", "p", "--max-amount", "-1"), "negative"},
		{"currency alone", append(base, "--agent", "p", "--currency", "USD"), "--currency"},
		{"bad currency", append(base, "--agent", "p", "--max-amount", "1", "--currency", "dollars"), "ISO 4217"},
		{"bad window", append(base, "--agent", "p", "--window", "mon-fri 09:00-17:00"), "--window"},
		{"bad resource", append(base, "--agent", "p", "--resource", "https://x.example/#f"), "fragment"},
		{"zero ttl", append(base, "--agent", "p", "--ttl", "0s"), "--ttl"},
		{"no keys", []string{"mint", "--keys", t.TempDir(), "--issuer", mintIssuer, "--user", "alice", "--agent", "p", "--aud", mintAud}, "keys init"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCmd(t, "", tt.args...)
			if err == nil {
				t.Fatalf("mint succeeded: %s", out)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error %q does not mention %q", err, tt.mention)
			}
			if out != "" {
				t.Fatalf("output on failure: %q", out)
			}
		})
	}
}

// TestMintValidityWindow: --expires-at mints an already expired token at
// once, --not-before one that is valid only later; both are refused by
// verification until (or after) their time, and the flags are checked.
func TestMintValidityWindow(t *testing.T) {
	keys := initKeys(t)
	ks, err := keydir.Load(keys)
	if err != nil {
		t.Fatal(err)
	}
	opts := authority.VerifyOptions{Issuer: mintIssuer, Audience: mintAud, RequireActor: true}
	now := time.Now()

	expired := now.Add(-time.Minute).UTC().Truncate(time.Second)
	out, err := runCmd(t, "", mintArgs(keys, "--expires-at", expired.Format(time.RFC3339))...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authority.Verify(strings.TrimSpace(out), ks, opts, now); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("a token that expired a minute ago verifies now: %v", err)
	}

	nbf := now.Add(time.Hour).UTC().Truncate(time.Second)
	out, err = runCmd(t, "", mintArgs(keys, "--not-before", nbf.Format(time.RFC3339), "--ttl", "3h")...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authority.Verify(strings.TrimSpace(out), ks, opts, now); err == nil {
		t.Error("a token valid only in an hour verifies now")
	}
	c, err := authority.Verify(strings.TrimSpace(out), ks, opts, now.Add(2*time.Hour))
	if err != nil {
		t.Fatalf("the not-before token does not verify in two hours: %v", err)
	}
	if !c.NotBefore.Equal(nbf) {
		t.Errorf("nbf = %v, want %v", c.NotBefore, nbf)
	}

	for _, tt := range []struct {
		args    []string
		mention string
	}{
		{[]string{"--expires-at", "2030-01-01T00:00:00Z", "--ttl", "1h"}, "exclude each other"},
		{[]string{"--expires-at", "tomorrow"}, "--expires-at"},
		{[]string{"--not-before", "2030-01-01"}, "--not-before"},
		{[]string{"--not-before", "2030-01-02T00:00:00Z", "--expires-at", "2030-01-01T00:00:00Z"}, "after --not-before"},
		{[]string{"--ttl", "-1s"}, "--expires-at"},
	} {
		if out, err := runCmd(t, "", mintArgs(keys, tt.args...)...); err == nil || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("mint %v = %q, %v; want an error mentioning %q", tt.args, out, err, tt.mention)
		}
	}
}

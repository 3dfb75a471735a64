package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openlegant/legant/authority"
)

func TestWhoCan(t *testing.T) {
	f := newPolicyFixture(t)
	dir := t.TempDir()
	write := func(name, tok string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("alice-travel", f.token(t, "a1", nil))
	write("bob-small", f.token(t, "b1", func(c *authority.Claims) {
		c.Subject = "bob"
		c.Actor = authority.NewActor("planner", "executor")
		c.Constraints.MaxAmount.Value = authority.MustDecimal("100")
	}))
	write("carol-meals", f.token(t, "c1", func(c *authority.Claims) {
		c.Subject = "carol"
		c.Constraints.Categories = authority.Only("meal")
	}))
	write("forged", newPolicyFixture(t).token(t, "f1", nil))
	write(".hidden", "not a token")

	base := []string{"who-can", "--keys", f.keys, "--dir", dir, "--tool", "submit_expense", "--amount", "300", "--currency", "USD", "--category", "Travel"}
	out, err := execLegant(t, base...)
	if err != nil {
		t.Fatalf("who-can: %v\n%s", err, out)
	}
	if !strings.Contains(out, "ALLOW") || !strings.Contains(out, "alice-travel") || !strings.Contains(out, "user:alice") {
		t.Errorf("alice's token should be listed with provenance:\n%s", out)
	}
	for _, name := range []string{"bob-small", "carol-meals", "forged", ".hidden"} {
		if strings.Contains(out, name) {
			t.Errorf("%s listed without --all:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "1 of 4 tokens allowed") {
		t.Errorf("summary missing:\n%s", out)
	}

	out, err = execLegant(t, append(base, "--all")...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DENY max_amount", "bob-small", "agent:executor", "DENY category", "carol-meals", "DENY unauthenticated", "forged"} {
		if !strings.Contains(out, want) {
			t.Errorf("--all output lacks %q:\n%s", want, out)
		}
	}

	// With the registry the real binding applies: a fixed USD currency and the scope.
	out, err = execLegant(t, "who-can", "--keys", f.keys, "--dir", dir, "--registry", f.registry, "--upstream", "expenses",
		"--tool", "submit_expense", "--amount", "50", "--category", "meal", "--all")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "3 of 4 tokens allowed") {
		t.Errorf("registry binding:\n%s", out)
	}
	if _, err := execLegant(t, "who-can", "--keys", f.keys, "--dir", dir, "--registry", f.registry, "--upstream", "expenses",
		"--tool", "submit_expense", "--resource", "/x"); err == nil {
		t.Error("a resource the tool does not bind should be a usage error")
	}
}

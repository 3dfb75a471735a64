package main

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/spf13/cobra"
)

// TestIssuerFlags: every command that takes --issuer registers it through
// registerIssuer, with the default and help of its meaning: the gateway and
// the demo default to their public URL, store commands to "legant".
func TestIssuerFlags(t *testing.T) {
	want := map[string]issuerUse{
		"legant gateway":        issuerFlagGateway,
		"legant demo":           issuerFlagDemo,
		"legant explain":        issuerFlagExplain,
		"legant who-can":        issuerFlagWhoCan,
		"legant show":           issuerFlagShow,
		"legant attenuate":      issuerFlagAttenuate,
		"legant mint":           issuerFlagMint,
		"legant migrate up":     issuerFlagAnchor,
		"legant revoke":         issuerFlagAnchor,
		"legant audit verify":   issuerFlagAnchor,
		"legant sessions":       {}, // the admin API, not the store
		"legant kill":           {},
		"legant users add":      issuerFlagAnchor,
		"legant keys init":      {}, // no --issuer
		"legant lint":           {},
		"legant snippet":        {},
		"legant version":        {},
		"legant audit tail":     issuerFlagAnchor,
		"legant migrate status": issuerFlagAnchor,
	}
	seen := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		u, ok := want[c.CommandPath()]
		if !ok {
			return
		}
		seen[c.CommandPath()] = true
		f := c.Flag("issuer") // own or inherited from a parent command
		if u == (issuerUse{}) {
			if f != nil {
				t.Errorf("%s has --issuer", c.CommandPath())
			}
			return
		}
		if f == nil {
			t.Errorf("%s has no --issuer", c.CommandPath())
			return
		}
		if f.DefValue != u.def || f.Value.String() != u.def || f.Usage != u.usage {
			t.Errorf("%s --issuer: default %q (value %q), usage %q; want %q, %q", c.CommandPath(), f.DefValue, f.Value, f.Usage, u.def, u.usage)
		}
	}
	walk(newRootCmd())
	for path := range want {
		if !seen[path] {
			t.Errorf("no command %q", path)
		}
	}
	if issuerFlagGateway.def != "" || issuerFlagDemo.def != "" || issuerFlagExplain.def != "" {
		t.Error("commands that derive the issuer from the public URL must default to empty")
	}
}

func TestIssuerOr(t *testing.T) {
	for _, tc := range [][3]string{
		{"https://iss.example", "http://127.0.0.1:8080", "https://iss.example"},
		{"", "http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"", "", ""},
	} {
		if got := issuerOr(tc[0], tc[1]); got != tc[2] {
			t.Errorf("issuerOr(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}

func TestReadToken(t *testing.T) {
	stdin := strings.NewReader("  eyJ.from.stdin \n")
	if tok, err := readToken(" eyJ.arg\n", stdin); err != nil || tok != "eyJ.arg" {
		t.Fatalf("argument: %q, %v", tok, err)
	}
	if stdin.Len() == 0 {
		t.Fatal("a token argument read standard input")
	}
	if tok, err := readToken("-", stdin); err != nil || tok != "eyJ.from.stdin" {
		t.Fatalf("stdin: %q, %v", tok, err)
	}
	// At most 1 MiB is read: a runaway pipe cannot exhaust memory.
	big := strings.NewReader(strings.Repeat("a", 2<<20))
	if tok, err := readToken("-", big); err != nil || len(tok) != 1<<20 {
		t.Fatalf("oversized stdin: %d bytes, %v", len(tok), err)
	}
	boom := errors.New("boom")
	if _, err := readToken("-", iotest.ErrReader(boom)); !errors.Is(err, boom) || !strings.Contains(err.Error(), "stdin") {
		t.Fatalf("failing stdin: %v", err)
	}
}

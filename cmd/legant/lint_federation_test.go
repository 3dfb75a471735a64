package main

import (
	"os"
	"strings"
	"testing"
)

const federationRegistry = "../../examples/federation/legant.yaml"

// TestLintFederationExample: the virtual-server example passes lint, and
// the same file with two members' prefixes colliding is refused with the
// position of the second prefix.
func TestLintFederationExample(t *testing.T) {
	out, err := runLegant(t, "lint", "-f", federationRegistry)
	if err != nil || !strings.Contains(out, "ok: 1 upstream(s), 4 tool(s)") {
		t.Fatalf("lint: %v\n%s", err, out)
	}
	data, err := os.ReadFile(federationRegistry)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(data), `prefix: "travel."`, `prefix: "team__x"`, 1)
	if bad == string(data) {
		t.Fatal("the example no longer sets the travel prefix")
	}
	path := writeTemp(t, "legant.yaml", bad)
	out, err = runLegant(t, "lint", "-f", path)
	want := path + `:20:17: upstreams[0].members[1].prefix: prefix "team__x" of member "travel" collides with prefix "team__" of member "team" (line 13)`
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("lint of colliding prefixes: %v\n%s\nwant a line with %s", err, out, want)
	}
}

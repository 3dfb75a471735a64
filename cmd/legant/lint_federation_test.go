package main

import (
	"fmt"
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
	lineOf := func(sub string) int {
		for i, l := range strings.Split(bad, "\n") {
			if strings.Contains(l, sub) {
				return i + 1
			}
		}
		t.Fatalf("no line with %q", sub)
		return 0
	}
	col := strings.Index(strings.Split(bad, "\n")[lineOf(`prefix: "team__x"`)-1], `"team__x"`) + 1
	want := fmt.Sprintf(`%s:%d:%d: upstreams[0].members[1].prefix: prefix "team__x" of member "travel" collides with prefix "team__" of member "team" (line %d)`,
		path, lineOf(`prefix: "team__x"`), col, lineOf("- name: team"))
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("lint of colliding prefixes: %v\n%s\nwant a line with %s", err, out, want)
	}
}

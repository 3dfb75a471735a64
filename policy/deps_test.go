package policy

import (
	"os/exec"
	"strings"
	"testing"
)

// allowedDeps are the only non-standard packages policy (not its tests) may
// depend on: our authority package and what authority itself allows.
var allowedDeps = []string{
	"github.com/openlegant/legant/policy",
	"github.com/openlegant/legant/authority",
	"github.com/golang-jwt/jwt/v5",
	"golang.org/x/text",
}

// TestDependencies keeps policy light: no database driver, no cobra, none of
// our server packages (gateway, issuer, upstreams).
func TestDependencies(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go command not found:", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".", "./ledgertest").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		ok := false
		for _, a := range allowedDeps {
			ok = ok || dep == a || strings.HasPrefix(dep, a+"/")
		}
		if !ok {
			t.Errorf("policy depends on %s; allowed: standard library, %s", dep, strings.Join(allowedDeps, ", "))
		}
	}
}

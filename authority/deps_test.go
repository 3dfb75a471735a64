package authority

import (
	"os/exec"
	"strings"
	"testing"
)

// allowedDeps are the only modules authority may depend on besides the
// standard library: the JWT library and, for NormalizeCategory, x/text.
var allowedDeps = []string{
	"github.com/golang-jwt/jwt/v5",
	"golang.org/x/text/",
	"github.com/openlegant/legant/authority",
}

// TestDependencies fails when authority or a package under it (revfeed,
// audit, dpop; not their tests) depends on anything
// outside the standard library and allowedDeps: no database driver, no
// cobra, none of our server packages.
func TestDependencies(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go command not found:", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if !allowed(dep) {
			t.Errorf("authority depends on %s; allowed: standard library, %s", dep, strings.Join(allowedDeps, ", "))
		}
	}
}

func allowed(dep string) bool {
	for _, a := range allowedDeps {
		if dep == a || strings.HasPrefix(dep, strings.TrimSuffix(a, "/")+"/") {
			return true
		}
	}
	return false
}

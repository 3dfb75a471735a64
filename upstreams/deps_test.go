package upstreams

import (
	"os/exec"
	"strings"
	"testing"
)

// forbiddenDeps are what the registry may not depend on: it is read by the
// gateway, the issuer and the command line, so it imports none of them.
var forbiddenDeps = []string{
	"github.com/openlegant/legant/gateway",
	"github.com/openlegant/legant/issuer",
	"github.com/openlegant/legant/cmd",
	"github.com/openlegant/legant/sdk",
	"github.com/spf13/cobra",
}

func TestDependencies(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go command not found:", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbiddenDeps {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("upstreams depends on %s (forbidden: %s)", dep, strings.Join(forbiddenDeps, ", "))
			}
		}
	}
}

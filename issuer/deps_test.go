package issuer

import (
	"os/exec"
	"strings"
	"testing"
)

// forbiddenDeps are what no package under issuer/ may depend on: the gateway
// sits beside the issuer, not below it (cmd/legant wires them), and the
// command line is above both.
var forbiddenDeps = []string{
	"github.com/openlegant/legant/gateway",
	"github.com/openlegant/legant/cmd",
	"github.com/openlegant/legant/sdk",
	"github.com/spf13/cobra",
}

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
		for _, f := range forbiddenDeps {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("a package under issuer/ depends on %s (forbidden: %s)", dep, strings.Join(forbiddenDeps, ", "))
			}
		}
	}
}

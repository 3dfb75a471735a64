package gateway

import (
	"os/exec"
	"strings"
	"testing"
)

// forbiddenDeps are what the gateway (and its bridges) must never depend on:
// the issuer is plugged in by cmd/legant through the small interfaces the
// gateway declares (Recorder, SessionStore, Revocations), never imported;
// the admin API sits above the gateway, not below it.
var forbiddenDeps = []string{
	"github.com/openlegant/legant/issuer",
	"github.com/openlegant/legant/cmd",
	"github.com/openlegant/legant/gateway/admin",
	"github.com/openlegant/legant/sdk",
	"github.com/jackc/pgx",
	"modernc.org/sqlite",
	"github.com/spf13/cobra",
}

// TestDependencies keeps the arrows pointing one way: cmd → gateway →
// policy → authority, and gateway → upstreams.
func TestDependencies(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go command not found:", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".", "./bridge").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbiddenDeps {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("the gateway depends on %s (forbidden: %s)", dep, strings.Join(forbiddenDeps, ", "))
			}
		}
	}
}

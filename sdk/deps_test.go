package sdk

import (
	"os/exec"
	"strings"
	"testing"
)

// Server packages no part of the SDK may depend on: nothing under issuer/
// (the formats it shares with the issuer live under authority/), no
// database driver, no cobra, not the gateway.
var serverDeps = []string{
	"github.com/jackc/pgx",
	"modernc.org/sqlite",
	"github.com/spf13/cobra",
	"github.com/openlegant/legant/gateway",
	"github.com/openlegant/legant/issuer",
	"github.com/openlegant/legant/cmd",
}

// coreDeps are the only non-standard packages the core sdk may depend on:
// what authority, policy and revfeed need.
var coreDeps = []string{
	"github.com/openlegant/legant/sdk",
	"github.com/openlegant/legant/authority",
	"github.com/openlegant/legant/policy",
	"github.com/openlegant/legant/authority/revfeed",
	"github.com/golang-jwt/jwt/v5",
	"golang.org/x/text",
}

func goListDeps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go command not found:", err)
	}
	args := append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}, pkgs...)
	out, err := exec.Command(gobin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

func under(dep string, prefixes []string) bool {
	for _, p := range prefixes {
		if dep == p || strings.HasPrefix(dep, p+"/") {
			return true
		}
	}
	return false
}

// TestDependencies keeps the SDK light: the core package depends only on
// authority, policy and revfeed (and what they allow); the guards may add
// their MCP library but never a database driver, cobra or our servers.
func TestDependencies(t *testing.T) {
	for _, dep := range goListDeps(t, ".") {
		if under(dep, serverDeps) || !under(dep, coreDeps) {
			t.Errorf("sdk depends on %s; allowed: standard library, %s", dep, strings.Join(coreDeps[1:], ", "))
		}
	}
	for _, dep := range goListDeps(t, "./...") {
		if under(dep, serverDeps) {
			t.Errorf("a package of sdk/... depends on %s, a server package", dep)
		}
	}
}

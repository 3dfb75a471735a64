package audit_test

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps the chain rules pure: the standard library and authority
// only (no driver, no server package), so any verifier can import them.
func TestImports(t *testing.T) {
	pkg, err := build.Import("github.com/openlegant/legant/authority/audit", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(imp, ".") && imp != "github.com/openlegant/legant/authority" {
			t.Errorf("audit imports %s; only the standard library and authority are allowed", imp)
		}
	}
}

package chartcheck

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
)

var update = flag.Bool("update", false, "rewrite deploy/kubernetes/legant.yaml from the chart")

const manifestsHeader = `# Generated from deploy/helm/legant with deploy/kubernetes/values.yaml
# (release "legant", namespace "legant") by ` + "`make deploy-manifests`" + `: do not edit.
# The migration Job (a Helm hook in the chart) is last: apply it and wait for
# it before the rest (docs/DEPLOY.md).
`

// TestKubernetesManifestsUpToDate: deploy/kubernetes/legant.yaml is what
// `helm template` makes of the chart with deploy/kubernetes/values.yaml.
func TestKubernetesManifestsUpToDate(t *testing.T) {
	vals, err := chartutil.ReadValuesFile(filepath.Join(ManifestsDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sources, err := Render(ChartDir, vals)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeAll(sources); err != nil {
		t.Fatal(err)
	}
	want := manifestsHeader + Template(sources)
	path := filepath.Join(ManifestsDir, "legant.yaml")
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(want, "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("%s is stale (run `make deploy-manifests`); first difference at line %d:\n have %q\n want %q", path, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s is stale (run `make deploy-manifests`): %d lines, want %d", path, len(gl), len(wl))
	}
}

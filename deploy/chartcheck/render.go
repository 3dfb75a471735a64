package chartcheck

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// Paths of what this module checks, relative to its own directory.
const (
	ChartDir      = "../helm/legant"
	ManifestsDir  = "../kubernetes"
	DashboardFile = "../grafana/legant.json"
)

// Release is the release name and namespace the checks render with.
const (
	ReleaseName      = "legant"
	ReleaseNamespace = "legant"
)

// Source is one rendered template file: its chart path and its YAML (one or
// more documents).
type Source struct {
	Name    string
	Content string
	Hook    bool // a Helm hook (the migration Job)
}

// Render renders the chart in dir with values merged over its values.yaml,
// the way `helm template` does: release ReleaseName in ReleaseNamespace,
// default capabilities, NOTES.txt left out, resources in Helm's install
// order followed by hooks.
func Render(dir string, values map[string]any) ([]Source, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	opts := chartutil.ReleaseOptions{Name: ReleaseName, Namespace: ReleaseNamespace, Revision: 1, IsInstall: true}
	vals, err := chartutil.ToRenderValues(ch, values, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("sort manifests: %w", err)
	}
	var out []Source
	for _, m := range manifests {
		out = append(out, Source{Name: m.Name, Content: m.Content})
	}
	for _, h := range hooks {
		out = append(out, Source{Name: h.Path, Content: h.Manifest, Hook: true})
	}
	return out, nil
}

// Template formats rendered sources as `helm template` prints them.
func Template(sources []Source) string {
	var b strings.Builder
	for _, s := range sources {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", s.Name, s.Content)
	}
	return b.String()
}

// Documents splits the sources into single YAML documents, named
// "<source>#<n>", in order.
func Documents(sources []Source) []Source {
	var docs []Source
	for _, s := range sources {
		split := releaseutil.SplitManifests(s.Content)
		keys := make([]string, 0, len(split))
		for k := range split {
			keys = append(keys, k)
		}
		sort.Sort(releaseutil.BySplitManifestsOrder(keys)) // "manifest-<n>" by n
		for i, k := range keys {
			if strings.TrimSpace(split[k]) == "" {
				continue
			}
			docs = append(docs, Source{Name: fmt.Sprintf("%s#%d", path.Clean(s.Name), i), Content: split[k], Hook: s.Hook})
		}
	}
	return docs
}

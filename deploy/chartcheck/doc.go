// Package chartcheck validates the Helm chart in deploy/helm/legant offline:
// no cluster, no registry, no schema download. Its tests render the chart
// with the Helm Go SDK for several values sets (as `helm template` does),
// run Helm's linter (as `helm lint` does), decode every rendered object
// strictly into its typed k8s.io/api struct (unknown fields refused), keep
// the plain manifests in deploy/kubernetes up to date, and check that the
// Grafana dashboard in deploy/grafana queries only metrics a real `legant
// gateway` exports.
//
// It is a Go module of its own so that Helm and the Kubernetes API types
// stay out of the product's go.mod. Run it with `make deploy-check`;
// regenerate deploy/kubernetes with `make deploy-manifests`.
//
//	manifests, err := chartcheck.Render(chartcheck.ChartDir, values)
package chartcheck

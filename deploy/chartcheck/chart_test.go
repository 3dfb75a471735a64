package chartcheck

import (
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// required are the values the chart cannot default.
const required = `
publicURL: https://gw.example.com
secrets: {existingSecret: legant-secrets}
keys: {existingSecret: legant-keys}
`

// valueSets are the configurations every test renders, with the kinds each
// must produce.
var valueSets = []struct {
	name   string
	values string
	kinds  []string
}{
	{"defaults", required, []string{
		"apps/v1 Deployment", "autoscaling/v2 HorizontalPodAutoscaler", "batch/v1 Job",
		"networking.k8s.io/v1 NetworkPolicy", "policy/v1 PodDisruptionBudget",
		"v1 ConfigMap", "v1 Service", "v1 Service", "v1 ServiceAccount",
	}},
	{"everything", required + `
serviceMonitor: {enabled: true, labels: {release: prometheus}}
metricsOnMain: true
extraArgs: ["--store-timeout=2s"]
podAnnotations: {example.com/team: platform}
imagePullSecrets: [{name: regcred}]
networkPolicy:
  gatewayFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress}}}]
  egress:
    - to: [{ipBlock: {cidr: 10.0.0.0/8}}]
      ports: [{port: 5432, protocol: TCP}]
registry:
  content: |
    version: 1
    upstreams:
      - slug: expenses
        transport: streamable-http
        url: http://expenses.tools.svc:8080/mcp
`, []string{
		"apps/v1 Deployment", "autoscaling/v2 HorizontalPodAutoscaler", "batch/v1 Job",
		"monitoring.coreos.com/v1 ServiceMonitor", "networking.k8s.io/v1 NetworkPolicy",
		"policy/v1 PodDisruptionBudget", "v1 ConfigMap", "v1 Service", "v1 Service", "v1 ServiceAccount",
	}},
	{"minimal", required + `
autoscaling: {enabled: false}
replicaCount: 3
migration: {enabled: false}
networkPolicy: {enabled: false}
podDisruptionBudget: {enabled: false}
serviceAccount: {create: false}
registry: {existingConfigMap: my-registry}
`, []string{"apps/v1 Deployment", "v1 Service", "v1 Service"}},
}

func parseValues(t *testing.T, y string) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValues([]byte(y))
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	return v
}

func renderObjects(t *testing.T, values string) []Object {
	t.Helper()
	sources, err := Render(ChartDir, parseValues(t, values))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := DecodeAll(sources)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestChartRendersStrictly(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			objs := renderObjects(t, vs.values)
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.Kind)
			}
			slices.Sort(kinds)
			if !slices.Equal(kinds, vs.kinds) {
				t.Errorf("kinds\n got %q\nwant %q", kinds, vs.kinds)
			}
		})
	}
}

func TestChartLints(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			linter := lint.All(ChartDir, parseValues(t, vs.values), ReleaseNamespace, false)
			for _, m := range linter.Messages {
				if m.Severity > support.InfoSev {
					t.Errorf("helm lint: %s", m)
				}
			}
		})
	}
}

// TestRenderRefusesMissingRequired: without the required values rendering
// fails and names the value. (helm lint renders in lint mode, where
// `required` only logs, so lint alone would not catch it.)
func TestRenderRefusesMissingRequired(t *testing.T) {
	for _, missing := range []string{"publicURL", "secrets.existingSecret", "keys.existingSecret"} {
		t.Run(missing, func(t *testing.T) {
			vals := parseValues(t, required)
			parts := strings.Split(missing, ".")
			if len(parts) == 1 {
				delete(vals, parts[0])
			} else {
				delete(vals[parts[0]].(map[string]any), parts[1])
			}
			if _, err := Render(ChartDir, vals); err == nil || !strings.Contains(err.Error(), missing+" is required") {
				t.Errorf("render without %s: err = %v", missing, err)
			}
		})
	}
	vals := parseValues(t, required+"networkPolicy: {adminFrom: []}\n")
	if _, err := Render(ChartDir, vals); err == nil || !strings.Contains(err.Error(), "adminFrom") {
		t.Errorf("render with an empty adminFrom: err = %v", err)
	}
}

// TestDecodeRefusesUnknownFields: the strict decode is what catches a
// misspelt field, which a cluster would silently drop.
func TestDecodeRefusesUnknownFields(t *testing.T) {
	for name, doc := range map[string]string{
		"deployment":     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers: [{name: a, readinesProbe: {}}]\n",
		"servicemonitor": "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec: {endpoints: [{port: admin, honorLabels: true}]}\n",
		"duplicate key":  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nmetadata: {name: y}\n",
		"unknown kind":   "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
	} {
		if _, err := Decode([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	if _, err := Decode([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80}]}\n")); err != nil {
		t.Errorf("a valid Service: %v", err)
	}
}

func find[T any](t *testing.T, objs []Object) []T {
	t.Helper()
	var out []T
	for _, o := range objs {
		if v, ok := o.Value.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// TestDeploymentWiring holds what docs/DEPLOY.md promises of the pods:
// probes on the admin port, secrets by reference, non-root, read-only root
// filesystem, resources.
func TestDeploymentWiring(t *testing.T) {
	objs := renderObjects(t, valueSets[1].values)
	deps := find[*appsv1.Deployment](t, objs)
	if len(deps) != 1 {
		t.Fatalf("%d Deployments", len(deps))
	}
	d := deps[0]
	if d.Spec.Replicas != nil {
		t.Errorf("replicas set while the HPA owns them: %d", *d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	gw := pod.Containers[0]
	for name, p := range map[string]*corev1.Probe{"liveness": gw.LivenessProbe, "readiness": gw.ReadinessProbe, "startup": gw.StartupProbe} {
		want := "/healthz"
		if name == "readiness" {
			want = "/readyz"
		}
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.String() != "admin" {
			t.Errorf("%s probe = %+v, want GET %s on port admin", name, p, want)
		}
	}
	if !slices.ContainsFunc(gw.Ports, func(p corev1.ContainerPort) bool { return p.Name == "admin" && p.ContainerPort == 8081 }) {
		t.Errorf("no admin port 8081: %+v", gw.Ports)
	}
	if !slices.Contains(gw.Args, "--admin-listen=0.0.0.0:8081") || !slices.Contains(gw.Args, "--public-url=https://gw.example.com") ||
		!slices.Contains(gw.Args, "--metrics-on-main") || !slices.Contains(gw.Args, "--store-timeout=2s") {
		t.Errorf("args = %q", gw.Args)
	}
	env := map[string]string{}
	for _, e := range gw.Env {
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("env %s is not a secret reference", e.Name)
			continue
		}
		env[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
	}
	if env["LEGANT_DATABASE_URL"] != "legant-secrets/database-url" || env["LEGANT_KEY_SECRET"] != "legant-secrets/key-secret" {
		t.Errorf("secret env = %v", env)
	}
	checkPodHardened(t, pod)
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds != 40 {
		t.Errorf("terminationGracePeriodSeconds = %v, want drain 30 s + 10", pod.TerminationGracePeriodSeconds)
	}

	jobs := find[*batchv1.Job](t, objs)
	if len(jobs) != 1 || !slices.Equal(jobs[0].Spec.Template.Spec.Containers[0].Args[:2], []string{"migrate", "up"}) ||
		!strings.Contains(jobs[0].Annotations["helm.sh/hook"], "pre-upgrade") {
		t.Fatalf("migration job: %+v", jobs)
	}
	checkPodHardened(t, jobs[0].Spec.Template.Spec)

	nps := find[*networkingv1.NetworkPolicy](t, objs)
	if len(nps) != 1 || len(nps[0].Spec.Ingress) != 2 || len(nps[0].Spec.Ingress[1].From) == 0 || len(nps[0].Spec.Egress) != 2 {
		t.Fatalf("network policy: %+v", nps)
	}
}

func checkPodHardened(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("pod security context %+v: want non-root", sc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("service account token mounted")
	}
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("container %s security context %+v", c.Name, sc)
		}
		if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("container %s without memory request and limit", c.Name)
		}
	}
}

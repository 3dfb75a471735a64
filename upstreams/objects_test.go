package upstreams

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/openlegant/legant/policy"
)

const objectsHead = "version: 1\nupstreams:\n  - slug: a\n    url: http://h/mcp\n" + tools

func TestParseObjects(t *testing.T) {
	yaml := objectsHead + `    resources:
      - uri: docs://public
        scope: docs:read
      - template: "docs://page/{id}"
        scope: docs:read
      - prefix: "file:///shared/"
        scope: files:read
        kind: path
    prompts:
      summarize:
        scope: docs:read
        category: /topic
        resource: {pointer: /path, kind: path}
    methods: [acme/search]
`
	reg, err := Parse("r.yaml", []byte(yaml), Options{PublicURL: "https://gw.example"})
	if err != nil {
		t.Fatal(err)
	}
	up, _ := reg.Lookup("a")
	if len(up.Resources) != 3 || up.Resources[0].URI != "docs://public" || up.Resources[1].Template.String() != "docs://page/{id}" ||
		up.Resources[2].Prefix != "file:///shared/" || up.Resources[2].Kind != policy.ResourcePath {
		t.Fatalf("resources = %+v", up.Resources)
	}
	p, ok := up.Prompt("summarize")
	if !ok || p.Scope != "docs:read" || p.Category.String() != "/topic" || p.Resource.Kind != policy.ResourcePath {
		t.Fatalf("prompt = %+v", p)
	}
	if !up.AllowsMethod("acme/search") || up.AllowsMethod("acme/other") {
		t.Fatal("methods")
	}
	if diff := cmp.Diff([]string{"docs:read", "files:read", "s"}, up.Scopes()); diff != "" {
		t.Errorf("Scopes (-want +got):\n%s", diff)
	}
}

func TestParseObjectErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"resources not a list", "    resources: {uri: x}\n", []string{
			"r.yaml:7:16: upstreams[0].resources: must be a list of resource grants (uri, template or prefix, with scope), got a mapping"}},
		{"two kinds of match", "    resources:\n      - {uri: a://b, prefix: a://, scope: s}\n", []string{
			"r.yaml:8:9: upstreams[0].resources[0]: set exactly one of uri, template and prefix"}},
		{"scope missing", "    resources:\n      - uri: a://b\n", []string{
			"r.yaml:8:9: upstreams[0].resources[0].scope: is required"}},
		{"bad template", "    resources:\n      - {template: \"a://{x\", scope: s}\n", []string{
			`r.yaml:8:20: upstreams[0].resources[0].template: policy: URI template "a://{x": unclosed '{'`}},
		{"template under uri", "    resources:\n      - {uri: \"a://{x}\", scope: s}\n", []string{
			`r.yaml:8:15: upstreams[0].resources[0].uri: "a://{x}" looks like a template: write it under template`}},
		{"bare prefix", "    resources:\n      - {prefix: /, scope: s}\n", []string{
			`r.yaml:8:18: upstreams[0].resources[0].prefix: "/" must be a URI beginning with a scheme and ':' (a bare prefix would grant every scheme)`}},
		{"bad kind", "    resources:\n      - {uri: a://b, scope: s, kind: file}\n", []string{
			`r.yaml:8:38: upstreams[0].resources[0].kind: "file" must be one of url, path, name`}},
		{"duplicate grant", "    resources:\n      - {uri: a://b, scope: s}\n      - {uri: a://b, scope: t}\n", []string{
			`r.yaml:9:15: upstreams[0].resources[1].uri: "a://b" is already granted by upstreams[0].resources[0]`}},
		{"prompt scope missing", "    prompts:\n      p: {category: /c}\n", []string{
			"r.yaml:8:7: upstreams[0].prompts.p.scope: is required"}},
		{"prompt unknown field", "    prompts:\n      p: {scope: s, amount: /a}\n", []string{
			`r.yaml:8:21: upstreams[0].prompts.p.amount: unknown field (known: category, pin, resource, scope)`}},
		{"prompt wildcard", "    prompts:\n      \"*\": {scope: s}\n", []string{
			`r.yaml:8:7: upstreams[0].prompts["*"]: wildcards are not allowed: list every prompt by name`}},
		{"governed method", "    methods: [tools/call]\n", []string{
			"r.yaml:7:15: upstreams[0].methods[0]: tools/call is an MCP method the gateway governs itself: list only custom methods"}},
		{"method with space", "    methods: [\"a b\"]\n", []string{
			`r.yaml:7:15: upstreams[0].methods[0]: "a b" is not a method name (1-128 printable characters without spaces)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("r.yaml", []byte(objectsHead+tt.yaml), Options{PublicURL: "https://gw.example"})
			var errs ValidationErrors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse error = %v, want ValidationErrors", err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

package upstreams

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, and that a registry it
// accepts holds its invariants.
func FuzzParse(f *testing.F) {
	if ex, err := os.ReadFile(filepath.Join("..", "examples", "upstreams", "legant.yaml")); err == nil {
		f.Add(ex)
	}
	f.Add([]byte(lintRegistry))
	f.Add([]byte(regV1))
	f.Add([]byte("version: 1\nupstreams:\n  - &u {slug: a, transport: stdio, command: [x], tools: {t: &t {scope: s}}}\n  - *u\n"))
	f.Add([]byte("version: 1\nupstreams: [{slug: a, url: 'http://h/', headers: {X: y}, tools: {t: {scope: s, resource: /r, tags: [a]}}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		reg, err := Parse("f.yaml", data, Options{PublicURL: "https://gw.example"})
		if err != nil {
			if reg != nil {
				t.Fatal("registry returned with an error")
			}
			_ = err.Error()
			return
		}
		for _, u := range reg.Upstreams() {
			if got, ok := reg.Lookup(u.Slug); !ok || got != u {
				t.Fatalf("Lookup(%q) does not find its upstream", u.Slug)
			}
			if u.InboundAudience == "" || u.DownstreamAudience == "" || len(u.Tools) == 0 {
				t.Fatalf("accepted upstream lacks audiences or tools: %+v", u)
			}
			if _, ok := u.Tools["*"]; ok {
				t.Fatal("a wildcard tool was accepted")
			}
			for name, b := range u.Tools {
				if b.Tool != name || b.Scope == "" {
					t.Fatalf("binding %q = %+v", name, b)
				}
			}
			_ = Lint(u, []ToolSchema{{Name: "t", InputSchema: json.RawMessage(`{"properties":{"a":{"$ref":"#"}}}`)}})
		}
	})
}

// FuzzLint checks that no tools/list answer makes ParseToolsList or Lint
// panic or loop.
func FuzzLint(f *testing.F) {
	f.Add([]byte(`{"tools":[{"name":"buy","inputSchema":{"properties":{"order":{"$ref":"#/$defs/m"}},"$defs":{"m":{"properties":{"total":{"type":"number"}}}}}}]}`))
	f.Add([]byte(`[{"name":"note","inputSchema":{"properties":{"meta":{"patternProperties":{"^k":{"type":"string"}}}}}}]`))
	f.Add([]byte(`[{"name":"buy","inputSchema":{"$ref":"#","anyOf":[{"$ref":"#"},{"items":[{"$ref":"#/anyOf"}]}]}}]`))
	reg, err := Parse("r.yaml", []byte(lintRegistry), Options{})
	if err != nil {
		f.Fatal(err)
	}
	up, _ := reg.Lookup("shop")
	f.Fuzz(func(t *testing.T, data []byte) {
		tools, err := ParseToolsList(data)
		if err != nil {
			return
		}
		for _, fd := range Lint(up, tools) {
			if fd.Severity != SeverityError && fd.Severity != SeverityWarning {
				t.Fatalf("finding with severity %q", fd.Severity)
			}
		}
	})
}

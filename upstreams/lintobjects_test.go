package upstreams

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestLintObjects(t *testing.T) {
	toolItem := `{"name":"pay","description":"Pay.","inputSchema":{"type":"object"}}`
	pin, _ := DefinitionDigest(PinTool, []byte(toolItem))
	reg, err := Parse("l.yaml", []byte(`version: 1
upstreams:
  - slug: up
    url: http://127.0.0.1:1/mcp
    tools:
      pay: {scope: s, pin: "`+pin+`"}
    resources:
      - {uri: "docs://a", scope: s}
      - {uri: "docs://unlisted", scope: s}
      - {template: "docs://page/{id}", scope: s}
      - {template: "docs://gone/{id}", scope: s}
    prompts:
      summarize: {scope: s, category: /topic}
      wrong_arg: {scope: s, category: /nope}
      missing: {scope: s}
`), Options{PublicURL: "http://gw.test"})
	if err != nil {
		t.Fatal(err)
	}
	up, _ := reg.Lookup("up")
	list := func(s string) []json.RawMessage {
		items, err := ParseList([]byte(s), strings.SplitN(s[2:], `"`, 2)[0])
		if err != nil {
			t.Fatal(err)
		}
		return items
	}
	prompts := list(`{"prompts":[{"name":"summarize","arguments":[{"name":"topic"}]},{"name":"wrong_arg","arguments":[{"name":"x"}]},{"name":"hidden"}]}`)
	resources := list(`{"resources":[{"uri":"docs://a","name":"a"},{"uri":"secret://x","name":"x"}]}`)
	templates := list(`{"resourceTemplates":[{"uriTemplate":"docs://page/{id}","name":"p"},{"uriTemplate":"secret://{id}","name":"s"}]}`)
	changed := list(`{"tools":[{"name":"pay","description":"Pay. And more.","inputSchema":{"type":"object"}}]}`)
	var got []string
	for _, f := range LintObjects(up, changed, prompts, resources, templates) {
		got = append(got, string(f.Severity)+" "+f.Field+" "+f.Msg)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"error upstreams[0].prompts.wrong_arg.category /nope names no argument",
		"error upstreams[0].prompts.missing the upstream does not list this prompt",
		"warning upstreams[0].prompts.hidden the upstream lists this prompt but the registry does not",
		`warning upstreams[0].resources the upstream lists resource "secret://x" but no grant covers it`,
		`warning upstreams[0].resources[1] the upstream does not list "docs://unlisted"`,
		`warning upstreams[0].resources the upstream lists template "secret://{id}" but no grant covers it`,
		`error upstreams[0].resources[3] the upstream does not list template "docs://gone/{id}"`,
		"error upstreams[0] tool pay: the listed definition (sha256:",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing finding %q in:\n%s", want, all)
		}
	}
	if len(got) != 8 {
		t.Errorf("%d findings, want 8:\n%s", len(got), all)
	}
	// The pinned definition itself: no pin finding.
	for _, f := range LintObjects(up, list(`{"tools":[`+toolItem+`]}`), nil, nil, nil) {
		t.Errorf("unexpected finding for the pinned definition: %v", f)
	}
}

package upstreams

import (
	"errors"
	"strings"
	"testing"
)

const virtualHead = "version: 1\nupstreams:\n  - slug: v\n    members:\n"

func TestMembersParse(t *testing.T) {
	y := virtualHead +
		"      - {name: pay, url: \"https://pay.example/mcp\"}\n" +
		"      - {name: docs, prefix: d_, transport: stdio, command: [docs-server]}\n" +
		"    tools:\n      pay__charge: {scope: pay}\n      d_search: {scope: read}\n" +
		"    prompts:\n      d_summary: {scope: read}\n"
	reg, err := Parse("r.yaml", []byte(y), Options{PublicURL: "https://gw.example"})
	if err != nil {
		t.Fatal(err)
	}
	up := reg.Upstreams()[0]
	if up.Transport != TransportVirtual || len(up.Members) != 2 {
		t.Fatalf("transport %q, %d members", up.Transport, len(up.Members))
	}
	pay, docs := up.Members[0], up.Members[1]
	if pay.Prefix != "pay__" || pay.Transport != TransportStreamableHTTP || pay.DownstreamAudience != "https://pay.example/mcp" || pay.Slug != "v.pay" {
		t.Errorf("pay member: %+v", *pay.Upstream)
	}
	if docs.Prefix != "d_" || docs.Transport != TransportStdio || docs.DownstreamAudience != "stdio:v.docs" {
		t.Errorf("docs member: %+v", *docs.Upstream)
	}
	if m, rest, ok := up.MemberOf("d_search"); !ok || m.Name != "docs" || rest != "search" {
		t.Errorf("MemberOf(d_search) = %v %q %v", m, rest, ok)
	}
	if up.InboundAudience != "https://gw.example/mcp/v" {
		t.Errorf("inbound audience %q", up.InboundAudience)
	}
}

// TestMembersEmptyPrefix: one member may have the empty prefix beside
// prefixed ones; it takes the names no other member's prefix starts.
func TestMembersEmptyPrefix(t *testing.T) {
	y := virtualHead +
		"      - {name: main, url: \"https://a.example/mcp\", prefix: \"\"}\n" +
		"      - {name: b, url: \"https://b.example/mcp\"}\n" +
		"    tools: {echo: {scope: s}, b__echo: {scope: s}}\n"
	reg, err := Parse("r.yaml", []byte(y), Options{})
	if err != nil {
		t.Fatal(err)
	}
	up := reg.Upstreams()[0]
	for _, tc := range []struct{ name, member, rest string }{
		{"echo", "main", "echo"}, {"b__echo", "b", "echo"}, {"b_echo", "main", "b_echo"}, {"", "main", ""},
	} {
		if m, rest, ok := up.MemberOf(tc.name); !ok || m.Name != tc.member || rest != tc.rest {
			t.Errorf("MemberOf(%q) = %v %q %v, want %s %q", tc.name, m, rest, ok, tc.member, tc.rest)
		}
	}
}

func TestMembersErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"colliding prefixes", virtualHead +
			"      - {name: a, url: \"https://a.example/mcp\", prefix: x_}\n" +
			"      - {name: b, url: \"https://b.example/mcp\", prefix: x_y}\n" +
			"    tools: {x_t: {scope: s}}\n",
			[]string{`r.yaml:6:57: upstreams[0].members[1].prefix: prefix "x_y" of member "b" collides with prefix "x_" of member "a" (line 5): a tool or prompt name could belong to both`}},
		{"two empty prefixes", virtualHead +
			"      - {name: a, url: \"https://a.example/mcp\", prefix: \"\"}\n" +
			"      - {name: b, url: \"https://b.example/mcp\", prefix: \"\"}\n" +
			"    tools: {t: {scope: s}}\n",
			[]string{`r.yaml:6:57: upstreams[0].members[1].prefix: prefix "" of member "b" collides with prefix "" of member "a" (line 5): a tool or prompt name could belong to both`}},
		{"duplicate name", virtualHead +
			"      - {name: a, url: \"https://a.example/mcp\"}\n" +
			"      - {name: a, url: \"https://b.example/mcp\"}\n" +
			"    tools: {a__t: {scope: s}}\n",
			[]string{`r.yaml:6:16: upstreams[0].members[1].name: member name "a" is already used by upstreams[0].members[0] (line 5)`}},
		{"tool without prefix", virtualHead +
			"      - {name: a, url: \"https://a.example/mcp\"}\n" +
			"    tools: {t: {scope: s}}\n",
			[]string{`r.yaml:6:13: upstreams[0].tools.t: tool "t" has no member's prefix (member prefixes: "a__")`}},
		{"url beside members", virtualHead +
			"      - {name: a, url: \"https://a.example/mcp\"}\n" +
			"    url: https://x.example/mcp\n    tools: {a__t: {scope: s}}\n",
			[]string{`r.yaml:6:10: upstreams[0].url: is not for an upstream with members: set it on the member`}},
		{"member without endpoint", virtualHead +
			"      - {name: a}\n" +
			"    tools: {a__t: {scope: s}}\n",
			[]string{`r.yaml:5:9: upstreams[0].members[0].url: is required for transport streamable-http`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("r.yaml", []byte(tt.yaml), Options{})
			var verrs ValidationErrors
			if !errors.As(err, &verrs) {
				t.Fatalf("err = %v, want validation errors", err)
			}
			var got []string
			for _, e := range verrs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

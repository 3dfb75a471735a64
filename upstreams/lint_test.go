package upstreams

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const lintRegistry = `version: 1
upstreams:
  - slug: shop
    url: http://h/mcp
    tools:
      buy:
        scope: shop:buy
        amount: {pointer: /order/total, currency_pointer: /order/currency}
        category: /category
        resource: {pointer: /items/0/sku, kind: name}
      refund:
        scope: shop:refund
        amount: /amount
      tip:
        scope: shop:tip
        amount: /tip
      note:
        scope: shop:note
        category: /meta/kind
      ghost:
        scope: shop:ghost
`

func lintUpstream(t *testing.T) *Upstream {
	t.Helper()
	reg, err := Parse("r.yaml", []byte(lintRegistry), Options{})
	if err != nil {
		t.Fatal(err)
	}
	up, _ := reg.Lookup("shop")
	return up
}

func TestLint(t *testing.T) {
	tools := []ToolSchema{
		{Name: "buy", InputSchema: json.RawMessage(`{
			"type": "object",
			"$defs": {"money": {"type": "object", "properties": {"total": {"type": "number"}, "currency": {"type": "string"}}}},
			"properties": {
				"order": {"$ref": "#/$defs/money"},
				"category": {"anyOf": [{"type": "string"}, {"type": "null"}]},
				"items": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}}
			}}`)},
		{Name: "refund", InputSchema: json.RawMessage(`{"type":"object","properties":{"amount":{"type":"string"}}}`)},
		{Name: "tip", InputSchema: json.RawMessage(`{"type":"object","properties":{"amount":{"type":"number"}}}`)},
		{Name: "note", InputSchema: json.RawMessage(`{"type":"object","properties":{"meta":{"type":"object","additionalProperties":{"type":"string"}}}}`)},
		{Name: "export", InputSchema: json.RawMessage(`{"type":"object"}`)},
	}
	want := []Finding{
		{Upstream: "shop", Tool: "ghost", Field: "upstreams[0].tools.ghost", Severity: SeverityError,
			Msg: "the upstream does not list this tool", Pos: Position{"r.yaml", 20, 7}},
		{Upstream: "shop", Tool: "note", Field: "upstreams[0].tools.note.category", Severity: SeverityWarning,
			Msg: "/meta/kind is not a declared property; only additionalProperties or patternProperties admit it", Pos: Position{"r.yaml", 19, 19}},
		{Upstream: "shop", Tool: "refund", Field: "upstreams[0].tools.refund.amount", Severity: SeverityError,
			Msg: "/amount has type string in the inputSchema; an amount must be a number or integer", Pos: Position{"r.yaml", 13, 17}},
		{Upstream: "shop", Tool: "tip", Field: "upstreams[0].tools.tip.amount", Severity: SeverityError,
			Msg: `/tip names no property of the tool's inputSchema: nothing declares "tip" at the top level (declared: amount)`, Pos: Position{"r.yaml", 16, 17}},
		{Upstream: "shop", Tool: "export", Field: "upstreams[0].tools.export", Severity: SeverityWarning,
			Msg: "the upstream lists this tool but the registry does not: it is invisible and uncallable through the gateway", Pos: Position{"r.yaml", 3, 5}},
	}
	if diff := cmp.Diff(want, Lint(lintUpstream(t), tools)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestLintSchemaShapes(t *testing.T) {
	const reg = "version: 1\nupstreams:\n  - slug: a\n    url: http://h/\n    tools:\n      t: {scope: s, amount: /a/b/1}\n"
	r, err := Parse("r.yaml", []byte(reg), Options{})
	if err != nil {
		t.Fatal(err)
	}
	up, _ := r.Lookup("a")
	tests := []struct {
		name, schema string
		want         string // the one finding's message, "" for none
	}{
		{"nested arrays", `{"properties":{"a":{"properties":{"b":{"type":"array","items":{"type":"integer"}}}}}}`, ""},
		{"tuple items", `{"properties":{"a":{"properties":{"b":{"prefixItems":[{"type":"string"},{"type":"number"}]}}}}}`, ""},
		{"allOf", `{"allOf":[{"properties":{"a":{"properties":{"b":{"items":{"type":["number","null"]}}}}}}]}`, ""},
		{"ref to the root", `{"properties":{"a":{"$ref":"#"},"b":{"items":{"type":"number"}}}}`, ""},
		{"no type", `{"properties":{"a":{"properties":{"b":{"items":{}}}}}}`, "warning: /a/b/1 declares no type; an amount must be a number or integer"},
		{"mixed types", `{"properties":{"a":{"properties":{"b":{"items":{"type":["number","string"]}}}}}}`, "/a/b/1 has type number|string in the inputSchema; an amount must be a number or integer"},
		{"not an array", `{"properties":{"a":{"properties":{"b":{"type":"string"}}}}}`, `/a/b/1 names no property of the tool's inputSchema: nothing declares "1" under /a/b (no properties are declared there)`},
		{"missing nested", `{"properties":{"a":{"properties":{"c":{}}}}}`, `/a/b/1 names no property of the tool's inputSchema: nothing declares "b" under /a (declared: c)`},
		{"no inputSchema", ``, "the upstream lists no inputSchema for this tool, so its bound arguments cannot exist"},
		{"invalid JSON", `{"properties":`, "the tool's inputSchema is not valid JSON: unexpected end of JSON input"},
		{"self-referencing $ref", `{"$ref":"#","allOf":[{"$ref":"#"}]}`, `/a/b/1 names no property of the tool's inputSchema: nothing declares "a" at the top level (no properties are declared there)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := Lint(up, []ToolSchema{{Name: "t", InputSchema: json.RawMessage(tt.schema)}})
			var got string
			switch len(fs) {
			case 0:
			case 1:
				got = fs[0].Msg
				if fs[0].Severity == SeverityWarning {
					got = "warning: " + got
				}
			default:
				t.Fatalf("findings = %v", fs)
			}
			if got != tt.want {
				t.Errorf("finding = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFindingString(t *testing.T) {
	f := Finding{Field: "upstreams[0].tools.t", Severity: SeverityWarning, Msg: "m", Pos: Position{"r.yaml", 3, 7}}
	if got, want := f.String(), "r.yaml:3:7: upstreams[0].tools.t: warning: m"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	f.Severity = SeverityError
	if got, want := f.String(), "r.yaml:3:7: upstreams[0].tools.t: m"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestParseToolsList(t *testing.T) {
	const tool = `{"name":"t","description":"d","inputSchema":{"type":"object"}}`
	tests := []struct {
		name, data string
		want       []string // tool names; nil with wantErr
		wantErr    bool
	}{
		{"response", `{"jsonrpc":"2.0","id":1,"result":{"tools":[` + tool + `]}}`, []string{"t"}, false},
		{"result", `{"tools":[` + tool + `]}`, []string{"t"}, false},
		{"array", `[` + tool + `]`, []string{"t"}, false},
		{"empty catalog", `{"tools":[]}`, nil, false},
		{"error response", `{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}`, nil, true},
		{"one page of several", `{"tools":[` + tool + `],"nextCursor":"2"}`, nil, true},
		{"no tools", `{"jsonrpc":"2.0","id":1,"result":{}}`, nil, true},
		{"nameless tool", `[{"inputSchema":{}}]`, nil, true},
		{"duplicate tool", `[` + tool + `,` + tool + `]`, nil, true},
		{"not JSON", `tools:`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseToolsList([]byte(tt.data))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			var names []string
			for _, ts := range got {
				names = append(names, ts.Name)
			}
			if !cmp.Equal(names, tt.want) {
				t.Errorf("tools = %v, want %v", names, tt.want)
			}
		})
	}
}

func TestArrayIndex(t *testing.T) {
	for tok, want := range map[string]bool{"0": true, "7": true, "12": true, "": false, "-0": false, "+1": false, "01": false, "-": false, "a": false} {
		if _, got := arrayIndex(tok); got != want {
			t.Errorf("arrayIndex(%q) = %v, want %v", tok, got, want)
		}
	}
}

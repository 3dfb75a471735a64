package upstreams

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// head is the start of a valid registry whose one upstream's fields follow
// at indentation 4, from line 4 on.
const head = "version: 1\nupstreams:\n  - slug: a\n"

// tools is a valid tools section for an upstream.
const tools = "    tools:\n      t: {scope: s}\n"

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		// The document.
		{"syntax: unclosed flow sequence", "version: 1\nupstreams: [a,\n\nb: c\n", []string{
			"r.yaml:2: invalid YAML: did not find expected ',' or ']'"}},
		{"syntax: bad indentation", "version: 1\nupstreams: []\n x: 1\n", []string{
			"r.yaml:3: invalid YAML: did not find expected key"}},
		{"syntax: mapping in a scalar", "version: 1\nupstreams: a: b\n", []string{
			"r.yaml:2: invalid YAML: mapping values are not allowed in this context"}},
		{"syntax: unterminated string", "version: 1\nupstreams: \"x\n", []string{
			"r.yaml:2: invalid YAML: found unexpected end of stream"}},
		{"syntax: tab indentation", "version: 1\nupstreams:\n\t- slug: a\n", []string{
			"r.yaml:3: invalid YAML: found character that cannot start any token"}},
		{"empty file", "", []string{"r.yaml:1:1: version: is required (the file is empty)"}},
		{"comments only", "# nothing\n", []string{"r.yaml:1:1: version: is required (the file is empty)"}},
		{"two documents", "version: 1\nupstreams: []\n---\nversion: 1\n", []string{
			"r.yaml:3:1: a registry file holds one YAML document; found a second"}},
		{"root is a list", "- a\n", []string{
			"r.yaml:1:1: must be a mapping with version and upstreams, got a list"}},
		{"version missing", "upstreams: []\n", []string{"r.yaml:1:1: version: is required (version: 1)"}},
		{"version 2", "version: 2\nupstreams: []\n", []string{
			"r.yaml:1:10: version: unsupported version 2: this legant reads version 1"}},
		{"version string", "version: \"1\"\nupstreams: []\n", []string{
			`r.yaml:1:10: version: must be an integer, got "1"`}},
		{"unknown top-level field", "version: 1\nupstream: []\n", []string{
			`r.yaml:2:1: upstream: unknown field (did you mean "upstreams"?)`}},
		{"unknown field far from any", "version: 1\nservers: []\n", []string{
			`r.yaml:2:1: servers: unknown field (known: upstreams, version)`}},
		{"upstreams not a list", "version: 1\nupstreams: {a: 1}\n", []string{
			"r.yaml:2:12: upstreams: must be a list of upstreams, got a mapping"}},
		{"upstream not a mapping", "version: 1\nupstreams: [expenses]\n", []string{
			`r.yaml:2:13: upstreams[0]: must be a mapping, got "expenses"`}},
		{"duplicate key", "version: 1\nversion: 1\nupstreams: []\n", []string{
			"r.yaml:2:1: version: duplicate key (first at line 1)"}},
		{"merge key", "version: 1\nupstreams:\n  - <<: {slug: a}\n", []string{
			"r.yaml:3:5: upstreams[0]: merge keys (<<) are not supported: write each field out",
			"r.yaml:3:5: upstreams[0].slug: is required",
			"r.yaml:3:5: upstreams[0].url: is required for transport streamable-http",
			"r.yaml:3:5: upstreams[0].tools: is required: list every tool by name (tools not listed are invisible and uncallable)"}},
		{"key not a string", "version: 1\n[a]: 1\nupstreams: []\n", []string{
			"r.yaml:2:1: keys must be strings, got a list"}},
		{"too many problems", "version: 1\nupstreams:\n" + strings.Repeat("  - x\n", maxErrors+2), append(manyErrors(maxErrors),
			"r.yaml: 2 more problems not shown")},
		{"alias bomb", aliasBomb(), []string{
			"r.yaml:1:1: document too complex: aliases expand to too many nodes"}},

		// Upstream fields.
		{"slug missing", "version: 1\nupstreams:\n  - url: http://h/mcp\n" + tools, []string{
			"r.yaml:3:5: upstreams[0].slug: is required"}},
		{"slug invalid", "version: 1\nupstreams:\n  - slug: Expenses\n    url: http://h/mcp\n" + tools, []string{
			`r.yaml:3:11: upstreams[0].slug: "Expenses" must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit`}},
		{"slug too long", "version: 1\nupstreams:\n  - slug: " + strings.Repeat("a", 64) + "\n    url: http://h/mcp\n" + tools, []string{
			`r.yaml:3:11: upstreams[0].slug: "` + strings.Repeat("a", 64) + `" must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit`}},
		{"slug duplicate", head + "    url: http://h/a\n" + tools + "  - slug: a\n    url: http://h/b\n" + tools, []string{
			`r.yaml:7:11: upstreams[1].slug: slug "a" is already used by upstreams[0] (line 3)`}},
		{"unknown upstream field", head + "    url: http://h/mcp\n    urls: x\n" + tools, []string{
			`r.yaml:5:5: upstreams[0].urls: unknown field (did you mean "url"?)`}},
		{"transport unknown", head + "    transport: grpc\n" + tools, []string{
			`r.yaml:4:16: upstreams[0].transport: "grpc" must be one of streamable-http, sse, stdio`}},
		{"url missing", head + tools, []string{
			"r.yaml:3:5: upstreams[0].url: is required for transport streamable-http"}},
		{"url missing for sse", head + "    transport: sse\n" + tools, []string{
			"r.yaml:3:5: upstreams[0].url: is required for transport sse"}},
		{"url not http", head + "    url: ftp://h/mcp\n" + tools, []string{
			`r.yaml:4:10: upstreams[0].url: "ftp://h/mcp" must be an absolute http or https URL`}},
		{"url relative", head + "    url: /mcp\n" + tools, []string{
			`r.yaml:4:10: upstreams[0].url: "/mcp" must be an absolute http or https URL`}},
		{"url without host", head + "    url: http:///mcp\n" + tools, []string{
			`r.yaml:4:10: upstreams[0].url: "http:///mcp" must name a host`}},
		{"url with userinfo", head + "    url: https://user:hunter2@h/mcp\n" + tools, []string{
			"r.yaml:4:10: upstreams[0].url: must not carry userinfo (credentials do not belong in the registry)"}},
		{"url with fragment", head + "    url: http://h/mcp#x\n" + tools, []string{
			`r.yaml:4:10: upstreams[0].url: "http://h/mcp#x" must not have a fragment`}},
		{"url unparsable", head + "    url: \"http://h:port/\"\n" + tools, []string{
			`r.yaml:4:10: upstreams[0].url: "http://h:port/" is not a URL: invalid port ":port" after host`}},
		{"url is a list", head + "    url: [a]\n" + tools, []string{
			"r.yaml:4:10: upstreams[0].url: must be a string, got a list"}},
		{"url null", head + "    url:\n" + tools, []string{
			"r.yaml:4:9: upstreams[0].url: must be a string, got null"}},
		{"command for http", head + "    url: http://h/mcp\n    command: [x]\n    env: {A: b}\n" + tools, []string{
			"r.yaml:5:14: upstreams[0].command: is only for transport stdio",
			"r.yaml:6:10: upstreams[0].env: is only for transport stdio"}},
		{"stdio without command", head + "    transport: stdio\n" + tools, []string{
			"r.yaml:3:5: upstreams[0].command: is required for transport stdio (the argv to run)"}},
		{"stdio with url and headers", head + "    transport: stdio\n    command: [x]\n    url: http://h/\n    headers: {X-A: b}\n" + tools, []string{
			"r.yaml:6:10: upstreams[0].url: is only for transport streamable-http and sse",
			"r.yaml:7:14: upstreams[0].headers: is only for transport streamable-http and sse"}},
		{"stdio empty command", head + "    transport: stdio\n    command: []\n" + tools, []string{
			"r.yaml:5:14: upstreams[0].command: must name the program to run"}},
		{"stdio empty argument", head + "    transport: stdio\n    command: [x, \"\"]\n" + tools, []string{
			"r.yaml:5:18: upstreams[0].command[1]: must not be empty"}},
		{"stdio command not a list", head + "    transport: stdio\n    command: ./server --flag\n" + tools, []string{
			`r.yaml:5:14: upstreams[0].command: must be a list of strings, got "./server --flag"`}},
		{"stdio bad env name", head + "    transport: stdio\n    command: [x]\n    env: {1A: b, \"A=B\": c}\n" + tools, []string{
			"r.yaml:6:11: upstreams[0].env.1A: environment variable names are letters, digits and '_', not starting with a digit",
			`r.yaml:6:18: upstreams[0].env["A=B"]: environment variable names are letters, digits and '_', not starting with a digit`}},
		{"inbound audience relative", head + "    url: http://h/mcp\n    inbound_audience: /mcp/a\n" + tools, []string{
			`r.yaml:5:23: upstreams[0].inbound_audience: "/mcp/a" must be an absolute http or https URL`}},
		{"inbound audience with query", head + "    url: http://h/mcp\n    inbound_audience: https://gw/mcp/a?x=1\n" + tools, []string{
			`r.yaml:5:23: upstreams[0].inbound_audience: "https://gw/mcp/a?x=1" must not have a query`}},
		{"inbound audience shared", head + "    url: http://h/a\n    inbound_audience: https://gw/x\n" + tools +
			"  - slug: b\n    url: http://h/b\n    inbound_audience: https://gw/x\n" + tools, []string{
			`r.yaml:10:23: upstreams[1].inbound_audience: inbound audience "https://gw/x" is already used by upstreams[0] (line 3): a token for one would open the other`}},
		{"inbound audience equal to another's default", head + "    url: http://h/a\n" + tools +
			"  - slug: b\n    url: http://h/b\n    inbound_audience: https://gw.example/mcp/a\n" + tools, []string{
			`r.yaml:9:23: upstreams[1].inbound_audience: inbound audience "https://gw.example/mcp/a" is already used by upstreams[0] (line 3): a token for one would open the other`}},
		{"inbound audience equal to another's once canonical", head + "    url: http://h/a\n" + tools +
			"  - slug: b\n    url: http://h/b\n    inbound_audience: HTTPS://GW.example:443/mcp/./a/\n" + tools, []string{
			`r.yaml:9:23: upstreams[1].inbound_audience: inbound audience "https://gw.example/mcp/a" is already used by upstreams[0] (line 3): a token for one would open the other`}},
		{"inbound audience with a bad host", head + "    url: http://h/mcp\n    inbound_audience: https://gw;x/mcp\n" + tools, []string{
			`r.yaml:5:23: upstreams[0].inbound_audience: "https://gw;x/mcp" is not a resource identifier: bad host`}},
		{"downstream audience not a URL", head + "    url: http://h/mcp\n    downstream_audience: urn:x\n" + tools, []string{
			`r.yaml:5:26: upstreams[0].downstream_audience: "urn:x" must be an absolute http or https URL`}},
		{"downstream audience of another stdio slug", head + "    transport: stdio\n    command: [x]\n    downstream_audience: stdio:b\n" + tools, []string{
			`r.yaml:6:26: upstreams[0].downstream_audience: "stdio:b" must be an absolute http or https URL, or "stdio:a"`}},
		{"downstream audience stdio form on http", head + "    url: http://h/mcp\n    downstream_audience: stdio:a\n" + tools, []string{
			`r.yaml:5:26: upstreams[0].downstream_audience: "stdio:a" must be an absolute http or https URL`}},

		// Timeouts.
		{"timeouts zero connect", head + "    url: http://h/mcp\n    timeouts: {connect: 0s, idle: -1m}\n" + tools, []string{
			"r.yaml:5:25: upstreams[0].timeouts.connect: must be positive (leave it out for the default 5s)",
			"r.yaml:5:35: upstreams[0].timeouts.idle: must be positive (leave it out for the default 30m0s)"}},
		{"timeouts zero request", head + "    url: http://h/mcp\n    timeouts: {request: 0s}\n" + tools, []string{
			"r.yaml:5:25: upstreams[0].timeouts.request: must be positive (leave it out for the default 30s)"}},
		{"timeouts negative call", head + "    url: http://h/mcp\n    timeouts: {call: -1s}\n" + tools, []string{
			"r.yaml:5:22: upstreams[0].timeouts.call: must not be negative (0 means no per-call limit)"}},
		{"timeouts without unit", head + "    url: http://h/mcp\n    timeouts: {idle: 5}\n" + tools, []string{
			`r.yaml:5:22: upstreams[0].timeouts.idle: must be a duration such as 5s, 30m or 1h30m, got "5"`}},
		{"timeouts unknown key", head + "    url: http://h/mcp\n    timeouts: {read: 5s}\n" + tools, []string{
			`r.yaml:5:16: upstreams[0].timeouts.read: unknown field (known: call, connect, idle, request)`}},
		{"timeouts not a mapping", head + "    url: http://h/mcp\n    timeouts: 5s\n" + tools, []string{
			`r.yaml:5:15: upstreams[0].timeouts: must be a mapping of connect, call, request and idle, got "5s"`}},

		// Headers.
		{"header authorization", head + "    url: http://h/mcp\n    headers: {authorization: Bearer x}\n" + tools, []string{
			"r.yaml:5:15: upstreams[0].headers.authorization: Authorization is refused in headers: a credential for the upstream goes in auth (kind static, value {env: NAME} or {file: PATH})"}},
		{"header cookie", head + "    url: http://h/mcp\n    headers: {Cookie: s=1}\n" + tools, []string{
			"r.yaml:5:15: upstreams[0].headers.Cookie: Cookie is refused in headers: a credential for the upstream goes in auth (kind static, value {env: NAME} or {file: PATH})"}},
		{"header set by the gateway", head + "    url: http://h/mcp\n    headers: {Mcp-Session-Id: x}\n" + tools, []string{
			"r.yaml:5:15: upstreams[0].headers.Mcp-Session-Id: Mcp-Session-Id is set by the gateway"}},
		{"header bad name", head + "    url: http://h/mcp\n    headers: {\"X A\": b}\n" + tools, []string{
			`r.yaml:5:15: upstreams[0].headers["X A"]: "X A" is not a valid header name`}},
		{"header bad value", head + "    url: http://h/mcp\n    headers: {X-A: \"b\\r\\nX-B: c\"}\n" + tools, []string{
			"r.yaml:5:20: upstreams[0].headers.X-A: header values must not contain control characters"}},
		{"header duplicate", head + "    url: http://h/mcp\n    headers: {X-A: b, x-a: c}\n" + tools, []string{
			`r.yaml:5:23: upstreams[0].headers.x-a: duplicate header (first as "X-A" at line 5)`}},

		// Tools.
		{"tools missing", head + "    url: http://h/mcp\n", []string{
			"r.yaml:3:5: upstreams[0].tools: is required: list every tool by name (tools not listed are invisible and uncallable)"}},
		{"tools empty", head + "    url: http://h/mcp\n    tools: {}\n", []string{
			"r.yaml:5:12: upstreams[0].tools: is empty: list every tool by name (tools not listed are invisible and uncallable)"}},
		{"tools a list", head + "    url: http://h/mcp\n    tools: [t]\n", []string{
			"r.yaml:5:12: upstreams[0].tools: must be a mapping of tool names to their settings, got a list"}},
		{"tool wildcard", head + "    url: http://h/mcp\n    tools:\n      \"*\": {scope: s}\n", []string{
			`r.yaml:6:7: upstreams[0].tools["*"]: wildcards are not allowed: list every tool by name (tools not listed are invisible and uncallable)`}},
		{"tool prefix wildcard", head + "    url: http://h/mcp\n    tools:\n      \"list_*\": {scope: s}\n", []string{
			`r.yaml:6:7: upstreams[0].tools["list_*"]: wildcards are not allowed: list every tool by name (tools not listed are invisible and uncallable)`}},
		{"tool bad name", head + "    url: http://h/mcp\n    tools:\n      \"send mail\": {scope: s}\n", []string{
			`r.yaml:6:7: upstreams[0].tools["send mail"]: tool names are 1-128 characters of A-Z, a-z, 0-9, '_', '-' and '.'`}},
		{"tool null", head + "    url: http://h/mcp\n    tools:\n      t:\n", []string{
			"r.yaml:6:9: upstreams[0].tools.t: must be a mapping with at least scope, got null"}},
		{"tool duplicate", head + "    url: http://h/mcp\n    tools:\n      t: {scope: s}\n      t: {scope: s}\n", []string{
			"r.yaml:7:7: upstreams[0].tools.t: duplicate key (first at line 6)"}},
		{"scope missing", head + "    url: http://h/mcp\n    tools:\n      t: {mutating: true}\n", []string{
			"r.yaml:6:7: upstreams[0].tools.t.scope: is required"}},
		{"scope with a space", head + "    url: http://h/mcp\n    tools:\n      t: {scope: \"a b\"}\n", []string{
			`r.yaml:6:18: upstreams[0].tools.t.scope: "a b" is not a scope (printable ASCII without spaces, '"' or '\')`}},
		{"unknown tool field", head + "    url: http://h/mcp\n    tools:\n      t: {scopes: s}\n", []string{
			"r.yaml:6:7: upstreams[0].tools.t.scope: is required",
			`r.yaml:6:11: upstreams[0].tools.t.scopes: unknown field (did you mean "scope"?)`}},
		{"amount pointer missing", head + "    url: http://h/mcp\n    tools:\n      t: {scope: s, amount: {currency: USD}}\n", []string{
			"r.yaml:6:29: upstreams[0].tools.t.amount.pointer: is required"}},
		{"amount bad pointer", head + "    url: http://h/mcp\n    tools:\n      t: {scope: s, amount: amount}\n", []string{
			`r.yaml:6:29: upstreams[0].tools.t.amount: invalid JSON pointer "amount": must start with '/'`}},
		{"amount bad escape", head + "    url: http://h/mcp\n    tools:\n      t: {scope: s, amount: {pointer: /a~2}}\n", []string{
			`r.yaml:6:39: upstreams[0].tools.t.amount.pointer: invalid JSON pointer "/a~2": bad escape in "a~2"`}},
		{"amount bad currency", head + "    url: http://h/mcp\n    tools:\n      t: {scope: s, amount: {pointer: /a, currency: usd}}\n", []string{
			`r.yaml:6:53: upstreams[0].tools.t.amount.currency: "usd" is not an ISO 4217 code (three capital letters, e.g. USD)`}},
		{"amount two currencies", head + "    url: http://h/mcp\n    tools:\n      t: {scope: s, amount: {pointer: /a, currency: USD, currency_pointer: /c}}\n", []string{
			"r.yaml:6:76: upstreams[0].tools.t.amount.currency_pointer: set currency or currency_pointer, not both"}},
		{"amount bad currency pointer", head + "    url: http://h/mcp\n    tools:\n      t: {scope: s, amount: {pointer: /a, currency_pointer: c}}\n", []string{
			`r.yaml:6:61: upstreams[0].tools.t.amount.currency_pointer: invalid JSON pointer "c": must start with '/'`}},
		{"category bad pointer", head + "    url: http://h/mcp\n    tools:\n      t: {scope: s, category: category}\n", []string{
			`r.yaml:6:31: upstreams[0].tools.t.category: invalid JSON pointer "category": must start with '/'`}},
		{"resource bad kind", head + "    url: http://h/mcp\n    tools:\n      t: {scope: s, resource: {pointer: /r, kind: file}}\n", []string{
			`r.yaml:6:51: upstreams[0].tools.t.resource.kind: "file" must be one of url, path, name`}},
		{"resource pointer missing", head + "    url: http://h/mcp\n    tools:\n      t: {scope: s, resource: {kind: url}}\n", []string{
			"r.yaml:6:31: upstreams[0].tools.t.resource.pointer: is required"}},
		{"mutating not a bool", head + "    url: http://h/mcp\n    tools:\n      t: {scope: s, mutating: yes}\n", []string{
			`r.yaml:6:31: upstreams[0].tools.t.mutating: must be true or false, got "yes"`}},
		{"tags", head + "    url: http://h/mcp\n    tools:\n      t: {scope: s, tags: [a, a, \" \", {b: c}]}\n", []string{
			`r.yaml:6:31: upstreams[0].tools.t.tags[1]: duplicate tag "a"`,
			"r.yaml:6:34: upstreams[0].tools.t.tags[2]: must not be empty",
			"r.yaml:6:39: upstreams[0].tools.t.tags[3]: must be a string, got a mapping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := Parse("r.yaml", []byte(tt.yaml), Options{PublicURL: "https://gw.example"})
			if reg != nil {
				t.Errorf("Parse returned a registry along with %v", err)
			}
			var errs ValidationErrors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse error = %v (%T), want ValidationErrors", err, err)
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

// aliasBomb is a small document whose aliases make the walk visit
// 200 upstreams × 200 tools × 200 tags.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("version: 1\nupstreams:\n  - &u\n    slug: a\n    url: http://h/\n    tools:\n")
	b.WriteString("      t0: &t {scope: s, tags: [x0")
	for i := 1; i < 200; i++ {
		fmt.Fprintf(&b, ", x%d", i)
	}
	b.WriteString("]}\n")
	for i := 1; i < 200; i++ {
		fmt.Fprintf(&b, "      t%d: *t\n", i)
	}
	b.WriteString(strings.Repeat("  - *u\n", 199))
	return b.String()
}

func manyErrors(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`r.yaml:%d:5: upstreams[%d]: must be a mapping, got "x"`, i+3, i)
	}
	return out
}

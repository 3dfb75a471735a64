package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const exampleRegistry = "../../examples/upstreams/legant.yaml"

// exampleTools is what the demo expenses server lists in tools/list.
const exampleTools = `{"jsonrpc":"2.0","id":1,"result":{"tools":[
 {"name":"list_expenses","inputSchema":{"type":"object"}},
 {"name":"submit_expense","inputSchema":{"type":"object","properties":{
   "amount":{"type":"number"},"category":{"type":"string"},"currency":{"type":"string"}},
   "required":["amount","category"]}},
 {"name":"delete_all","inputSchema":{"type":"object"}}]}}`

func runLegant(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func writeTemp(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLintCommand(t *testing.T) {
	bad := writeTemp(t, "bad.yaml", `version: 1
upstreams:
  - slug: expenses
    url: http://127.0.0.1:9000/mcp
    headers: {Authorization: Bearer x}
    tools:
      "*": {scope: all}
`)
	literal := writeTemp(t, "literal.yaml", `version: 1
upstreams:
  - slug: search
    url: http://127.0.0.1:9000/mcp
    auth:
      kind: static
      header: {name: X-API-Key, value: sk-live-abc}
    tools:
      web_search: {scope: search:read}
`)
	exchangeOK := writeTemp(t, "exchange.yaml", `version: 1
upstreams:
  - slug: hosted
    url: https://mcp.example.com/mcp
    auth:
      kind: exchange
      client: {id: legant-gateway, secret: {env: HOSTED_AS_CLIENT_SECRET}}
      scopes: [expenses:read]
      authorization_server: https://auth.example.com
    tools:
      list_expenses: {scope: expenses:read}
`)
	exchangeBad := writeTemp(t, "exchange-bad.yaml", `version: 1
upstreams:
  - slug: hosted
    url: https://mcp.example.com/mcp
    auth:
      kind: exchange
      client: {id: legant-gateway, secret: s3cr3t}
      authorization_server: http://auth.example.com
    tools:
      list_expenses: {scope: expenses:read}
`)
	tools := writeTemp(t, "tools.json", exampleTools)
	drifted := writeTemp(t, "drifted.json", `{"tools":[
 {"name":"list_expenses","inputSchema":{"type":"object"}},
 {"name":"submit_expense","inputSchema":{"type":"object","properties":{"amount":{"type":"string"},"category":{"type":"string"}}}},
 {"name":"export_all","inputSchema":{"type":"object"}}]}`)
	tests := []struct {
		name    string
		args    []string
		want    []string // output lines
		wantErr string   // "" when the command must succeed
	}{
		{"valid", []string{"lint", "-f", exampleRegistry, "--public-url", "https://gw.example"},
			[]string{exampleRegistry + ": ok: 1 upstream(s), 3 tool(s)"}, ""},
		{"invalid", []string{"lint", "-f", bad}, []string{
			bad + ":5:15: upstreams[0].headers.Authorization: Authorization is refused in headers: a credential for the upstream goes in auth (kind static, value {env: NAME} or {file: PATH})",
			bad + `:7:7: upstreams[0].tools["*"]: wildcards are not allowed: list every tool by name (tools not listed are invisible and uncallable)`,
		}, bad + ": 2 problem(s)"},
		{"literal secret", []string{"lint", "-f", literal}, []string{
			literal + ":7:40: upstreams[0].auth.header.value: a literal secret is refused: write {env: NAME} or {file: PATH} (the registry holds no secret)",
		}, literal + ": 1 problem(s)"},
		{"exchange", []string{"lint", "-f", exchangeOK}, []string{exchangeOK + ": ok: 1 upstream(s), 1 tool(s)"}, ""},
		{"exchange refused", []string{"lint", "-f", exchangeBad}, []string{
			exchangeBad + ":7:44: upstreams[0].auth.client.secret: a literal secret is refused: write {env: NAME} or {file: PATH} (the registry holds no secret)",
			exchangeBad + `:8:29: upstreams[0].auth.authorization_server: "http://auth.example.com" must be an https URL (http only on a loopback host) without query or fragment`,
		}, exchangeBad + ": 2 problem(s)"},
		{"matching tools", []string{"lint", "-f", exampleRegistry, "--upstream-tools", tools},
			[]string{exampleRegistry + ": ok: 1 upstream(s), 3 tool(s); 0 warning(s) against " + tools}, ""},
		{"drifted tools", []string{"lint", "-f", exampleRegistry, "--upstream-tools", drifted, "--upstream", "expenses"}, []string{
			exampleRegistry + ":20:7: upstreams[0].tools.delete_all: the upstream does not list this tool",
			exampleRegistry + ":16:27: upstreams[0].tools.submit_expense.amount.pointer: /amount has type string in the inputSchema; an amount must be a number or integer",
			exampleRegistry + ":5:5: upstreams[0].tools.export_all: warning: the upstream lists this tool but the registry does not: it is invisible and uncallable through the gateway",
		}, exampleRegistry + ": 2 error(s), 1 warning(s) against " + drifted},
		{"unknown upstream", []string{"lint", "-f", exampleRegistry, "--upstream-tools", tools, "--upstream", "payroll"},
			nil, `--upstream "payroll": no such upstream in ` + exampleRegistry},
		{"missing file", []string{"lint", "-f", filepath.Join(t.TempDir(), "none.yaml")}, nil, "no such file or directory"},
		{"no file flag", []string{"lint"}, nil, `required flag(s) "file" not set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runLegant(t, tt.args...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("lint failed: %v\n%s", err, out)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.want == nil {
				return
			}
			if diff := cmp.Diff(tt.want, strings.Split(strings.TrimSpace(out), "\n")); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

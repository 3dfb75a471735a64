package upstreams

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/openlegant/legant/authority/dpop"
	"github.com/openlegant/legant/policy"
)

var cmpUpstream = cmp.Options{
	cmpopts.IgnoreUnexported(Upstream{}),
	cmp.Comparer(func(a, b policy.Pointer) bool { return a.String() == b.String() }),
}

func TestLoadExample(t *testing.T) {
	path := filepath.Join("..", "examples", "upstreams", "legant.yaml")
	reg, err := Load(path, Options{PublicURL: "https://gw.example/"})
	if err != nil {
		t.Fatal(err)
	}
	up, ok := reg.Lookup("expenses")
	if !ok {
		t.Fatal(`Lookup("expenses") found nothing`)
	}
	want := &Upstream{
		Slug:               "expenses",
		Transport:          TransportStreamableHTTP,
		URL:                "http://127.0.0.1:9000/mcp",
		InboundAudience:    "https://gw.example/mcp/expenses",
		DownstreamAudience: "http://127.0.0.1:9000/mcp",
		Timeouts:           Timeouts{Connect: 5 * time.Second, Call: 0, Request: DefaultRequestTimeout, Idle: 30 * time.Minute},
		Auth:               Auth{Kind: AuthLegant},
		Tools: map[string]*policy.Binding{
			"list_expenses": {Tool: "list_expenses", Scope: "expenses:read"},
			"submit_expense": {
				Tool:     "submit_expense",
				Scope:    "expenses:write",
				Amount:   &policy.AmountBinding{Value: policy.MustPointer("/amount"), Currency: "USD"},
				Category: policy.MustPointer("/category"),
				Mutating: true,
				Tags:     []string{"finance"},
			},
			"delete_all": {Tool: "delete_all", Scope: "expenses:admin", Mutating: true},
		},
		Pos: Position{File: path, Line: 5, Col: 5},
	}
	if diff := cmp.Diff(want, up, cmpUpstream); diff != "" {
		t.Errorf("expenses (-want +got):\n%s", diff)
	}
	if b, ok := up.Tool("delete_all"); !ok || !b.Mutating {
		t.Errorf("Tool(delete_all) = %+v, %v", b, ok)
	}
	if b, ok := up.Tool("send_money"); ok || b != nil {
		t.Errorf("Tool(send_money) = %+v, %v; an unlisted tool must not exist", b, ok)
	}
	if got := up.ToolNames(); !cmp.Equal(got, []string{"delete_all", "list_expenses", "submit_expense"}) {
		t.Errorf("ToolNames() = %v", got)
	}
	if reg.Source() != path || len(reg.Digest()) != 64 {
		t.Errorf("Source() = %q, Digest() = %q", reg.Source(), reg.Digest())
	}
}

func TestParseSettings(t *testing.T) {
	const doc = `version: 1
upstreams:
  - slug: zeta
    transport: stdio
    command: ["./bin/server", "--flag"]
    env: {PORT: 8080, MODE: "ro"}
    timeouts: {connect: 2s, call: 90s, request: 10s, idle: 1h}
    tools:
      read_file: &read
        scope: files:read
        resource: {pointer: /path, kind: path}
      stat_file: *read
  - slug: alpha
    transport: sse
    url: https://Alpha.example:8443/sse?tenant=7
    inbound_audience: https://gw.example/custom/alpha
    headers: {x-static: v, X-Tenant: "7"}
    tools:
      pay:
        scope: pay
        amount: {pointer: /payment/amount, currency_pointer: /payment/currency}
        resource: /payee
        tags: [finance, external]
      bait: {scope: pay, honeytool: true}
`
	reg, err := Parse("r.yaml", []byte(doc), Options{PublicURL: "https://gw.example/base"})
	if err != nil {
		t.Fatal(err)
	}
	ups := reg.Upstreams()
	if len(ups) != 2 || ups[0].Slug != "alpha" || ups[1].Slug != "zeta" {
		t.Fatalf("Upstreams() not sorted by slug: %v", ups)
	}
	readFile := &policy.Binding{Tool: "read_file", Scope: "files:read",
		Resource: &policy.ResourceBinding{Value: policy.MustPointer("/path"), Kind: policy.ResourcePath}}
	statFile := *readFile
	statFile.Tool = "stat_file"
	want := []*Upstream{{
		Slug:               "alpha",
		Transport:          TransportSSE,
		URL:                "https://Alpha.example:8443/sse?tenant=7",
		InboundAudience:    "https://gw.example/custom/alpha",
		DownstreamAudience: "https://alpha.example:8443/sse", // canonical
		Timeouts:           Timeouts{Connect: DefaultConnectTimeout, Call: DefaultCallTimeout, Request: DefaultRequestTimeout, Idle: DefaultIdleTimeout},
		Auth:               Auth{Kind: AuthLegant},
		Headers:            map[string]string{"X-Static": "v", "X-Tenant": "7"},
		Tools: map[string]*policy.Binding{"pay": {
			Tool:  "pay",
			Scope: "pay",
			Amount: &policy.AmountBinding{Value: policy.MustPointer("/payment/amount"),
				CurrencyPointer: policy.MustPointer("/payment/currency")},
			Resource: &policy.ResourceBinding{Value: policy.MustPointer("/payee"), Kind: policy.ResourceName},
			Tags:     []string{"finance", "external"},
		}, "bait": {Tool: "bait", Scope: "pay", Honeytool: true}},
		Pos: Position{File: "r.yaml", Line: 13, Col: 5},
	}, {
		Slug:               "zeta",
		Transport:          TransportStdio,
		Command:            []string{"./bin/server", "--flag"},
		Env:                map[string]string{"PORT": "8080", "MODE": "ro"},
		InboundAudience:    "https://gw.example/base/mcp/zeta",
		DownstreamAudience: "stdio:zeta",
		Timeouts:           Timeouts{Connect: 2 * time.Second, Call: 90 * time.Second, Request: 10 * time.Second, Idle: time.Hour},
		Auth:               Auth{Kind: AuthLegant},
		Tools:              map[string]*policy.Binding{"read_file": readFile, "stat_file": &statFile},
		Pos:                Position{File: "r.yaml", Line: 3, Col: 5},
	}}
	if diff := cmp.Diff(want, ups, cmpUpstream); diff != "" {
		t.Errorf("upstreams (-want +got):\n%s", diff)
	}
}

func TestParseWithoutPublicURL(t *testing.T) {
	doc := head + "    url: http://h/mcp\n" + tools
	reg, err := Parse("r.yaml", []byte(doc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if up, _ := reg.Lookup("a"); up.InboundAudience != "" {
		t.Errorf("InboundAudience = %q without a public URL, want it left empty", up.InboundAudience)
	}
}

func TestParseBadOptions(t *testing.T) {
	for _, public := range []string{"gw.example", "https://u:p@gw.example", "https://gw.example/?x=1", "https://gw.example/#f"} {
		_, err := Parse("r.yaml", []byte("version: 1\nupstreams: []\n"), Options{PublicURL: public})
		var verrs ValidationErrors
		if err == nil || errors.As(err, &verrs) {
			t.Errorf("PublicURL %q: err = %v, want a plain Options error", public, err)
		}
	}
}

// TestParseCollectsEveryProblem checks that one bad file yields all its
// problems, in file order, each reachable through errors.As.
func TestParseCollectsEveryProblem(t *testing.T) {
	const doc = `version: 1
upstreams:
  - slug: a
    transport: stdio
    url: http://h/
    tools:
      t: {scope: s, amount: /x, colour: red}
  - slug: Bad
    url: ftp://h/
    headers: {Authorization: Bearer secret}
    tools: {"*": {scope: s}}
`
	_, err := Parse("r.yaml", []byte(doc), Options{})
	want := []string{
		"r.yaml:3:5: upstreams[0].command: is required for transport stdio (the argv to run)",
		"r.yaml:5:10: upstreams[0].url: is only for transport streamable-http and sse",
		`r.yaml:7:33: upstreams[0].tools.t.colour: unknown field (known: amount, approval, category, honeytool, mutating, pin, resource, scope, tags)`,
		`r.yaml:8:11: upstreams[1].slug: "Bad" must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit`,
		`r.yaml:9:10: upstreams[1].url: "ftp://h/" must be an absolute http or https URL`,
		"r.yaml:10:15: upstreams[1].headers.Authorization: Authorization is refused in headers: a credential for the upstream goes in auth (kind static, value {env: NAME} or {file: PATH})",
		`r.yaml:11:13: upstreams[1].tools["*"]: wildcards are not allowed: list every tool by name (tools not listed are invisible and uncallable)`,
	}
	if diff := cmp.Diff(want, splitLines(err)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	var first *ValidationError
	if !errors.As(err, &first) || first.Line != 3 || first.Field != "upstreams[0].command" {
		t.Errorf("errors.As(*ValidationError) = %+v", first)
	}
	if got := err.Error(); strings.Contains(got, "secret") {
		t.Errorf("error text echoes a header value: %s", got)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.yaml"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want os.ErrNotExist", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big, Options{}); err == nil {
		t.Error("a file over MaxFileSize loaded")
	}
}

func splitLines(err error) []string {
	var verrs ValidationErrors
	if !errors.As(err, &verrs) {
		return []string{"not ValidationErrors: " + errString(err)}
	}
	out := make([]string, len(verrs))
	for i, e := range verrs {
		out[i] = e.Error()
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestParseDPoPMode(t *testing.T) {
	for in, want := range map[string]dpop.Mode{"require": dpop.ModeRequire, "bearer": dpop.ModeBearer, "allow": dpop.ModeAllow} {
		reg, err := Parse("r.yaml", []byte("version: 1\nupstreams:\n  - slug: a\n    url: http://127.0.0.1:9/mcp\n    dpop: "+in+"\n    tools:\n      t: {scope: s}\n"), Options{PublicURL: "https://gw.example"})
		if err != nil {
			t.Fatalf("dpop: %s: %v", in, err)
		}
		if up, _ := reg.Lookup("a"); up.DPoP != want {
			t.Errorf("dpop: %s parsed as %q", in, up.DPoP)
		}
	}
	_, err := Parse("r.yaml", []byte("version: 1\nupstreams:\n  - slug: a\n    url: http://127.0.0.1:9/mcp\n    dpop: always\n    tools:\n      t: {scope: s}\n"), Options{PublicURL: "https://gw.example"})
	if err == nil || !strings.Contains(err.Error(), `r.yaml:5:11: upstreams[0].dpop: "always" must be one of allow, require, bearer`) {
		t.Fatalf("bad mode: %v", err)
	}
}

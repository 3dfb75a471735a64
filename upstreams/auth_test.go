package upstreams

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func parseErrs(t *testing.T, yaml string, opts Options) []string {
	t.Helper()
	reg, err := Parse("r.yaml", []byte(yaml), opts)
	if reg != nil {
		t.Fatalf("Parse returned a registry along with %v", err)
	}
	var errs ValidationErrors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse error = %v (%T), want ValidationErrors", err, err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	return got
}

const httpHead = "version: 1\nupstreams:\n  - slug: a\n    url: http://h/mcp\n    tools: {t: {scope: s}}\n"
const stdioHead = "version: 1\nupstreams:\n  - slug: a\n    transport: stdio\n    command: [srv]\n    tools: {t: {scope: s}}\n"

func TestAuthErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"literal header value", httpHead + "    auth:\n      kind: static\n      header: {name: X-API-Key, value: sk-live-123}\n", []string{
			"r.yaml:8:40: upstreams[0].auth.header.value: a literal secret is refused: write {env: NAME} or {file: PATH} (the registry holds no secret)"}},
		{"literal stdio env", stdioHead + "    auth:\n      kind: static\n      env:\n        API_KEY: sk-live-123\n", []string{
			"r.yaml:10:18: upstreams[0].auth.env.API_KEY: a literal secret is refused: write {env: NAME} or {file: PATH} (the registry holds no secret)"}},
		{"literal client secret", httpHead + "    auth:\n      kind: oauth\n      client: {id: c, secret: hunter2}\n", []string{
			"r.yaml:8:31: upstreams[0].auth.client.secret: a literal secret is refused: write {env: NAME} or {file: PATH} (the registry holds no secret)"}},
		{"Authorization still refused in headers", httpHead + "    headers: {Authorization: x}\n", []string{
			"r.yaml:6:15: upstreams[0].headers.Authorization: Authorization is refused in headers: a credential for the upstream goes in auth (kind static, value {env: NAME} or {file: PATH})"}},
		{"unknown kind", httpHead + "    auth: {kind: basic}\n", []string{
			`r.yaml:6:18: upstreams[0].auth.kind: "basic" must be one of legant, static, oauth, exchange`}},
		{"both env and file", httpHead + "    auth: {kind: static, header: {name: X-K, value: {env: A, file: /k}}}\n", []string{
			"r.yaml:6:53: upstreams[0].auth.header.value: must have exactly one of env and file"}},
		{"bad env name", httpHead + "    auth: {kind: static, header: {name: X-K, value: {env: 1A}}}\n", []string{
			"r.yaml:6:59: upstreams[0].auth.header.value.env: environment variable names are letters, digits and '_', not starting with a digit"}},
		{"header on stdio", stdioHead + "    auth: {kind: static, header: {name: X-K, value: {env: A}}}\n", []string{
			"r.yaml:7:11: upstreams[0].auth.env: is required for kind static on transport stdio",
			"r.yaml:7:34: upstreams[0].auth.header: is only for HTTP transports: a stdio upstream takes secrets in env"}},
		{"env on HTTP", httpHead + "    auth: {kind: static, env: {A: {env: A}}}\n", []string{
			"r.yaml:6:11: upstreams[0].auth.header: is required for kind static on an HTTP transport",
			"r.yaml:6:31: upstreams[0].auth.env: is only for transport stdio: an HTTP upstream takes its secret in header"}},
		{"gateway header", httpHead + "    auth: {kind: static, header: {name: Mcp-Session-Id, value: {env: A}}}\n", []string{
			"r.yaml:6:41: upstreams[0].auth.header.name: Mcp-Session-Id cannot carry the upstream's credential"}},
		{"header also static", httpHead + "    headers: {X-K: v}\n    auth: {kind: static, header: {name: x-k, value: {env: A}}}\n", []string{
			"r.yaml:7:41: upstreams[0].auth.header.name: X-K is also set in the upstream's headers"}},
		{"client on static", httpHead + "    auth: {kind: static, header: {name: X-K, value: {env: A}}, client: {id: c}}\n", []string{
			"r.yaml:6:72: upstreams[0].auth.client: is only for kinds oauth and exchange"}},
		{"oauth on stdio", stdioHead + "    auth: {kind: oauth}\n", []string{
			"r.yaml:7:18: upstreams[0].auth.kind: kind oauth needs an HTTP transport (a stdio upstream has no authorization server)"}},
		{"oauth bad scope", httpHead + "    auth: {kind: oauth, scopes: [\"a b\"]}\n", []string{
			`r.yaml:6:34: upstreams[0].auth.scopes[0]: "a b" is not an OAuth scope token`}},
		{"exchange without client", httpHead + "    auth: {kind: exchange}\n", []string{
			"r.yaml:6:11: upstreams[0].auth.client: is required for kind exchange: {id: ID, secret: {env: NAME} or {file: PATH}}, a client registered at the upstream's authorization server"}},
		{"exchange public client", httpHead + "    auth: {kind: exchange, client: {id: gw}}\n", []string{
			"r.yaml:6:36: upstreams[0].auth.client.secret: is required for kind exchange (a confidential client): {env: NAME} or {file: PATH}"}},
		{"exchange literal secret", httpHead + "    auth: {kind: exchange, client: {id: gw, secret: s3cret}}\n", []string{
			"r.yaml:6:53: upstreams[0].auth.client.secret: a literal secret is refused: write {env: NAME} or {file: PATH} (the registry holds no secret)"}},
		{"exchange on stdio", stdioHead + "    auth: {kind: exchange, client: {id: gw, secret: {env: S}}}\n", []string{
			"r.yaml:7:18: upstreams[0].auth.kind: kind exchange needs an HTTP transport (a stdio upstream has no authorization server)"}},
		{"exchange plain-http server", httpHead + "    auth: {kind: exchange, client: {id: gw, secret: {env: S}}, authorization_server: http://as.example}\n", []string{
			`r.yaml:6:86: upstreams[0].auth.authorization_server: "http://as.example" must be an https URL (http only on a loopback host) without query or fragment`}},
		{"authorization_server on oauth", httpHead + "    auth: {kind: oauth, authorization_server: https://as.example}\n", []string{
			"r.yaml:6:47: upstreams[0].auth.authorization_server: is only for kind exchange"}},
		{"unknown auth field", httpHead + "    auth: {kind: static, headers: {}}\n", []string{
			"r.yaml:6:11: upstreams[0].auth.header: is required for kind static on an HTTP transport",
			`r.yaml:6:26: upstreams[0].auth.headers: unknown field (did you mean "header"?)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseErrs(t, tt.yaml, Options{})); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuthResolveSecrets(t *testing.T) {
	const secret = "sk-test-9f8e7d6c5b4a"
	t.Setenv("LEGANT_TEST_KEY", secret)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stdio.key"), []byte(secret+"-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `version: 1
upstreams:
  - slug: api
    url: http://h/mcp
    tools: {t: {scope: s}}
    auth:
      kind: static
      header: {name: authorization, scheme: Bearer, value: {env: LEGANT_TEST_KEY}}
  - slug: local
    transport: stdio
    command: [srv]
    env: {PLAIN: "1"}
    tools: {t: {scope: s}}
    auth:
      kind: static
      env:
        API_KEY: {file: stdio.key}
  - slug: hosted
    url: http://h2/mcp
    tools: {t: {scope: s}}
    auth:
      kind: oauth
      scopes: [read, write]
      client: {id: legant, secret: {env: LEGANT_TEST_KEY}}
  - slug: trusted
    url: https://h3/mcp
    tools: {t: {scope: s}}
    auth:
      kind: exchange
      client: {id: legant-gw, secret: {file: stdio.key}}
      scopes: [read]
      authorization_server: https://as.example/
`
	name := filepath.Join(dir, "legant.yaml")
	reg, err := Parse(name, []byte(yaml), Options{ResolveSecrets: true})
	if err != nil {
		t.Fatal(err)
	}
	api, _ := reg.Lookup("api")
	if api.Auth.Kind != AuthStatic || api.Auth.Header.Name != "Authorization" || api.Auth.Header.HeaderValue() != "Bearer "+secret {
		t.Errorf("api auth = %v, header value %q", api.Auth, api.Auth.Header.HeaderValue())
	}
	local, _ := reg.Lookup("local")
	if got := local.Auth.Env["API_KEY"].Reveal(); got != secret+"-file" {
		t.Errorf("local API_KEY = %q", got)
	}
	if local.Auth.Env["API_KEY"].Ref != "file:"+filepath.Join(dir, "stdio.key") {
		t.Errorf("relative file ref = %q", local.Auth.Env["API_KEY"].Ref)
	}
	hosted, _ := reg.Lookup("hosted")
	if c := hosted.Auth.OAuth; c.ClientID != "legant" || c.ClientSecret.Reveal() != secret || !cmp.Equal(c.Scopes, []string{"read", "write"}) {
		t.Errorf("hosted oauth = %+v", c)
	}
	trusted, _ := reg.Lookup("trusted")
	if x := trusted.Auth.Exchange; trusted.Auth.Kind != AuthExchange || x.ClientID != "legant-gw" || x.ClientSecret.Reveal() != secret+"-file" ||
		x.AuthorizationServer != "https://as.example" || !cmp.Equal(x.Scopes, []string{"read"}) {
		t.Errorf("trusted exchange = %+v", x)
	}
	noAuth, _ := Parse("r.yaml", []byte(httpHead), Options{})
	if up, _ := noAuth.Lookup("a"); up.Auth.Kind != AuthLegant {
		t.Errorf("default kind = %q", up.Auth.Kind)
	}

	// However an upstream is printed, the secret does not show.
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("loaded", "upstream", api, "auth", api.Auth, "env", local.Auth.Env, "client", hosted.Auth.OAuth)
	js, _ := json.Marshal(reg.Upstreams())
	for _, printed := range []string{
		fmt.Sprintf("%v %+v %#v %s %q", api, api, api.Auth, local.Auth.Env, hosted.Auth.OAuth.ClientSecret),
		fmt.Sprintf("%+v %#v", *local, *hosted.Auth.OAuth),
		fmt.Sprintf("%v %+v %#v", trusted, *trusted.Auth.Exchange, trusted.Auth),
		logs.String(), string(js),
	} {
		if strings.Contains(printed, secret) {
			t.Errorf("the secret is printed: %s", printed)
		}
	}
	if !strings.Contains(logs.String(), "env:LEGANT_TEST_KEY") {
		t.Errorf("the reference should be printed: %s", logs.String())
	}

	// Without ResolveSecrets only the form is checked: nothing is read.
	reg, err = Parse(name, []byte(strings.ReplaceAll(yaml, "LEGANT_TEST_KEY", "LEGANT_TEST_UNSET")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if api, _ := reg.Lookup("api"); api.Auth.Header.Value.Reveal() != "" {
		t.Error("a secret was read without ResolveSecrets")
	}
}

func TestAuthResolveErrors(t *testing.T) {
	t.Setenv("LEGANT_TEST_EMPTY", "")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "empty"), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := httpHead + `    auth: {kind: static, header: {name: X-K, value: {env: LEGANT_TEST_UNSET_VAR}}}
  - slug: b
    url: http://h/b
    tools: {t: {scope: s}}
    auth: {kind: static, header: {name: X-K, value: {env: LEGANT_TEST_EMPTY}}}
  - slug: c
    url: http://h/c
    tools: {t: {scope: s}}
    auth: {kind: static, header: {name: X-K, value: {file: ` + filepath.Join(dir, "empty") + `}}}
`
	want := []string{
		"r.yaml:6:59: upstreams[0].auth.header.value.env: environment variable LEGANT_TEST_UNSET_VAR is not set",
		"r.yaml:10:59: upstreams[1].auth.header.value.env: environment variable LEGANT_TEST_EMPTY is empty",
		"r.yaml:14:60: upstreams[2].auth.header.value.file: the secret file " + filepath.Join(dir, "empty") + " is empty",
	}
	if diff := cmp.Diff(want, parseErrs(t, yaml, Options{ResolveSecrets: true})); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

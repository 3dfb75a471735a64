package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

const fuzzRegistry = `version: 1
upstreams:
  - slug: up
    url: http://127.0.0.1:1/mcp
    tools:
      read_data: {scope: data:read}
    resources:
      - {uri: "docs://public", scope: data:read}
      - {template: "docs://page/{id}", scope: data:read}
    prompts:
      summarize: {scope: data:read}
    methods: [acme/search]
`

func fuzzGateway(f *testing.F) (*Gateway, *upstreams.Upstream) {
	reg, err := upstreams.Parse("fuzz.yaml", []byte(fuzzRegistry), upstreams.Options{PublicURL: "http://gw.test"})
	if err != nil {
		f.Fatal(err)
	}
	key, _ := authority.GenerateEd25519Key("k")
	keys := authority.NewKeySet()
	keys.Add(key, time.Time{})
	g, err := New(Options{Registry: func() *upstreams.Registry { return reg }, Issuer: "https://issuer.test", Keys: keys, Signer: key, PublicURL: "http://gw.test"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { g.Close() })
	up, _ := reg.Lookup("up")
	return g, up
}

// FuzzDecide: method × id presence × params × era. Whatever the message,
// it is forwarded only after a decision allowed it: the classifier, then
// the decision of its class recomputed here; a refused request is
// answered, a refused notification dropped; nothing is both forwarded and
// answered.
func FuzzDecide(f *testing.F) {
	g, up := fuzzGateway(f)
	claims := &authority.Claims{Subject: "alice", Actor: &authority.Actor{Subject: "agent"}, Scopes: []string{"data:read"},
		Constraints: authority.Unrestricted()}
	for _, m := range []string{"tools/call", "resources/read", "prompts/get", "completion/complete", "tasks/get", "tasks/list",
		"notifications/initialized", "notifications/x", "ping", "acme/search", "acme/other", "initialize",
		"tasks/result", "resources/subscribe", "logging/setLevel"} {
		for _, p := range []string{``, `{"name":"read_data"}`, `{"name":"delete_all"}`, `{"uri":"docs://page/1"}`, `{"uri":"canary://secret"}`,
			`{"URI":"docs://public","uri":"canary://secret"}`, `{"ref":{"type":"ref/prompt","name":"summarize"}}`, `{"taskId":"t"}`} {
			f.Add(m, true, false, p)
			f.Add(m, false, true, p)
		}
	}
	f.Fuzz(func(t *testing.T, method string, hasID, stateless bool, params string) {
		msg := map[string]any{"jsonrpc": "2.0", "method": method}
		if hasID {
			msg["id"] = 1
		}
		if json.Valid([]byte(params)) && strings.HasPrefix(strings.TrimSpace(params), "{") {
			msg["params"] = json.RawMessage(params)
		}
		body, err := json.Marshal(msg)
		if err != nil {
			return
		}
		msgs, _, err := decodeBody(body)
		if err != nil {
			return // refused before any decision; nothing is forwarded
		}
		m := msgs[0]
		if stateless {
			h := http.Header{}
			h.Set(headerMethod, method)
			name, _ := stringMember(m.params, "name")
			if uri, ok := stringMember(m.params, "uri"); ok {
				name = uri
			}
			h.Set(headerName, name)
			if checkStatelessHeaders(h, m) != nil {
				return // answered -32020 before any decision
			}
		}
		ex := newExchange(up, claims, nil, body, false)
		if stateless {
			ex.version = versionStateless
		}
		g.decide(context.Background(), ex, m)
		forwarded, answered := len(ex.forward) == 1, len(ex.local) == 1
		if forwarded && answered || len(ex.forward)+len(ex.local) > 1 {
			t.Fatalf("%s: forwarded %d, answered %d", body, len(ex.forward), len(ex.local))
		}
		class, d := policy.ClassifyMethod(method, hasID, ex.version, up.AllowsMethod)
		if !forwarded {
			if !answered && (hasID || !d.Allow && d.Reason == policy.ReasonNotNotification) {
				t.Fatalf("%s: neither forwarded nor answered", body)
			}
			return
		}
		if !d.Allow {
			t.Fatalf("%s: forwarded although classified %v %q", body, class, d.Reason)
		}
		if !hasID && !strings.HasPrefix(method, "notifications/") {
			t.Fatalf("%s: forwarded without an id", body)
		}
		if !recomputedAllow(g, ex, m, class) {
			t.Fatalf("%s: forwarded, but its decision denies", body)
		}
	})
}

// recomputedAllow decides m again, by class, with the policy functions.
func recomputedAllow(g *Gateway, ex *exchange, m *message, class policy.MethodClass) bool {
	switch class {
	case policy.MethodTool:
		name, args, ok := callParams(m.params)
		b, _ := ex.up.Tool(name)
		return ok && policy.Decide(ex.claims, b, policy.Call{Tool: name, Arguments: []byte(args), At: g.now()}).Allow
	case policy.MethodResource:
		uri, _ := stringMember(m.params, "uri")
		return policy.DecideResource(ex.claims, ex.up.Resources.For(uri), uri, policy.Call{At: g.now()}).Allow
	case policy.MethodPrompt:
		name, _ := stringMember(m.params, "name")
		b, _ := ex.up.Prompt(name)
		args, _ := memberOf(m.params, "arguments")
		return policy.DecidePrompt(ex.claims, b, name, []byte(args), g.now()).Allow
	case policy.MethodCompletion:
		ref, _ := memberOf(m.params, "ref")
		typ, _ := stringMember(ref, "type")
		name, _ := stringMember(ref, "name")
		uri, _ := stringMember(ref, "uri")
		b, _ := ex.up.Prompt(name)
		return policy.DecideCompletion(ex.claims, b, ex.up.Resources, policy.CompletionRef{Type: typ, Name: name, URI: uri}).Allow
	case policy.MethodTask:
		if m.method == "tasks/list" {
			return true
		}
		id, _ := stringMember(m.params, "taskId")
		return g.mcpTasks.owns(ex.up.Slug, id, taskOwner(ex))
	}
	return true
}

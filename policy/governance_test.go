package policy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/openlegant/legant/authority"
)

func TestClassifyMethod(t *testing.T) {
	custom := func(m string) bool { return m == "acme/search" || m == "notifications/acme/ping" }
	cases := []struct {
		method string
		hasID  bool
		class  MethodClass
		reason Reason // "" = allowed
	}{
		{"tools/call", true, MethodTool, ""},
		{"tools/call", false, MethodUnknown, ReasonNotNotification},
		{"ping", false, MethodUnknown, ReasonNotNotification},
		{"initialize", true, MethodSession, ""},
		{"tools/list", true, MethodList, ""},
		{"resources/templates/list", true, MethodList, ""},
		{"resources/read", true, MethodResource, ""},
		{"resources/subscribe", true, MethodResource, ""},
		{"resources/unsubscribe", true, MethodResource, ""},
		{"prompts/get", true, MethodPrompt, ""},
		{"completion/complete", true, MethodCompletion, ""},
		{"tasks/get", true, MethodTask, ""},
		{"tasks/cancel", true, MethodTask, ""},
		{"notifications/initialized", false, MethodNotification, ""},
		{"notifications/cancelled", false, MethodNotification, ""},
		{"notifications/initialized", true, MethodUnknown, ReasonNotNotification},
		{"notifications/unknown", false, MethodUnknown, ReasonMethodNotAllowed},
		{"notifications/acme/ping", false, MethodCustom, ""},
		{"acme/search", true, MethodCustom, ""},
		{"acme/search", false, MethodUnknown, ReasonNotNotification},
		{"acme/delete", true, MethodUnknown, ReasonMethodNotAllowed},
		{"", true, MethodUnknown, ReasonMethodNotAllowed},
		{"Tools/Call", true, MethodUnknown, ReasonMethodNotAllowed},
		{"sampling/createMessage", true, MethodUnknown, ReasonMethodNotAllowed}, // server-to-client only
	}
	for _, tc := range cases {
		class, d := ClassifyMethod(tc.method, tc.hasID, "2025-11-25", custom)
		if class != tc.class || d.Allow != (tc.reason == "") || (tc.reason != "" && d.Reason != tc.reason) {
			t.Errorf("ClassifyMethod(%q, %v) = %v, %v %q; want %v %q", tc.method, tc.hasID, class, d.Allow, d.Reason, tc.class, tc.reason)
		}
	}
	if _, d := ClassifyMethod("tools/call", false, "", nil); d.RPCError().Code != -32600 {
		t.Errorf("not a notification: code %d, want -32600", d.RPCError().Code)
	}
	if _, d := ClassifyMethod("acme/x", true, "", nil); d.RPCError().Code != -32601 {
		t.Errorf("unknown method: code %d, want -32601", d.RPCError().Code)
	}
}

// TestClassifyMethodByRevision: revision 2026-07-28 removed the session
// handshake, resource subscriptions and the tasks extension's v1 methods;
// they are answered -32601 (method_removed) in that revision and later,
// and classified as before in the earlier ones.
func TestClassifyMethodByRevision(t *testing.T) {
	removed := []string{"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe", "tasks/result", "tasks/list"}
	for _, m := range removed {
		for _, rev := range []string{"", "2025-03-26", "2025-06-18", "2025-11-25"} {
			if _, d := ClassifyMethod(m, true, rev, nil); !d.Allow {
				t.Errorf("%s in %q: refused %q", m, rev, d.Reason)
			}
		}
		for _, rev := range []string{"2026-07-28", "2027-01-01"} {
			_, d := ClassifyMethod(m, true, rev, nil)
			if d.Allow || d.Reason != ReasonMethodRemoved || d.RPCError().Code != -32601 || !strings.HasPrefix(d.Message, "Method not found") {
				t.Errorf("%s in %s: %v %q %+v", m, rev, d.Allow, d.Reason, d.RPCError())
			}
		}
	}
	for _, m := range []string{"notifications/initialized", "notifications/roots/list_changed"} {
		if _, d := ClassifyMethod(m, false, "2026-07-28", nil); d.Allow || d.Reason != ReasonMethodRemoved {
			t.Errorf("%s in 2026-07-28: %v %q", m, d.Allow, d.Reason)
		}
	}
	for _, m := range []string{"tools/call", "tools/list", "resources/read", "prompts/get", "tasks/get", "tasks/cancel", "server/discover", "subscriptions/listen", "notifications/cancelled"} {
		if _, d := ClassifyMethod(m, !strings.HasPrefix(m, "notifications/"), "2026-07-28", nil); !d.Allow {
			t.Errorf("%s in 2026-07-28: refused %q", m, d.Reason)
		}
	}
	// A removed method without an id is still not a notification (-32600).
	if _, d := ClassifyMethod("ping", false, "2026-07-28", nil); d.Reason != ReasonNotNotification {
		t.Errorf("ping without id in 2026-07-28: %q", d.Reason)
	}
}

// FuzzClassifyMethod: whatever the method and id presence, a message is
// allowed only as a request of a known or custom method, or as a
// notifications/* notification; every refusal has a JSON-RPC code.
func FuzzClassifyMethod(f *testing.F) {
	for _, m := range []string{"tools/call", "notifications/initialized", "acme/search", "", "notifications/", "tasks/get"} {
		f.Add(m, true)
		f.Add(m, false)
	}
	f.Fuzz(func(t *testing.T, method string, hasID bool) {
		class, d := ClassifyMethod(method, hasID, "", func(m string) bool { return m == "acme/search" })
		if !d.Allow {
			if class != MethodUnknown || d.RPCError() == nil || (d.RPCError().Code != -32600 && d.RPCError().Code != -32601) {
				t.Fatalf("%q %v: refusal %v %+v", method, hasID, class, d.RPCError())
			}
			return
		}
		if class == MethodUnknown {
			t.Fatalf("%q %v: allowed without a class", method, hasID)
		}
		isNotification := len(method) > len(notificationPrefix) && method[:len(notificationPrefix)] == notificationPrefix
		if hasID == isNotification {
			t.Fatalf("%q hasID=%v allowed", method, hasID)
		}
		if class == MethodCustom && method != "acme/search" {
			t.Fatalf("%q allowed as custom", method)
		}
	})
}

func TestURITemplate(t *testing.T) {
	cases := []struct {
		tmpl  string
		uri   string
		match bool
	}{
		{"docs://page/{id}", "docs://page/7", true},
		{"docs://page/{id}", "docs://page/7/8", false},
		{"docs://page/{id}", "docs://page/", true}, // an empty expansion
		{"docs://page/{id}", "docs://page/..", false},
		{"docs://page/{id}", "docs://page/%2E%2e", false},
		{"docs://page/{id}", "docs://pages/7", false},
		{"file:///data{/path*}", "file:///data/a/b", true},
		{"file:///data{/path*}", "file:///data/a/../../etc", false},
		{"file:///data/{+rest}", "file:///data/a/b?x=1", true},
		{"search://q{?q,lang}", "search://q?q=a&lang=en", true},
		{"search://q{?q,lang}", "search://q/evil", false},
		{"a.b://x{.ext}", "a.b://x.json", true},
	}
	for _, tc := range cases {
		tm, err := ParseURITemplate(tc.tmpl)
		if err != nil {
			t.Fatalf("%q: %v", tc.tmpl, err)
		}
		if got := tm.Match(tc.uri); got != tc.match {
			t.Errorf("%q.Match(%q) = %v, want %v", tc.tmpl, tc.uri, got, tc.match)
		}
	}
	for _, bad := range []string{"x://{", "x://}", "x://{}", "x://{a b}", "x://{a,}"} {
		if _, err := ParseURITemplate(bad); err == nil {
			t.Errorf("ParseURITemplate(%q) accepted", bad)
		}
	}
}

func mustTemplate(s string) *URITemplate {
	t, err := ParseURITemplate(s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDecideResourceGrant(t *testing.T) {
	grants := ResourceGrants{
		{URI: "docs://public", Scope: "docs:read"},
		{URI: "docs://admin/readme", Scope: "docs:admin"},
		{Template: mustTemplate("docs://page/{id}"), Scope: "docs:read"},
		{Prefix: "docs://admin/", Scope: "docs:read"}, // less specific than the exact admin URI
		{Prefix: "file:///shared/", Scope: "docs:read", Kind: ResourcePath},
		{Prefix: "https://files.example/", Scope: "docs:read", Kind: ResourceURL},
	}
	reader := func(mod ...func(*authority.Constraints)) *authority.Claims {
		c := &authority.Claims{Subject: "alice", Scopes: []string{"docs:read"}, Constraints: authority.Unrestricted()}
		for _, m := range mod {
			m(&c.Constraints)
		}
		return c
	}
	onlyShared := func(c *authority.Constraints) { c.Resources = authority.Only("/shared/a/") }
	onlyURL := func(c *authority.Constraints) { c.Resources = authority.Only("https://files.example/ok") }
	cases := []struct {
		name   string
		c      *authority.Claims
		uri    string
		reason Reason // allowed when ""
	}{
		{"exact", reader(), "docs://public", ""},
		{"template", reader(), "docs://page/1", ""},
		{"prefix", reader(), "docs://admin/other", ""},
		{"exact beats prefix", reader(), "docs://admin/readme", ReasonInsufficientScope},
		{"not granted", reader(), "canary://secret", ReasonResourceNotBound},
		{"case differs", reader(), "DOCS://public", ReasonResourceNotBound},
		{"dot segments under a prefix", reader(), "docs://admin/../../etc", ReasonResourceNotBound},
		{"no token", nil, "docs://public", ReasonUnauthenticated},
		{"no scope", &authority.Claims{Constraints: authority.Unrestricted()}, "docs://public", ReasonInsufficientScope},
		{"path kind inside", reader(onlyShared), "file:///shared/a/x.txt", ""},
		{"path kind outside", reader(onlyShared), "file:///shared/b/x.txt", ReasonResource},
		{"url kind inside", reader(onlyURL), "https://files.example/ok", ""},
		{"url kind outside", reader(onlyURL), "https://files.example/other", ReasonResource},
		{"no kind: constraint does not apply", reader(onlyURL), "docs://public", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := DecideResource(tc.c, grants.For(tc.uri), tc.uri, Call{At: noon})
			if d.Allow != (tc.reason == "") || (tc.reason != "" && d.Reason != tc.reason) {
				t.Fatalf("allow=%v reason=%q (%s), want %q", d.Allow, d.Reason, d.Message, tc.reason)
			}
		})
	}
	if !TemplateVisible(reader(), grants, "docs://page/{id}") || TemplateVisible(reader(), grants, "secret://{id}") {
		t.Error("TemplateVisible: want docs://page/{id} only")
	}
	if !TemplateVisible(reader(), grants, "file:///shared/{name}") {
		t.Error("TemplateVisible: a prefix grant covers a template under it")
	}
	if ResourceVisible(reader(), grants, "canary://secret") || !ResourceVisible(reader(), grants, "docs://public") {
		t.Error("ResourceVisible")
	}
	// An ungranted resource is answered as a missing one (SEP-2164).
	e := DecideResource(reader(), grants.For("canary://secret"), "canary://secret", Call{At: noon}).RPCError()
	b, _ := json.Marshal(e)
	if want := `{"code":-32602,"message":"Resource not found","data":{"reason":"resource_not_bound","uri":"canary://secret","value":"canary://secret"}}`; string(b) != want {
		t.Errorf("not granted:\n got %s\nwant %s", b, want)
	}
}

func TestDecidePromptAndCompletion(t *testing.T) {
	b := &PromptBinding{Prompt: "summarize", Scope: "docs:read", Category: MustPointer("/topic")}
	c := &authority.Claims{Subject: "alice", Scopes: []string{"docs:read"}, Constraints: authority.Unrestricted()}
	c.Constraints.Categories = authority.Only("travel")
	cases := []struct {
		name   string
		c      *authority.Claims
		b      *PromptBinding
		args   string
		reason Reason
	}{
		{"allowed", c, b, `{"topic":"Travel"}`, ""},
		{"category", c, b, `{"topic":"weapons"}`, ReasonCategory},
		{"missing argument", c, b, `{}`, ReasonInvalidArgument},
		{"not a string", c, b, `{"topic":7}`, ReasonInvalidArgument},
		{"not bound", c, nil, `{}`, ReasonPromptNotBound},
		{"scope", &authority.Claims{Constraints: authority.Unrestricted()}, b, `{"topic":"travel"}`, ReasonInsufficientScope},
		{"no token", nil, b, `{}`, ReasonUnauthenticated},
	}
	for _, tc := range cases {
		d := DecidePrompt(tc.c, tc.b, "summarize", []byte(tc.args), noon)
		if d.Allow != (tc.reason == "") || (tc.reason != "" && d.Reason != tc.reason) {
			t.Errorf("%s: allow=%v reason=%q (%s), want %q", tc.name, d.Allow, d.Reason, d.Message, tc.reason)
		}
	}
	grants := ResourceGrants{{Template: mustTemplate("docs://page/{id}"), Scope: "docs:read"}}
	for _, tc := range []struct {
		ref    CompletionRef
		prompt *PromptBinding
		allow  bool
	}{
		{CompletionRef{Type: "ref/prompt", Name: "summarize"}, b, true},
		{CompletionRef{Type: "ref/prompt", Name: "secret"}, nil, false},
		{CompletionRef{Type: "ref/resource", URI: "docs://page/{id}"}, nil, true},
		{CompletionRef{Type: "ref/resource", URI: "secret://{id}"}, nil, false},
		{CompletionRef{Type: "ref/tool", Name: "x"}, nil, false},
	} {
		d := DecideCompletion(c, tc.prompt, grants, tc.ref)
		if d.Allow != tc.allow || (!d.Allow && d.Reason != ReasonCompletionRef) {
			t.Errorf("%+v: allow=%v %q", tc.ref, d.Allow, d.Reason)
		}
	}
}

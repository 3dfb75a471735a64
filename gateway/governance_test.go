package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/upstreams"
)

// governedRegistry grants one tool, one resource, one template and one
// prompt of governedServer; canary://secret, secret://{id} and
// secret_prompt are not granted.
const governedRegistry = `      read_data:
        scope: data:read
    resources:
      - uri: docs://public
        scope: data:read
      - template: "docs://page/{id}"
        scope: data:read
    prompts:
      summarize:
        scope: data:read
        category: /topic
`

// governedServer is a go-sdk upstream serving tools, resources, templates,
// prompts, subscriptions and completions, the hidden ones among them.
func governedServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "governed", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
		CompletionHandler: func(context.Context, *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{"travel"}}}, nil
		},
	})
	mcp.AddTool(s, &mcp.Tool{Name: "read_data"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "data"}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "delete_all"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "deleted"}}}, nil, nil
	})
	text := func(uri, body string) mcp.ResourceHandler {
		return func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: body}}}, nil
		}
	}
	s.AddResource(&mcp.Resource{URI: "docs://public", Name: "public"}, text("docs://public", "public text"))
	s.AddResource(&mcp.Resource{URI: "canary://secret", Name: "secret"}, text("canary://secret", "CANARY"))
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "docs://page/{id}", Name: "page"}, text("", "a page"))
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "secret://{id}", Name: "secrets"}, text("", "CANARY"))
	prompt := func(body string) mcp.PromptHandler {
		return func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: body}}}}, nil
		}
	}
	s.AddPrompt(&mcp.Prompt{Name: "summarize", Arguments: []*mcp.PromptArgument{{Name: "topic"}}}, prompt("summarize"))
	s.AddPrompt(&mcp.Prompt{Name: "secret_prompt"}, prompt("CANARY"))
	return s
}

func governedRig(t *testing.T, stateless bool, extra string) *rig {
	return newRig(t, rigOptions{stateless: stateless, upstream: governedServer(), registry: governedRegistry + extra})
}

// governedToken may read data, and only in category travel.
func governedToken(r *rig) string {
	c := authority.Unrestricted()
	c.Categories = authority.Only("travel")
	return r.token(tokenOptions{scopes: []string{"data:read"}, c: &c})
}

// assertRefused checks a JSON-RPC error of code and data.reason.
func assertRefused(t *testing.T, err error, code int, reason string) {
	t.Helper()
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) {
		t.Fatalf("want a JSON-RPC error %d (%s), got %v", code, reason, err)
	}
	var data struct{ Reason string }
	json.Unmarshal(werr.Data, &data)
	if werr.Code != int64(code) || data.Reason != reason {
		t.Fatalf("got %d %q (%s), want %d %q", werr.Code, data.Reason, werr.Message, code, reason)
	}
}

// assertNotFound asserts err is MCP's resource-not-found answer for uri
// (SEP-2164: -32602, data.uri), with the gateway's data.reason: an ungranted
// resource is indistinguishable from a missing one.
func assertNotFound(t *testing.T, err error, uri string) {
	t.Helper()
	assertRefused(t, err, -32602, "resource_not_bound")
	var werr *jsonrpc.Error
	errors.As(err, &werr)
	var data struct{ URI string }
	json.Unmarshal(werr.Data, &data)
	if werr.Message != "Resource not found" || data.URI != uri {
		t.Fatalf("got %q data.uri %q, want \"Resource not found\" %q", werr.Message, data.URI, uri)
	}
}

// TestGovernedObjects: through the gateway, in a 2025-11-25 session and
// stateless 2026-07-28, what the registry does not grant is invisible and
// refused — resources, templates, prompts, completions — and a refusal
// reaches nothing upstream.
func TestGovernedObjects(t *testing.T) {
	for _, era := range []struct {
		version   string
		stateless bool
	}{{"2025-11-25", false}, {"2026-07-28", true}} {
		t.Run(era.version, func(t *testing.T) {
			r := governedRig(t, era.stateless, "")
			cs := r.connect(governedToken(r), era.version, nil)
			ctx := context.Background()

			lr, err := cs.ListResources(ctx, nil)
			if err != nil {
				t.Fatalf("resources/list: %v", err)
			}
			var uris []string
			for _, res := range lr.Resources {
				uris = append(uris, res.URI)
			}
			if !slices.Equal(uris, []string{"docs://public"}) {
				t.Fatalf("resources/list = %v, want [docs://public]", uris)
			}
			lt, err := cs.ListResourceTemplates(ctx, nil)
			if err != nil || len(lt.ResourceTemplates) != 1 || lt.ResourceTemplates[0].URITemplate != "docs://page/{id}" {
				t.Fatalf("resources/templates/list = %+v, %v", lt, err)
			}
			lp, err := cs.ListPrompts(ctx, nil)
			if err != nil || len(lp.Prompts) != 1 || lp.Prompts[0].Name != "summarize" {
				t.Fatalf("prompts/list = %+v, %v", lp, err)
			}

			reads := r.seenMethods.count("resources/read")
			if rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "docs://page/7"}); err != nil || rr.Contents[0].Text != "a page" {
				t.Fatalf("read a granted template's resource: %v", err)
			}
			for _, uri := range []string{"canary://secret", "secret://1", "docs://page/7/../../secret"} {
				_, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
				assertNotFound(t, err, uri)
			}
			if got := r.seenMethods.count("resources/read"); got != reads+1 {
				t.Fatalf("upstream received %d resources/read, want %d (the granted one only)", got, reads+1)
			}
			if r.seenMethods.containing("canary://secret") != 0 {
				t.Fatal("the canary's URI reached the upstream")
			}

			gets := r.seenMethods.count("prompts/get")
			if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "summarize", Arguments: map[string]string{"topic": "Travel"}}); err != nil {
				t.Fatalf("prompts/get in the token's category: %v", err)
			}
			_, err = cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "summarize", Arguments: map[string]string{"topic": "weapons"}})
			assertRefused(t, err, gateway.CodeDenied, "category")
			_, err = cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "secret_prompt"})
			assertRefused(t, err, gateway.CodeDenied, "prompt_not_bound")
			if got := r.seenMethods.count("prompts/get"); got != gets+1 {
				t.Fatalf("upstream received %d prompts/get, want %d", got, gets+1)
			}

			completes := r.seenMethods.count("completion/complete")
			arg := mcp.CompleteParamsArgument{Name: "topic", Value: "tr"}
			if _, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "summarize"}, Argument: arg}); err != nil {
				t.Fatalf("complete a granted prompt: %v", err)
			}
			_, err = cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "secret_prompt"}, Argument: arg})
			assertRefused(t, err, gateway.CodeDenied, "completion_ref")
			_, err = cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/resource", URI: "secret://{id}"}, Argument: mcp.CompleteParamsArgument{Name: "id", Value: "1"}})
			assertRefused(t, err, gateway.CodeDenied, "completion_ref")
			if got := r.seenMethods.count("completion/complete"); got != completes+1 {
				t.Fatalf("upstream received %d completion/complete, want %d", got, completes+1)
			}

			if !era.stateless {
				subs := r.seenMethods.count("resources/subscribe")
				if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "docs://public"}); err != nil {
					t.Fatalf("subscribe to a granted resource: %v", err)
				}
				err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "canary://secret"})
				assertNotFound(t, err, "canary://secret")
				if got := r.seenMethods.count("resources/subscribe"); got != subs+1 {
					t.Fatalf("upstream received %d resources/subscribe, want %d", got, subs+1)
				}
			}
			r.events.waitFor(t, func(e audit.Event) bool {
				return e.Kind == audit.KindDeny && e.Method == "resources/read" && e.Tool == "canary://secret" && e.Reason == "resource_not_bound"
			})
		})
	}
}

// TestScopeGovernsObjects: a token without the grants' scope sees none of
// the objects and may use none.
func TestScopeGovernsObjects(t *testing.T) {
	r := governedRig(t, false, "")
	cs := r.connect(r.token(tokenOptions{scopes: []string{"other:read"}}), "2025-11-25", nil)
	ctx := context.Background()
	lr, err := cs.ListResources(ctx, nil)
	if err != nil || len(lr.Resources) != 0 {
		t.Fatalf("resources/list = %+v, %v; want empty", lr, err)
	}
	_, err = cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "docs://public"})
	assertRefused(t, err, gateway.CodeDenied, "insufficient_scope")
	_, err = cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "summarize", Arguments: map[string]string{"topic": "travel"}})
	assertRefused(t, err, gateway.CodeDenied, "insufficient_scope")
	if n := r.seenMethods.count("resources/read") + r.seenMethods.count("prompts/get"); n != 0 {
		t.Fatalf("upstream received %d refused requests", n)
	}
}

// TestClassification sends raw messages the classifier must refuse: a
// request method without an id (it is no notification), a notification
// method with an id, and unknown methods, in a session and stateless; the
// upstream receives none of them. A custom method the registry lists is
// forwarded.
func TestClassification(t *testing.T) {
	for _, era := range []struct {
		version   string
		stateless bool
	}{{"2025-11-25", false}, {"2026-07-28", true}} {
		t.Run(era.version, func(t *testing.T) {
			r := governedRig(t, era.stateless, "    methods: [acme/search]\n")
			tok := r.token(tokenOptions{scopes: []string{"data:read", "data:admin"}})
			h := map[string]string{"Mcp-Protocol-Version": era.version}
			meta := ""
			if era.stateless {
				meta = `,"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
			} else {
				init := rawPost(t, r.endpoint(), tok, nil, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
				h["Mcp-Session-Id"] = init.header.Get("Mcp-Session-Id")
				rawPost(t, r.endpoint(), tok, h, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
			}
			// 2026-07-28 carries the error class in the HTTP status (-32601
			// → 404, -32602 → 400). The 2025-11-25 session's initialize
			// result declared no tasks: an unknown task id is answered as
			// that upstream answers the method (-32601); stateless, no
			// capabilities were seen: task not found.
			notFound, taskStatus, taskCode, taskReason := 200, 200, -32601, "method_not_allowed"
			if era.stateless {
				notFound, taskStatus, taskCode, taskReason = 404, 400, -32602, "task_not_found"
			}
			before := r.seenMethods.count("tools/call")
			cases := []struct {
				name, method, body string
				status, code       int
				reason             string
			}{
				{"tools/call without id", "tools/call", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_all","arguments":{}` + meta + `}}`, 400, -32600, "not_a_notification"},
				{"ping without id", "ping", `{"jsonrpc":"2.0","method":"ping"}`, 400, -32600, "not_a_notification"},
				{"notification with id", "notifications/initialized", `{"jsonrpc":"2.0","id":9,"method":"notifications/initialized"` + paramsMeta(meta) + `}`, 400, -32600, "not_a_notification"},
				{"unknown method", "acme/delete", `{"jsonrpc":"2.0","id":3,"method":"acme/delete"` + paramsMeta(meta) + `}`, notFound, -32601, "method_not_allowed"},
				{"tasks/get of an unknown task", "tasks/get", `{"jsonrpc":"2.0","id":4,"method":"tasks/get","params":{"taskId":"t-1"` + meta + `}}`, taskStatus, taskCode, taskReason},
			}
			for _, tc := range cases {
				hh := maps(h, "Mcp-Method", tc.method)
				got := rawPost(t, r.endpoint(), tok, hh, tc.body)
				code, msg, reason := rpcErr(t, got.body)
				if got.status != tc.status || code != tc.code || reason != tc.reason {
					t.Errorf("%s: %d %d %q (%s), want %d %d %q", tc.name, got.status, code, reason, msg, tc.status, tc.code, tc.reason)
				}
				if n := r.seenMethods.count(tc.method); tc.method != "notifications/initialized" && n != 0 && tc.method != "tools/call" {
					t.Errorf("%s: the upstream received %d", tc.name, n)
				}
			}
			if n := r.seenMethods.count("tools/call"); n != before {
				t.Fatalf("the upstream received %d tools/call, want %d", n, before)
			}
			r.events.waitFor(t, func(e audit.Event) bool {
				return e.Kind == audit.KindDeny && e.Method == "tools/call" && e.Reason == "not_a_notification"
			})
			// The custom method the registry allows is forwarded (the upstream
			// does not know it and says so itself).
			got := rawPost(t, r.endpoint(), tok, maps(h, "Mcp-Method", "acme/search"), `{"jsonrpc":"2.0","id":5,"method":"acme/search"`+paramsMeta(meta)+`}`)
			if n := r.seenMethods.count("acme/search"); n != 1 {
				t.Fatalf("custom method: upstream received %d, want it forwarded once (%d %s)", n, got.status, got.body)
			}
		})
	}
}

func paramsMeta(meta string) string {
	if meta == "" {
		return ""
	}
	return `,"params":{` + meta[1:] + `}`
}

// maps returns a copy of h with k set to v.
func maps(h map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for hk, hv := range h {
		if hk != k {
			out[hk] = hv
		}
	}
	return out
}

// TestFilteredListsArePrivate: a per-token filtered list is marked
// cacheScope "private", and a header mismatch answers HeaderMismatch.
func TestFilteredListsArePrivate(t *testing.T) {
	r := governedRig(t, true, "")
	tok := governedToken(r)
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	h := map[string]string{"Mcp-Protocol-Version": "2026-07-28"}
	for _, method := range []string{"tools/list", "resources/list", "resources/templates/list", "prompts/list"} {
		got := rawPost(t, r.endpoint(), tok, maps(h, "Mcp-Method", method), `{"jsonrpc":"2.0","id":1,"method":"`+method+`","params":{`+meta+`}}`)
		body := got.body
		if i := indexData(body); i >= 0 {
			body = body[i:]
		}
		var m struct {
			Result struct {
				CacheScope string `json:"cacheScope"`
			} `json:"result"`
		}
		if err := json.Unmarshal([]byte(body), &m); err != nil || m.Result.CacheScope != "private" {
			t.Errorf("%s: cacheScope %q, want private (%v): %s", method, m.Result.CacheScope, err, got.body)
		}
	}
	got := rawPost(t, r.endpoint(), tok, maps(maps(h, "Mcp-Method", "resources/read"), "Mcp-Name", "docs://other"),
		`{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"docs://public",`+meta+`}}`)
	if code, _, _ := rpcErr(t, got.body); got.status != 400 || code != -32020 {
		t.Fatalf("header mismatch: %d %d, want 400 -32020", got.status, code)
	}
	if n := r.seenMethods.count("resources/read"); n != 0 {
		t.Fatalf("upstream received %d resources/read", n)
	}
}

// indexData returns where the JSON of the first SSE data line starts, -1
// for a JSON body.
func indexData(body string) int {
	for i := 0; i+6 <= len(body); i++ {
		if body[i:i+6] == "data: " {
			return i + 6
		}
	}
	return -1
}

// TestResourceUpdatedDropped: after a registry reload revokes a resource, its
// updates no longer reach the session that subscribed while it was granted;
// the updates of a resource still granted do.
func TestResourceUpdatedDropped(t *testing.T) {
	srv := governedServer()
	var current atomic.Pointer[upstreams.Registry]
	var swap func(yaml string)
	r := newRig(t, rigOptions{upstream: srv, registry: strings.Replace(governedRegistry, "    resources:\n", "    resources:\n      - uri: canary://secret\n        scope: data:read\n", 1),
		gwOpts: func(o *gateway.Options) {
			first := o.Registry()
			current.Store(first)
			o.Registry = func() *upstreams.Registry { return current.Load() }
		}})
	swap = func(yaml string) {
		reg, err := upstreams.Parse("test.yaml", []byte(registryHead(r.upstream.URL)+yaml), upstreams.Options{PublicURL: r.server.URL})
		if err != nil {
			t.Fatal(err)
		}
		current.Store(reg)
	}
	updated := make(chan string, 10)
	cs := r.connect(governedToken(r), "2025-11-25", &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) { updated <- req.Params.URI },
	})
	ctx := context.Background()
	for _, uri := range []string{"docs://public", "canary://secret"} {
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
			t.Fatalf("subscribe %s: %v", uri, err)
		}
	}
	// Both updates arrive while both are granted.
	for _, uri := range []string{"canary://secret", "docs://public"} {
		srv.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: uri})
		if got := within(t, updated, "update of "+uri); got != uri {
			t.Fatalf("got update of %s, want %s", got, uri)
		}
	}
	swap(governedRegistry)
	srv.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "canary://secret"})
	srv.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "docs://public"})
	// Updates travel one stream in order: when the public one arrives, the
	// secret one would have arrived before it.
	if got := within(t, updated, "update after the reload"); got != "docs://public" {
		t.Fatalf("got update of %s after its grant was removed", got)
	}
}

// TestRequestStateBoundToPrincipal: an MRTR requestState the gateway relayed
// to one principal, replayed by another, is refused before the upstream;
// its owner's retry goes through.
func TestRequestStateBoundToPrincipal(t *testing.T) {
	var retries atomic.Int32
	r := newRig(t, rigOptions{stateless: true, server: func(s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "confirm_state"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			if req.Params.RequestState == "" {
				return &mcp.CallToolResult{RequestState: "state-of-alice",
					InputRequests: mcp.InputRequestMap{"ok": &mcp.ElicitParams{Message: "Proceed?"}}}, nil, nil
			}
			retries.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		})
	}, extraYAML: "      confirm_state:\n        scope: expenses:read\n"})
	alice := r.token(tokenOptions{user: "alice"})
	bob := r.token(tokenOptions{user: "bob"})
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}`
	h := map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "confirm_state"}
	first := rawPost(t, r.endpoint(), alice, h, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"confirm_state","arguments":{},`+meta+`}}`)
	if !strings.Contains(first.body, "state-of-alice") {
		t.Fatalf("first round: %s", first.body)
	}
	retry := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"confirm_state","arguments":{},"requestState":"state-of-alice","inputResponses":{"ok":{"action":"accept"}},` + meta + `}}`
	got := rawPost(t, r.endpoint(), bob, h, retry)
	if code, _, reason := rpcErr(t, got.body); code != gateway.CodeDenied || reason != "request_state" {
		t.Fatalf("replay by another principal: %d %q: %s", code, reason, got.body)
	}
	got = rawPost(t, r.endpoint(), bob, h, strings.Replace(retry, `"requestState"`, `"RequestState"`, 1))
	if _, _, reason := rpcErr(t, got.body); reason != "invalid_argument" {
		t.Fatalf("case-variant requestState: %q", reason)
	}
	if n := retries.Load(); n != 0 {
		t.Fatalf("the upstream ran %d retries of refused replays", n)
	}
	got = rawPost(t, r.endpoint(), alice, h, retry)
	if !strings.Contains(got.body, "done") || retries.Load() != 1 {
		t.Fatalf("the owner's retry: %s", got.body)
	}
}

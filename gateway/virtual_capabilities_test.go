package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/upstreams"
)

// newVirtualRigYAML serves the registry yaml (its first %s verbs filled
// with urls) through a gateway.
func newVirtualRigYAML(t *testing.T, yaml string, urls ...any) *vrig {
	t.Helper()
	v := &vrig{rig: &rig{t: t, events: &eventLog{}}}
	var err error
	if v.key, err = authority.GenerateEd25519Key("issuer-1"); err != nil {
		t.Fatal(err)
	}
	if v.gwKey, err = authority.GenerateEd25519Key("gw-1"); err != nil {
		t.Fatal(err)
	}
	v.keys = authority.NewKeySet()
	v.keys.Add(v.key, time.Time{})
	v.server = httptest.NewUnstartedServer(nil)
	public := "http://" + v.server.Listener.Addr().String()
	reg, err := upstreams.Parse("fed.yaml", []byte(fmt.Sprintf(yaml, urls...)), upstreams.Options{PublicURL: public})
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	if v.gw, err = gateway.New(gateway.Options{Registry: func() *upstreams.Registry { return reg },
		Issuer: testIssuer, Keys: v.keys, Signer: v.gwKey, PublicURL: public, Recorder: v.events}); err != nil {
		t.Fatal(err)
	}
	v.server.Config.Handler = v.gw
	v.server.Start()
	t.Cleanup(func() { v.server.Close(); v.gw.Close() })
	return v
}

// capsMember is a go-sdk member declaring caps, with one tool.
func capsMember(t *testing.T, name string, caps *mcp.ServerCapabilities, subscribe bool) *member {
	m := &member{name: name}
	opts := &mcp.ServerOptions{Capabilities: caps}
	if subscribe {
		opts.SubscribeHandler = func(context.Context, *mcp.SubscribeRequest) error { return nil }
		opts.UnsubscribeHandler = func(context.Context, *mcp.UnsubscribeRequest) error { return nil }
	}
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, opts)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + ":" + in.Text}}}, nil, nil
	})
	m.sdk = s
	m.serve(t, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	return m
}

// TestVirtualCapabilitiesMerged: the virtual server's initialize reply is
// made of the members' own replies, not of the registry: the union of the
// features (prompts from b although the registry grants none, resource
// subscriptions from a), and an experimental capability only when every
// member declares it.
func TestVirtualCapabilitiesMerged(t *testing.T) {
	a := capsMember(t, "a", &mcp.ServerCapabilities{
		Tools:        &mcp.ToolCapabilities{ListChanged: true},
		Resources:    &mcp.ResourceCapabilities{Subscribe: true},
		Experimental: map[string]any{"shared": map[string]any{}, "only-a": map[string]any{}},
	}, true)
	b := capsMember(t, "b", &mcp.ServerCapabilities{
		Tools:        &mcp.ToolCapabilities{},
		Prompts:      &mcp.PromptCapabilities{ListChanged: true},
		Experimental: map[string]any{"shared": map[string]any{}},
	}, false)
	v := newVirtualRigYAML(t, `version: 1
upstreams:
  - slug: fed
    members:
      - {name: a, url: %s}
      - {name: b, url: %s}
    tools:
      a__echo: {scope: fed:read}
      b__echo: {scope: fed:read}
`, a.srv.URL, b.srv.URL)
	cs := v.connect(nil, "2025-11-25", nil)
	caps := cs.InitializeResult().Capabilities
	if caps.Tools == nil || !caps.Tools.ListChanged {
		t.Errorf("tools = %+v, want listChanged (a declares it)", caps.Tools)
	}
	if caps.Prompts == nil || !caps.Prompts.ListChanged {
		t.Errorf("prompts = %+v, want listChanged (b declares it; the registry has no prompt)", caps.Prompts)
	}
	if caps.Resources == nil || !caps.Resources.Subscribe {
		t.Errorf("resources = %+v, want subscribe (a declares it)", caps.Resources)
	}
	var exp []string
	for k := range caps.Experimental {
		exp = append(exp, k)
	}
	if !slices.Equal(exp, []string{"shared"}) {
		t.Errorf("experimental = %v, want [shared] (only-a is a's alone)", exp)
	}
	if got, err := vCallText(cs, "b__echo", map[string]any{"text": "hi"}); err != nil || got != "b:hi" {
		t.Errorf("b__echo = %q, %v", got, err)
	}
}

// TestVirtualRootsListChanged: a client's notifications/roots/list_changed
// reaches every member, and a member's next roots/list gets the new roots.
func TestVirtualRootsListChanged(t *testing.T) {
	v := newVirtualRig(t)
	cl := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, nil)
	cl.AddRoots(&mcp.Root{URI: "file:///work/project", Name: "project"})
	tok := v.token(tokenOptions{audience: v.endpoint(), scopes: []string{"fed:read"}})
	cs, err := cl.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: v.endpoint(),
		HTTPClient: &http.Client{Transport: bearerTransport{token: tok}}, MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if got, err := vCallText(cs, "a__echo", map[string]any{"text": "x"}); err != nil || got != "a:x" {
		t.Fatalf("a__echo = %q, %v", got, err)
	}
	cl.AddRoots(&mcp.Root{URI: "file:///work/other", Name: "other"})
	deadline := time.Now().Add(10 * time.Second)
	for _, m := range v.members {
		for {
			_, methods := m.seen()
			if slices.Contains(methods, "notifications/roots/list_changed") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("member %s never got notifications/roots/list_changed (got %v)", m.name, methods)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if got, err := vCallText(cs, "a__roots", map[string]any{}); err != nil || got != "a sees file:///work/other,file:///work/project" {
		t.Errorf("a__roots after the change = %q, %v", got, err)
	}
}

// TestVirtualEmptyPrefixBesideOthers: a member with the empty prefix takes
// the names no other member's prefix claims; its own tool named with
// another member's prefix is left out of the list (it would be routed to
// that member).
func TestVirtualEmptyPrefixBesideOthers(t *testing.T) {
	main := capsMember(t, "main", nil, false)
	mcp.AddTool(main.sdk, &mcp.Tool{Name: "b__shadow"}, func(context.Context, *mcp.CallToolRequest, echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "shadowed"}}}, nil, nil
	})
	b := capsMember(t, "b", nil, false)
	v := newVirtualRigYAML(t, `version: 1
upstreams:
  - slug: fed
    members:
      - {name: main, prefix: "", url: %s}
      - {name: b, url: %s}
    tools:
      echo: {scope: fed:read}
      b__echo: {scope: fed:read}
      b__shadow: {scope: fed:read}
`, main.srv.URL, b.srv.URL)
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		cs := v.connect(nil, version, nil)
		if got := vToolNames(t, cs); !slices.Equal(got, []string{"b__echo", "echo"}) {
			t.Errorf("%s: tools = %v, want [b__echo echo]", version, got)
		}
		for _, tc := range []struct{ tool, want string }{{"echo", "main:hi"}, {"b__echo", "b:hi"}} {
			if got, err := vCallText(cs, tc.tool, map[string]any{"text": "hi"}); err != nil || got != tc.want {
				t.Errorf("%s: %s = %q, %v; want %q", version, tc.tool, got, err, tc.want)
			}
		}
		if got, err := vCallText(cs, "b__shadow", map[string]any{}); err == nil {
			t.Errorf("%s: b__shadow reached %q, want an error (b has no tool shadow)", version, got)
		}
	}
}

package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
)

// Tool is one tool of a demo upstream and its binding in the gateway's
// registry.
type Tool struct {
	Name        string
	Description string
	// Binding is the tool's YAML mapping in the registry, one setting a
	// line, e.g. "scope: pay:write\namount: {pointer: /amount, currency: USD}".
	Binding string
	// Args maps each argument to its JSON Schema type ("string", "number").
	Args map[string]string
	// Answer, when set, is the tool's answer to args (a document's text);
	// by default the tool says what it did and for whom.
	Answer func(args map[string]any) string
}

// UpstreamSpec describes a demo upstream served at /mcp/<Slug> by the gateway.
type UpstreamSpec struct {
	Slug string
	// Tools are the upstream's tools and their bindings; for a virtual
	// server (Members), the bindings alone, under the names callers see
	// (with the member's prefix).
	Tools []Tool
	// Members, when set, make the upstream a virtual server: one demo
	// upstream per member, named <Slug>.<Name> in Env.Upstreams, its tools
	// seen as <Name>__<tool>.
	Members []Member
	// URL, when set, is an upstream the demo serves itself (none is
	// started), with Auth as its registry auth mapping ("{kind: oauth}").
	URL, Auth string
}

// Member is one member of a virtual server: a demo upstream with Tools
// (their Binding unused: the virtual server's tools carry the bindings).
type Member struct {
	Name  string
	Tools []Tool
}

// Call is what an upstream saw of one tools/call: the arguments and the
// verified downstream token the gateway sent with it.
type Call struct {
	Tool   string
	Args   map[string]any
	Claims *authority.Claims // the downstream token: sub, act chain ending in the gateway
}

// Upstream is a go-sdk MCP server that runs no real work: each tool answers
// with what it was asked and for whom, after verifying the gateway's
// downstream token (signature, issuer, its own audience, act). It is how a
// demo shows the upstream's view. Safe for concurrent use.
type Upstream struct {
	Slug string
	URL  string // its MCP endpoint; also the audience of the tokens it accepts

	keys   *authority.KeySet
	issuer string
	now    func() time.Time

	mu    sync.Mutex
	calls []Call
}

// Calls returns the tool calls the upstream ran, in order.
func (u *Upstream) Calls() []Call {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Call(nil), u.calls...)
}

func (u *Upstream) server(spec UpstreamSpec) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: spec.Slug, Version: "1.0.0"}, nil)
	for _, t := range spec.Tools {
		schema := &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{}}
		names := make([]string, 0, len(t.Args))
		for name := range t.Args {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			schema.Properties[name] = &jsonschema.Schema{Type: t.Args[name]}
		}
		desc := t.Description
		if desc == "" {
			desc = t.Name
		}
		s.AddTool(&mcp.Tool{Name: t.Name, Description: desc, InputSchema: schema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return u.handle(ctx, req, t.Answer)
		})
	}
	return s
}

func (u *Upstream) handle(_ context.Context, req *mcp.CallToolRequest, answer func(map[string]any) string) (*mcp.CallToolResult, error) {
	var h http.Header
	if req.Extra != nil {
		h = req.Extra.Header
	}
	token, ok := authority.BearerToken(h.Values("Authorization"))
	if !ok {
		return nil, fmt.Errorf("no downstream token")
	}
	c, err := authority.Verify(token, u.keys, authority.VerifyOptions{Issuer: u.issuer, Audience: u.URL, RequireActor: true}, u.now())
	if err != nil {
		return nil, fmt.Errorf("downstream token: %w", err)
	}
	args := map[string]any{}
	if len(req.Params.Arguments) > 0 {
		if err := json.Unmarshal(req.Params.Arguments, &args); err != nil {
			return nil, err
		}
	}
	u.mu.Lock()
	u.calls = append(u.calls, Call{Tool: req.Params.Name, Args: args, Claims: c})
	u.mu.Unlock()
	text := fmt.Sprintf("%s done for %s", req.Params.Name, c.Provenance())
	if answer != nil {
		text = answer(args)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil
}

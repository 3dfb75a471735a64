package mcpgoguard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/sdk"
)

// DefaultMaxBody bounds a POSTed JSON-RPC message when Options.MaxBody is zero.
const DefaultMaxBody = 4 << 20

// Options tune a Guard. A nil *Options means the defaults.
type Options struct {
	// Middleware configures the token check (resource metadata URL, a scope
	// every request needs); its Action is not used. nil = defaults.
	Middleware *sdk.MiddlewareOptions
	// MaxBody bounds a POSTed message; 0 = DefaultMaxBody.
	MaxBody int64
}

// Guard authorizes the tool calls of one mcp-go server. It is immutable and
// safe for concurrent use.
type Guard struct {
	v       *sdk.Verifier
	tools   map[string]*policy.Binding
	mw      func(http.Handler) http.Handler
	maxBody int64
}

// New returns a Guard deciding with v against tools, the binding of each
// tool the server exposes (scope and the arguments policy checks). A tool
// without a binding is refused (tool_not_bound) and hidden. tools is copied.
func New(v *sdk.Verifier, tools map[string]*policy.Binding, opts *Options) *Guard {
	var o Options
	if opts != nil {
		o = *opts
	}
	var mo sdk.MiddlewareOptions
	if o.Middleware != nil {
		mo = *o.Middleware
	}
	mo.Action = nil
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	g := &Guard{v: v, tools: make(map[string]*policy.Binding, len(tools)), mw: v.Middleware(&mo), maxBody: o.MaxBody}
	for name, b := range tools {
		if b != nil {
			cp := *b
			cp.Tool = name
			g.tools[name] = &cp
		}
	}
	return g
}

// decided is what Handler passes to ToolMiddleware for an allowed call.
type decided struct {
	tool string
	hold policy.Hold
}

type decidedKey struct{}

// envelope is the part of a JSON-RPC request the guard reads, decoded with
// encoding/json like mcp-go's own (field names matched the same way, the
// last duplicate winning), so that the tool and arguments decided are those
// mcp-go dispatches.
type envelope struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"params"`
}

// Handler returns next (the mcp-go StreamableHTTPServer) behind the token
// check and the tools/call decision.
func (g *Guard) Handler(next http.Handler) http.Handler {
	return g.mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.maxBody))
		if err != nil {
			status := http.StatusBadRequest
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				status = http.StatusRequestEntityTooLarge
			}
			writeRPC(w, status, nil, &policy.RPCError{Code: -32600, Message: "could not read the request body"})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var env envelope
		if err := json.Unmarshal(body, &env); err != nil {
			writeRPC(w, http.StatusBadRequest, nil, &policy.RPCError{Code: -32700, Message: "the body is not a JSON-RPC message"})
			return
		}
		if env.Method != "tools/call" {
			next.ServeHTTP(w, r)
			return
		}
		g.serveCall(w, r, &env, next)
	}))
}

// serveCall decides one tools/call and, when allowed, hands it to mcp-go
// with the hold for ToolMiddleware; a hold left unsettled is released once
// mcp-go has answered.
func (g *Guard) serveCall(w http.ResponseWriter, r *http.Request, env *envelope, next http.Handler) {
	c, _ := sdk.ClaimsFrom(r.Context())
	call := policy.Call{Tool: env.Params.Name, Arguments: env.Params.Arguments}
	d, hold := g.v.AuthorizeCall(r.Context(), c, g.tools[env.Params.Name], call)
	if !d.Allow {
		writeRPC(w, http.StatusOK, env.ID, d.RPCError())
		return
	}
	defer hold.Release(context.WithoutCancel(r.Context())) // no-op once settled
	ctx := context.WithValue(r.Context(), decidedKey{}, &decided{tool: env.Params.Name, hold: hold})
	next.ServeHTTP(w, r.WithContext(ctx))
}

// ToolMiddleware is a server.ToolHandlerMiddleware: it runs only calls that
// Handler allowed (any other is refused: fail closed) and settles the budget
// hold when the tool returns a result that is not an error.
func (g *Guard) ToolMiddleware(next server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		dc, ok := ctx.Value(decidedKey{}).(*decided)
		if !ok || dc.tool != req.Params.Name {
			return nil, errors.New("denied: the call was not authorized (serve the server behind mcpgoguard.Guard.Handler)")
		}
		res, err := next(ctx, req)
		if err == nil && res != nil && !res.IsError {
			dc.hold.Settle(context.WithoutCancel(ctx))
		}
		return res, err
	}
}

// ToolFilter is a server.ToolFilterFunc listing the tools the token may
// call: bound, scope held, in the token's tools allow-list (policy.Visible,
// the gateway's tools/list rule). Without claims in ctx it lists none.
func (g *Guard) ToolFilter(ctx context.Context, tools []mcp.Tool) []mcp.Tool {
	c, _ := sdk.ClaimsFrom(ctx)
	out := make([]mcp.Tool, 0, len(tools))
	for _, t := range tools {
		if policy.Visible(c, g.tools[t.Name]) {
			out = append(out, t)
		}
	}
	return out
}

// writeRPC answers with one JSON-RPC error response (id nil = null).
func writeRPC(w http.ResponseWriter, status int, id json.RawMessage, e *policy.RPCError) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	b, _ := json.Marshal(struct {
		JSONRPC string           `json:"jsonrpc"`
		ID      json.RawMessage  `json:"id"`
		Error   *policy.RPCError `json:"error"`
	}{"2.0", id, e})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

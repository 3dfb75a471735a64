package mcpguard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/sdk"
)

// claimsExtra is the auth.TokenInfo.Extra key holding the verified claims.
const claimsExtra = "legant.claims"

// tokenError is a refused token: its text is safe for the client (go-sdk
// sends it as the 401 body) and it unwraps to auth.ErrInvalidToken and to
// the cause.
type tokenError struct {
	desc  string
	cause error
}

func (e *tokenError) Error() string   { return e.desc }
func (e *tokenError) Unwrap() []error { return []error{auth.ErrInvalidToken, e.cause} }

// TokenVerifier adapts v to go-sdk's auth.RequireBearerToken. The TokenInfo
// carries the scopes, the expiry, UserID = claims.Principal() (user and agent
// chain: a session cannot change hands) and the claims (ClaimsFromTokenInfo).
func TokenVerifier(v *sdk.Verifier) auth.TokenVerifier {
	return func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		c, err := v.Verify(ctx, token)
		if errors.Is(err, sdk.ErrFeedStale) {
			return nil, errors.New(sdk.ErrorDescription(err)) // not the token's fault: 500, no challenge
		}
		if err != nil {
			return nil, &tokenError{desc: sdk.ErrorDescription(err), cause: err}
		}
		return &auth.TokenInfo{Scopes: c.Scopes, Expiration: c.ExpiresAt, UserID: c.Principal(),
			Extra: map[string]any{claimsExtra: c}}, nil
	}
}

// RequireBearerToken is the HTTP middleware for a go-sdk streamable handler:
// v.Middleware first (the gateway's RFC 6750 challenges, claims in the
// request context), then auth.RequireBearerToken with TokenVerifier (go-sdk's
// TokenInfo for the transport and for Middleware; the second verification is
// served from the Verifier's token cache). opts.Action is not used: tools
// are authorized per call by Middleware.
func RequireBearerToken(v *sdk.Verifier, opts *sdk.MiddlewareOptions) func(http.Handler) http.Handler {
	var o sdk.MiddlewareOptions
	if opts != nil {
		o = *opts
	}
	o.Action = nil
	if o.ResourceMetadata == "" {
		o.ResourceMetadata = v.ResourceMetadataURL()
	}
	outer := v.Middleware(&o)
	inner := auth.RequireBearerToken(TokenVerifier(v), &auth.RequireBearerTokenOptions{ResourceMetadataURL: o.ResourceMetadata})
	return func(next http.Handler) http.Handler { return outer(inner(next)) }
}

// ClaimsFromTokenInfo returns the claims TokenVerifier stored in ti.
func ClaimsFromTokenInfo(ti *auth.TokenInfo) (*authority.Claims, bool) {
	if ti == nil {
		return nil, false
	}
	c, ok := ti.Extra[claimsExtra].(*authority.Claims)
	return c, ok && c != nil
}

// Middleware returns the receiving mcp.Middleware that authorizes every
// tools/call with v (sdk.Verifier.AuthorizeCall: the gateway's policy and
// budgets) against tools, the binding of each tool the server exposes. A
// tool without a binding is refused (tool_not_bound) and hidden from
// tools/list, as in the gateway's registry. tools is copied.
func Middleware(v *sdk.Verifier, tools map[string]*policy.Binding) mcp.Middleware {
	g := &guard{v: v, tools: make(map[string]*policy.Binding, len(tools))}
	for name, b := range tools {
		if b != nil {
			cp := *b
			cp.Tool = name
			g.tools[name] = &cp
		}
	}
	return g.middleware
}

// guard is the state of Middleware. Immutable; safe for concurrent use.
type guard struct {
	v     *sdk.Verifier
	tools map[string]*policy.Binding
}

func (g *guard) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		var c *authority.Claims
		if extra := req.GetExtra(); extra != nil {
			c, _ = ClaimsFromTokenInfo(extra.TokenInfo)
		}
		if c != nil {
			ctx = sdk.ContextWithClaims(ctx, c)
		}
		switch method {
		case "tools/call":
			call, ok := req.(*mcp.CallToolRequest)
			if !ok {
				return nil, rpcError(policy.Deny(policy.ReasonInvalidArgument, "unexpected tools/call request"))
			}
			return g.call(ctx, c, call, next)
		case "tools/list":
			res, err := next(ctx, method, req)
			if list, ok := res.(*mcp.ListToolsResult); ok && err == nil {
				list.Tools = g.visible(c, list.Tools)
			}
			return res, err
		}
		return next(ctx, method, req)
	}
}

// call decides one tools/call and runs it when allowed, settling the budget
// hold when the tool succeeds and releasing it otherwise.
func (g *guard) call(ctx context.Context, c *authority.Claims, req *mcp.CallToolRequest, next mcp.MethodHandler) (mcp.Result, error) {
	if c == nil {
		return nil, rpcError(policy.Deny(policy.ReasonUnauthenticated, "no verified token"))
	}
	var name string
	var args json.RawMessage
	if req.Params != nil {
		name, args = req.Params.Name, req.Params.Arguments
	}
	d, hold := g.v.AuthorizeCall(ctx, c, g.tools[name], policy.Call{Tool: name, Arguments: args})
	if !d.Allow {
		return nil, rpcError(d)
	}
	bg := context.WithoutCancel(ctx) // the hold must close even if the call was cancelled
	defer hold.Release(bg)           // no-op once settled
	res, err := next(ctx, "tools/call", req)
	if r, ok := res.(*mcp.CallToolResult); ok && err == nil && !r.IsError {
		hold.Settle(bg)
	}
	return res, err
}

// visible keeps the tools the token may call: bound, scope held, in the
// token's tools allow-list (policy.Visible, the gateway's tools/list rule).
func (g *guard) visible(c *authority.Claims, tools []*mcp.Tool) []*mcp.Tool {
	out := tools[:0:0]
	for _, t := range tools {
		if policy.Visible(c, g.tools[t.Name]) {
			out = append(out, t)
		}
	}
	return out
}

// rpcError is the gateway's JSON-RPC error for a denial, as go-sdk sends it.
func rpcError(d policy.Decision) error {
	e := d.RPCError()
	if e == nil {
		e = policy.Deny(policy.ReasonToolNotBound, "no decision").RPCError()
	}
	var data json.RawMessage
	if e.Data != nil {
		data, _ = json.Marshal(e.Data)
	}
	return &jsonrpc.Error{Code: int64(e.Code), Message: e.Message, Data: data}
}

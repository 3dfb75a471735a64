package virtual

import (
	"context"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/upstreams"
)

// middleware serves the methods the members answer; the session's own
// server answers the rest (initialize, ping, logging level).
func (s *session) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		switch method {
		case "initialize":
			if ss, ok := req.GetSession().(*mcp.ServerSession); ok {
				s.mu.Lock()
				s.ss = ss
				s.mu.Unlock()
				s.h.register(s, ss)
			}
			return next(ctx, method, req)
		case "tools/list":
			res, err := s.listTools(ctx)
			if err != nil {
				return nil, err
			}
			res.Tools, res.NextCursor, err = page(s, "tools", res.Tools, func(t *mcp.Tool) string { return t.Name }, cursorOf(req))
			return res, err
		case "tools/call":
			return s.callTool(ctx, req.(*mcp.CallToolRequest))
		case "prompts/list":
			res, err := s.listPrompts(ctx)
			if err != nil {
				return nil, err
			}
			res.Prompts, res.NextCursor, err = page(s, "prompts", res.Prompts, func(p *mcp.Prompt) string { return p.Name }, cursorOf(req))
			return res, err
		case "prompts/get":
			return s.getPrompt(ctx, req.(*mcp.GetPromptRequest))
		case "resources/list":
			res, err := s.listResources(ctx)
			if err != nil {
				return nil, err
			}
			res.Resources, res.NextCursor, err = page(s, "resources", res.Resources, func(r *mcp.Resource) string { return r.URI }, cursorOf(req))
			return res, err
		case "resources/templates/list":
			res, err := s.listTemplates(ctx)
			if err != nil {
				return nil, err
			}
			res.ResourceTemplates, res.NextCursor, err = page(s, "templates", res.ResourceTemplates, func(r *mcp.ResourceTemplate) string { return r.URITemplate }, cursorOf(req))
			return res, err
		case "resources/read":
			return s.readResource(ctx, req.(*mcp.ReadResourceRequest))
		case "completion/complete":
			return s.complete(ctx, req.(*mcp.CompleteRequest))
		case "logging/setLevel":
			if p, ok := req.GetParams().(*mcp.SetLoggingLevelParams); ok && p != nil {
				s.setLevel(ctx, p.Level)
			}
		}
		return next(ctx, method, req)
	}
}

func all[T any](ctx context.Context, pages func(ctx context.Context, cursor string) ([]T, string, error)) ([]T, error) {
	var out []T
	cursor := ""
	for range 1000 {
		items, next, err := pages(ctx, cursor)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if next == "" {
			return out, nil
		}
		cursor = next
	}
	return out, fmt.Errorf("more than 1000 pages")
}

func (s *session) listTools(ctx context.Context) (*mcp.ListToolsResult, error) {
	lists := each(ctx, s, func(ctx context.Context, c *memberConn) ([]*mcp.Tool, error) {
		if c.cs.InitializeResult().Capabilities.Tools == nil {
			return nil, nil
		}
		ts, err := all(ctx, func(ctx context.Context, cursor string) ([]*mcp.Tool, string, error) {
			r, err := c.cs.ListTools(ctx, &mcp.ListToolsParams{Cursor: cursor})
			if err != nil {
				return nil, "", err
			}
			return r.Tools, r.NextCursor, nil
		})
		for _, t := range ts {
			t.Name = c.m.Prefix + t.Name
		}
		return ts, err
	})
	res := &mcp.ListToolsResult{Tools: []*mcp.Tool{}}
	for _, l := range lists {
		res.Tools = append(res.Tools, l...)
	}
	return res, nil
}

func (s *session) listPrompts(ctx context.Context) (*mcp.ListPromptsResult, error) {
	lists := each(ctx, s, func(ctx context.Context, c *memberConn) ([]*mcp.Prompt, error) {
		if c.cs.InitializeResult().Capabilities.Prompts == nil {
			return nil, nil
		}
		ps, err := all(ctx, func(ctx context.Context, cursor string) ([]*mcp.Prompt, string, error) {
			r, err := c.cs.ListPrompts(ctx, &mcp.ListPromptsParams{Cursor: cursor})
			if err != nil {
				return nil, "", err
			}
			return r.Prompts, r.NextCursor, nil
		})
		for _, p := range ps {
			p.Name = c.m.Prefix + p.Name
		}
		return ps, err
	})
	res := &mcp.ListPromptsResult{Prompts: []*mcp.Prompt{}}
	for _, l := range lists {
		res.Prompts = append(res.Prompts, l...)
	}
	return res, nil
}

func (s *session) listResources(ctx context.Context) (*mcp.ListResourcesResult, error) {
	type listed struct {
		m  string
		rs []*mcp.Resource
	}
	lists := each(ctx, s, func(ctx context.Context, c *memberConn) (listed, error) {
		if c.cs.InitializeResult().Capabilities.Resources == nil {
			return listed{}, nil
		}
		rs, err := all(ctx, func(ctx context.Context, cursor string) ([]*mcp.Resource, string, error) {
			r, err := c.cs.ListResources(ctx, &mcp.ListResourcesParams{Cursor: cursor})
			if err != nil {
				return nil, "", err
			}
			return r.Resources, r.NextCursor, nil
		})
		return listed{c.m.Name, rs}, err
	})
	res := &mcp.ListResourcesResult{Resources: []*mcp.Resource{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range lists {
		for _, r := range l.rs {
			if owner, dup := s.uris[r.URI]; dup && owner != l.m {
				continue // the first member to list a URI keeps it
			}
			s.uris[r.URI] = l.m
			res.Resources = append(res.Resources, r)
		}
	}
	return res, nil
}

func (s *session) listTemplates(ctx context.Context) (*mcp.ListResourceTemplatesResult, error) {
	lists := each(ctx, s, func(ctx context.Context, c *memberConn) ([]*mcp.ResourceTemplate, error) {
		if c.cs.InitializeResult().Capabilities.Resources == nil {
			return nil, nil
		}
		return all(ctx, func(ctx context.Context, cursor string) ([]*mcp.ResourceTemplate, string, error) {
			r, err := c.cs.ListResourceTemplates(ctx, &mcp.ListResourceTemplatesParams{Cursor: cursor})
			if err != nil {
				return nil, "", err
			}
			return r.ResourceTemplates, r.NextCursor, nil
		})
	})
	res := &mcp.ListResourceTemplatesResult{ResourceTemplates: []*mcp.ResourceTemplate{}}
	for _, l := range lists {
		res.ResourceTemplates = append(res.ResourceTemplates, l...)
	}
	return res, nil
}

// call runs f on member m within the request's context and the member's
// call timeout: cancelling the request cancels the member call, which sends
// the member notifications/cancelled; a member past its timeout is
// unavailable for this call.
func call[T any](ctx context.Context, s *session, m *upstreams.Member, f func(ctx context.Context, c *memberConn) (T, error)) (T, error) {
	var zero T
	c, err := s.member(m)
	if err != nil {
		return zero, unavailable(m, err)
	}
	done := c.enter(ctx)
	defer done()
	mctx := ctx
	if d := m.Timeouts.Call; d > 0 {
		var cancel context.CancelFunc
		mctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	v, err := f(mctx, c)
	if err != nil {
		if ctx.Err() != nil {
			return zero, ctx.Err()
		}
		protocol, out := memberError(m, err)
		if !protocol && mctx.Err() == nil { // a slow member is not a broken one
			s.drop(c)
		}
		return zero, out
	}
	return v, nil
}

func unknown(kind, name string) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown %s %q", kind, name)}
}

func (s *session) callTool(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	m, name, ok := s.h.up.MemberOf(req.Params.Name)
	if !ok {
		return nil, unknown("tool", req.Params.Name)
	}
	return call(ctx, s, m, func(ctx context.Context, c *memberConn) (*mcp.CallToolResult, error) {
		r := req.Params
		p := &mcp.CallToolParams{Meta: hopMeta(r.Meta), Name: name, InputResponses: r.InputResponses, RequestState: r.RequestState}
		if len(r.Arguments) > 0 {
			p.Arguments = r.Arguments
		}
		return c.cs.CallTool(ctx, p)
	})
}

func (s *session) getPrompt(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	m, name, ok := s.h.up.MemberOf(req.Params.Name)
	if !ok {
		return nil, unknown("prompt", req.Params.Name)
	}
	return call(ctx, s, m, func(ctx context.Context, c *memberConn) (*mcp.GetPromptResult, error) {
		p := *req.Params
		p.Name = name
		p.Meta = hopMeta(p.Meta)
		return c.cs.GetPrompt(ctx, &p)
	})
}

// readResource reads from the member that listed the URI; an URI no member
// listed (a template's) is tried on each member in turn.
func (s *session) readResource(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	return byURI(ctx, s, req.Params.URI, func(ctx context.Context, c *memberConn) (*mcp.ReadResourceResult, error) {
		p := *req.Params
		p.Meta = hopMeta(p.Meta)
		return c.cs.ReadResource(ctx, &p)
	})
}

// byURI runs f on the member that listed uri, or on each member with
// resources in turn until one answers.
func byURI[T any](ctx context.Context, s *session, uri string, f func(ctx context.Context, c *memberConn) (T, error)) (T, error) {
	s.mu.Lock()
	owner, listed := s.uris[uri]
	s.mu.Unlock()
	var zero T
	var last error = unknown("resource", uri)
	for i := range s.h.up.Members {
		m := &s.h.up.Members[i]
		if listed && m.Name != owner {
			continue
		}
		r, err := call(ctx, s, m, f)
		if err == nil || listed || ctx.Err() != nil {
			return r, err
		}
		last = err
	}
	return zero, last
}

func (s *session) subscribe(ctx context.Context, req *mcp.SubscribeRequest) error {
	_, err := byURI(ctx, s, req.Params.URI, func(ctx context.Context, c *memberConn) (struct{}, error) {
		return struct{}{}, c.cs.Subscribe(ctx, req.Params)
	})
	return err
}

func (s *session) unsubscribe(ctx context.Context, req *mcp.UnsubscribeRequest) error {
	_, err := byURI(ctx, s, req.Params.URI, func(ctx context.Context, c *memberConn) (struct{}, error) {
		return struct{}{}, c.cs.Unsubscribe(ctx, req.Params)
	})
	return err
}

// complete asks the member of the prompt (by prefix) or of the resource.
func (s *session) complete(ctx context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	ref := req.Params.Ref
	if ref == nil {
		return nil, unknown("completion reference", "")
	}
	if ref.Type == "ref/prompt" {
		m, name, ok := s.h.up.MemberOf(ref.Name)
		if !ok {
			return nil, unknown("prompt", ref.Name)
		}
		return call(ctx, s, m, func(ctx context.Context, c *memberConn) (*mcp.CompleteResult, error) {
			p := *req.Params
			r := *ref
			r.Name = name
			p.Ref = &r
			p.Meta = hopMeta(p.Meta)
			return c.cs.Complete(ctx, &p)
		})
	}
	return byURI(ctx, s, ref.URI, func(ctx context.Context, c *memberConn) (*mcp.CompleteResult, error) {
		p := *req.Params
		p.Meta = hopMeta(p.Meta)
		return c.cs.Complete(ctx, &p)
	})
}

// setLevel passes the client's logging level to the members open now; the
// others get it when they open.
func (s *session) setLevel(ctx context.Context, level mcp.LoggingLevel) {
	s.mu.Lock()
	s.level = level
	open := make([]*memberConn, 0, len(s.members))
	for _, c := range s.members {
		if c.cs != nil {
			open = append(open, c)
		}
	}
	s.mu.Unlock()
	for _, c := range open {
		if c.cs.InitializeResult().Capabilities.Logging != nil {
			_ = c.cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: level})
		}
	}
}

// hopMeta returns meta without what describes the client's own hop (its
// protocol revision, identity and capabilities, SEP-2575): a member session
// has its own, and a member of an older revision refuses a request that
// claims a newer one.
func hopMeta(meta mcp.Meta) mcp.Meta {
	if meta == nil {
		return nil
	}
	out := make(mcp.Meta, len(meta))
	for k, v := range meta {
		switch k {
		case mcp.MetaKeyProtocolVersion, mcp.MetaKeyClientInfo, mcp.MetaKeyClientCapabilities:
			continue
		}
		out[k] = v
	}
	return out
}

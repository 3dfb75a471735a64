package virtual

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/upstreams"
)

// session is one gateway session: its server and its member sessions.
type session struct {
	h   *Handler
	srv *mcp.Server

	mu      sync.Mutex
	ss      *mcp.ServerSession
	cred    Credential
	members map[string]*memberConn // by member name
	uris    map[string]string      // resource URI -> member name, as listed
	level   mcp.LoggingLevel       // the client's logging/setLevel, passed to each member
	closed  bool
}

func newSession(h *Handler, c Credential) *session {
	return &session{h: h, cred: c, members: map[string]*memberConn{}, uris: map[string]string{}}
}

func (s *session) setCredential(c Credential) {
	if c == nil {
		return
	}
	s.mu.Lock()
	s.cred = c
	s.mu.Unlock()
}

func (s *session) credential() Credential {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cred
}

// id is the session's id ("" for a stateless request).
func (s *session) id() string {
	if ss := s.server(); ss != nil {
		return ss.ID()
	}
	return ""
}

func (s *session) server() *mcp.ServerSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ss
}

func (s *session) close() {
	s.mu.Lock()
	s.closed = true
	ms := s.members
	s.members = map[string]*memberConn{}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range ms {
		wg.Go(c.close)
	}
	wg.Wait()
}

// memberConn is the session of one member, opened on first use. A failed
// member's connection is dropped, and the next use opens a new one.
type memberConn struct {
	m    *upstreams.Member
	once sync.Once
	cs   *mcp.ClientSession
	err  error

	mu     sync.Mutex
	active []context.Context // contexts of the session's requests now calling the member
}

func (c *memberConn) close() {
	c.once.Do(func() { c.err = errors.New("closed") })
	if c.cs != nil {
		_ = c.cs.Close()
	}
}

// related returns the context of the latest request now calling the member,
// so that a request the member sends meanwhile goes to the client on that
// request's stream; the session's own context when none.
func (c *memberConn) related() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.active); n > 0 {
		return c.active[n-1]
	}
	return context.Background()
}

func (c *memberConn) enter(ctx context.Context) func() {
	c.mu.Lock()
	c.active = append(c.active, ctx)
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		if i := slices.Index(c.active, ctx); i >= 0 {
			c.active = slices.Delete(c.active, i, i+1)
		}
		c.mu.Unlock()
	}
}

// member returns the open session of m, opening it if needed within m's
// connect timeout.
func (s *session) member(m *upstreams.Member) (*memberConn, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("session closed")
	}
	c := s.members[m.Name]
	if c == nil {
		c = &memberConn{m: m}
		s.members[m.Name] = c
	}
	s.mu.Unlock()
	c.once.Do(func() { c.cs, c.err = s.connect(c) })
	if c.err != nil {
		s.drop(c)
		return nil, c.err
	}
	return c, nil
}

// drop forgets c (a failed connection) so that the next use reconnects.
func (s *session) drop(c *memberConn) {
	s.mu.Lock()
	if s.members[c.m.Name] == c {
		delete(s.members, c.m.Name)
	}
	s.mu.Unlock()
	go c.close()
}

func (s *session) connect(c *memberConn) (*mcp.ClientSession, error) {
	m := c.m
	client, endpoint, err := s.h.opts.Dial(m.Upstream)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: &credTransport{s: s, m: m.Upstream, base: client}, CheckRedirect: client.CheckRedirect}
	opts := &mcp.ClientOptions{
		ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			ss := s.server()
			if ss == nil {
				return nil, errors.New("no client session")
			}
			return ss.Elicit(c.related(), req.Params)
		},
		CreateMessageHandler: func(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			ss := s.server()
			if ss == nil {
				return nil, errors.New("no client session")
			}
			return ss.CreateMessage(c.related(), req.Params)
		},
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) {
			if ss := s.server(); ss != nil {
				_ = ss.Log(c.related(), req.Params)
			}
		},
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			if ss := s.server(); ss != nil {
				_ = ss.NotifyProgress(c.related(), req.Params)
			}
		},
		ResourceUpdatedHandler: func(ctx context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			_ = s.srv.ResourceUpdated(context.WithoutCancel(ctx), req.Params)
		},
		ToolListChangedHandler:     func(context.Context, *mcp.ToolListChangedRequest) { s.listChanged("tools") },
		PromptListChangedHandler:   func(context.Context, *mcp.PromptListChangedRequest) { s.listChanged("prompts") },
		ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) { s.listChanged("resources") },
	}
	cl := mcp.NewClient(&mcp.Implementation{Name: "legant-virtual", Version: "1"}, opts)
	// roots/list and elicitation/create of a member are the client's: asked
	// again by the session's server (which has its own ids), on the stream
	// of the member's call. Elicitation is taken before the SDK client
	// checks the schema: the client, not this hop, judges what it can show.
	cl.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			switch method {
			case "roots/list", "elicitation/create":
			default:
				return next(ctx, method, req)
			}
			ss := s.server()
			if ss == nil {
				return nil, errors.New("no client session")
			}
			if method == "roots/list" {
				return ss.ListRoots(c.related(), &mcp.ListRootsParams{})
			}
			p, _ := req.GetParams().(*mcp.ElicitParams)
			return ss.Elicit(c.related(), p)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), m.Timeouts.Connect)
	defer cancel()
	cs, err := cl.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, MaxRetries: 1}, nil)
	if err != nil {
		return nil, err
	}
	if level := s.logLevel(); level != "" && cs.InitializeResult().Capabilities.Logging != nil {
		_ = cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: level})
	}
	return cs, nil
}

func (s *session) logLevel() mcp.LoggingLevel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.level
}

// listChanged tells the client a list changed: the session's own server
// notifies its sessions when its (empty) lists change, so a sentinel is
// added and removed.
func (s *session) listChanged(kind string) {
	const sentinel = "legant-virtual-list-changed"
	switch kind {
	case "tools":
		s.srv.AddTool(&mcp.Tool{Name: sentinel, InputSchema: map[string]any{"type": "object"}},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return nil, errors.New("unreachable")
			})
		s.srv.RemoveTools(sentinel)
	case "prompts":
		s.srv.AddPrompt(&mcp.Prompt{Name: sentinel},
			func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				return nil, errors.New("unreachable")
			})
		s.srv.RemovePrompts(sentinel)
	case "resources":
		uri := "legant-virtual:" + sentinel
		s.srv.AddResource(&mcp.Resource{URI: uri, Name: sentinel},
			func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
				return nil, errors.New("unreachable")
			})
		s.srv.RemoveResources(uri)
	}
}

// credTransport puts the session's latest credential on each request to a member.
type credTransport struct {
	s    *session
	m    *upstreams.Upstream
	base *http.Client
}

func (t *credTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range t.m.Headers {
		req.Header.Set(k, v)
	}
	if c := t.s.credential(); c != nil {
		if err := c(req.Context(), t.m, req); err != nil {
			return nil, err
		}
	}
	rt := t.base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	return rt.RoundTrip(req)
}

// each runs f on every member concurrently, each within its connect
// timeout, and returns the results of those that answered, in member order.
func each[T any](ctx context.Context, s *session, f func(ctx context.Context, c *memberConn) (T, error)) []T {
	ms := s.h.up.Members
	out := make([]T, len(ms))
	ok := make([]bool, len(ms))
	var wg sync.WaitGroup
	for i := range ms {
		m := &ms[i]
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, m.Timeouts.Connect)
			defer cancel()
			c, err := s.member(m)
			if err != nil {
				s.h.opts.Logger.Warn("virtual: member unavailable", "member", m.Name, "err", err)
				return
			}
			done := c.enter(ctx)
			defer done()
			v, err := f(ctx, c)
			if err != nil {
				if protocol, _ := memberError(m, err); !protocol && ctx.Err() == nil {
					s.drop(c)
				}
				s.h.opts.Logger.Warn("virtual: member list failed", "member", m.Name, "err", err)
				return
			}
			out[i], ok[i] = v, true
		})
	}
	wg.Wait()
	var res []T
	for i := range out {
		if ok[i] {
			res = append(res, out[i])
		}
	}
	return res
}

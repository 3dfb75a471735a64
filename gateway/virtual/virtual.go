// Package virtual serves a virtual upstream: several upstream servers (the
// members) behind one slug, as one MCP server speaking Streamable HTTP to
// the gateway, in process (gateway/bridges.go reaches it through
// bridge.Transport, as it reaches the stdio and legacy SSE bridges).
//
// Every gateway session gets its own server and, lazily, one client session
// per member. Tool and prompt names carry the member's prefix; resource URIs
// keep their names and are routed to the member that listed them. Lists
// merge what the members answered within their connect timeout: a member
// that is down or slow only loses its own objects, and a call to it fails
// with -32035 naming it. Server-to-client requests of members are re-sent by
// the session's own server, so their ids are the server's and never collide;
// list_changed of any member is forwarded. Cancelling a request (the
// gateway's notifications/cancelled, sent on a kill or a client's cancel)
// cancels the member calls it made, which notify the members in turn.
//
// The gateway governs the virtual slug as any upstream: its registry entry
// lists the prefixed names, so policy, budgets, audit and kill apply
// unchanged. This package trusts what reaches it: only the gateway does.
package virtual

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/upstreams"
)

// CodeMemberUnavailable is the JSON-RPC error code of a call to a member
// that cannot be reached (the gateway's code for an unavailable upstream).
const CodeMemberUnavailable = -32035

// Dialer returns the HTTP client and endpoint that reach a member over
// Streamable HTTP (for the gateway: its upstreamClient, which bridges stdio
// and legacy SSE members).
type Dialer func(m *upstreams.Upstream) (*http.Client, string, error)

// Credential puts on req, a request to member m, the credential the member
// takes (for the gateway: the downstream token minted for the member's own
// audience on behalf of the caller, or the member's static secret).
type Credential func(ctx context.Context, m *upstreams.Upstream, req *http.Request) error

type credKey struct{}

// WithCredential returns ctx carrying the credential of the caller of a
// request to the handler. The handler uses the latest one a session's
// requests carried for the member requests of that session.
func WithCredential(ctx context.Context, c Credential) context.Context {
	return context.WithValue(ctx, credKey{}, c)
}

func credentialFrom(ctx context.Context) Credential {
	c, _ := ctx.Value(credKey{}).(Credential)
	return c
}

// Options configure a Handler.
type Options struct {
	Logger *slog.Logger
	Dial   Dialer
}

// Handler serves one virtual upstream. Safe for concurrent use.
type Handler struct {
	up   *upstreams.Upstream
	opts Options
	http *mcp.StreamableHTTPHandler
	// stateless serves the requests of revisions from 2026-07-28 on
	// (stateless: no initialize, no session): each request gets its own
	// server and member sessions, closed when it ends.
	stateless *mcp.StreamableHTTPHandler

	cursorKey [32]byte // MACs the cursors of merged lists (cursor.go)

	mu       sync.Mutex
	sessions map[string]*session // by Mcp-Session-Id
	closed   bool
}

// New returns the handler of up, which must have members.
func New(up *upstreams.Upstream, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{up: up, opts: opts, sessions: map[string]*session{}}
	if _, err := rand.Read(h.cursorKey[:]); err != nil {
		panic(err) // crypto/rand does not fail
	}
	h.stateless = mcp.NewStreamableHTTPHandler(h.newStatelessServer, &mcp.StreamableHTTPOptions{
		Logger: opts.Logger, Stateless: true, DisableLocalhostProtection: true,
	})
	h.http = mcp.NewStreamableHTTPHandler(h.newServer, &mcp.StreamableHTTPOptions{
		Logger: opts.Logger,
		// Only the gateway reaches the handler, in process: its request
		// context carries the loopback address of the gateway's own caller,
		// which the SDK's DNS-rebinding check would hold against the
		// in-process host name. The gateway checks its callers itself.
		DisableLocalhostProtection: true,
	})
	return h
}

// ServeHTTP serves the gateway's Streamable HTTP requests.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if v := r.Header.Get("Mcp-Protocol-Version"); v >= statelessRevision && r.Header.Get("Mcp-Session-Id") == "" {
		var held heldSession
		h.stateless.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), heldKey{}, &held)))
		held.close()
		return
	}
	if id := r.Header.Get("Mcp-Session-Id"); id != "" {
		if s := h.lookup(id); s != nil {
			s.setCredential(credentialFrom(r.Context()))
		}
	}
	h.http.ServeHTTP(w, r)
}

// HasSession reports whether the handler holds the session id.
func (h *Handler) HasSession(id string) bool { return h.lookup(id) != nil }

// Close ends every session and its member sessions.
func (h *Handler) Close() error {
	h.mu.Lock()
	h.closed = true
	all := h.sessions
	h.sessions = map[string]*session{}
	h.mu.Unlock()
	for _, s := range all {
		s.close()
	}
	return nil
}

func (h *Handler) lookup(id string) *session {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions[id]
}

// statelessRevision is the first protocol revision without sessions.
const statelessRevision = "2026-07-28"

type heldKey struct{}

// heldSession is the session of one stateless request.
type heldSession struct {
	mu sync.Mutex
	s  []*session
}

func (hs *heldSession) close() {
	hs.mu.Lock()
	ss := hs.s
	hs.s = nil
	hs.mu.Unlock()
	for _, s := range ss {
		s.close()
	}
}

// newStatelessServer makes the server of one stateless request; its member
// sessions are closed when the request ends.
func (h *Handler) newStatelessServer(r *http.Request) *mcp.Server {
	srv, s := h.server(r)
	if held, ok := r.Context().Value(heldKey{}).(*heldSession); ok {
		held.mu.Lock()
		held.s = append(held.s, s)
		held.mu.Unlock()
	}
	return srv
}

// newServer makes the server of a new session (its initialize request).
func (h *Handler) newServer(r *http.Request) *mcp.Server {
	srv, _ := h.server(r)
	return srv
}

func (h *Handler) server(r *http.Request) (*mcp.Server, *session) {
	s := newSession(h, credentialFrom(r.Context()))
	srv := mcp.NewServer(&mcp.Implementation{Name: "legant-virtual", Version: "1"}, &mcp.ServerOptions{
		Logger:             h.opts.Logger,
		Capabilities:       h.capabilities(),
		SubscribeHandler:   s.subscribe,
		UnsubscribeHandler: s.unsubscribe,
	})
	s.srv = srv
	srv.AddReceivingMiddleware(s.middleware)
	return srv, s
}

// capabilities are those of what the registry entry can show: tools always
// (an entry lists at least one), prompts and resources when it registers
// any, each with list_changed (forwarded from any member), resource
// subscriptions and completions with them; logging always (the members'
// log messages are forwarded).
func (h *Handler) capabilities() *mcp.ServerCapabilities {
	c := &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}, Logging: &mcp.LoggingCapabilities{}}
	if len(h.up.Prompts) > 0 {
		c.Prompts = &mcp.PromptCapabilities{ListChanged: true}
	}
	if len(h.up.Resources) > 0 {
		c.Resources = &mcp.ResourceCapabilities{ListChanged: true, Subscribe: true}
	}
	if c.Prompts != nil || c.Resources != nil {
		c.Completions = &mcp.CompletionCapabilities{}
	}
	return c
}

// register records a session once its server session exists; it is
// forgotten when the server session ends.
func (h *Handler) register(s *session, ss *mcp.ServerSession) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		s.close()
		return
	}
	h.sessions[ss.ID()] = s
	h.mu.Unlock()
	go func() {
		_ = ss.Wait()
		h.mu.Lock()
		delete(h.sessions, ss.ID())
		h.mu.Unlock()
		s.close()
	}()
}

// unavailable is the error of a call to a member that cannot be reached.
func unavailable(m *upstreams.Member, err error) error {
	return &jsonrpc.Error{Code: CodeMemberUnavailable, Message: fmt.Sprintf("upstream member %q is unavailable: %v", m.Name, err)}
}

// The SDK's codes for a request its own side did not deliver (rejected by
// the transport, server or client closing): the member was not reached.
var undelivered = []int64{-32005, -32004, -32003}

// memberError passes a member's JSON-RPC error through, and turns any other
// failure (transport, timeout, undelivered) into unavailable.
func memberError(m *upstreams.Member, err error) (protocol bool, out error) {
	var we *jsonrpc.Error
	if errors.As(err, &we) && !slices.Contains(undelivered, we.Code) {
		return true, we
	}
	return false, unavailable(m, err)
}

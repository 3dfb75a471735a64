package bridge

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/openlegant/legant/authority"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxMessageBytes = 16 << 20
	DefaultKillGrace       = 2 * time.Second
	DefaultIdleTimeout     = 30 * time.Minute
	DefaultConnectTimeout  = 5 * time.Second
)

const headerSessionID = "Mcp-Session-Id"

// Options configures a Handler. The zero value means every default.
type Options struct {
	// Logger receives the bridge's operational logs and the bounded stderr of
	// child processes; nil means slog.Default().
	Logger *slog.Logger
	// MaxMessageBytes bounds one JSON-RPC message (a line on stdio, an event
	// on legacy SSE) and one POST body; zero means DefaultMaxMessageBytes. A
	// larger message from the server ends its session.
	MaxMessageBytes int
	// KillGrace is how long a child process has to exit after its stdin is
	// closed before its process group is killed, and how long a descendant
	// that left the group may keep the child's stderr open after that; zero
	// means DefaultKillGrace.
	KillGrace time.Duration
	// IdleTimeout ends a session that has had no open stream and no request
	// for this long; zero means DefaultIdleTimeout, negative means never.
	IdleTimeout time.Duration
	// ConnectTimeout bounds starting a session (opening the legacy SSE stream
	// and reading its endpoint event); zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.KillGrace <= 0 {
		o.KillGrace = DefaultKillGrace
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	return o
}

// link is one session's connection to the server behind the bridge: a child
// process or a legacy SSE connection.
type link struct {
	conn jsonrpcConn
	// refresh receives the headers of every request of the session; nil
	// means the link has no use for them.
	refresh func(http.Header)
	// stop ends the connection and releases what it holds. It is called once,
	// by the session's read loop, and returns when everything is released.
	stop func()
}

// jsonrpcConn is what a session needs of an mcp.Connection.
type jsonrpcConn interface {
	Read(context.Context) (jsonrpc.Message, error)
	Write(context.Context, jsonrpc.Message) error
	Close() error
}

// startFunc opens a link for a new session. ctx lives as long as the
// session; r is the initialize request.
type startFunc func(ctx context.Context, r *http.Request, log *slog.Logger) (*link, error)

// Handler is an http.Handler that presents a stdio or legacy SSE MCP server
// as a stateful Streamable HTTP endpoint (revisions 2025-03-26 to
// 2025-11-25). Each session has its own link to the server. It is safe for
// concurrent use; Close ends every session.
type Handler struct {
	opts  Options
	log   *slog.Logger
	start startFunc

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
	wg       sync.WaitGroup // one count per session whose read loop has not ended
}

var (
	errClosed  = errors.New("bridge: handler closed")
	errTimeout = errors.New("bridge: the upstream did not connect in time")
)

func newHandler(opts Options, start startFunc) *Handler {
	opts = opts.withDefaults()
	return &Handler{opts: opts, log: opts.Logger, start: start, sessions: make(map[string]*session)}
}

// ServeHTTP serves POST, GET and DELETE of the Streamable HTTP transport.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		h.servePost(w, r)
	case http.MethodGet:
		h.serveGet(w, r)
	case http.MethodDelete:
		h.serveDelete(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// HasSession reports whether id names a live session of h.
func (h *Handler) HasSession(id string) bool {
	_, ok := h.lookup(id)
	return ok
}

// Close ends every session (killing child processes) and waits until they
// are gone. Requests that open a session afterwards fail with 503.
func (h *Handler) Close() error {
	h.mu.Lock()
	h.closed = true
	all := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		all = append(all, s)
	}
	h.mu.Unlock()
	for _, s := range all {
		s.cancel()
	}
	h.wg.Wait()
	return nil
}

func (h *Handler) lookup(id string) (*session, bool) {
	if id == "" {
		return nil, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.sessions[id]
	return s, ok
}

func (h *Handler) remove(id string) {
	h.mu.Lock()
	delete(h.sessions, id)
	h.mu.Unlock()
}

// newSession opens a link for the initialize request r and starts the
// session's read loop.
func (h *Handler) newSession(r *http.Request) (*session, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errClosed
	}
	h.wg.Add(1)
	h.mu.Unlock()

	id := authority.NewSecret()
	// Only a prefix of the id is logged: the id is what proves a session.
	log := h.log.With("bridge_session", id[:8])
	ctx, cancel := context.WithCancel(context.Background())
	l, err := h.connect(ctx, cancel, r, log)
	if err != nil {
		cancel()
		h.wg.Done()
		return nil, err
	}
	s := newSession(h, id, l, ctx, cancel, log)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		cancel()
		l.stop()
		h.wg.Done()
		return nil, errClosed
	}
	h.sessions[id] = s
	h.mu.Unlock()
	go s.run() // owned by the session: ends when its link does; counted in h.wg
	return s, nil
}

// connect runs h.start within ConnectTimeout.
func (h *Handler) connect(ctx context.Context, cancel context.CancelFunc, r *http.Request, log *slog.Logger) (*link, error) {
	t := time.AfterFunc(h.opts.ConnectTimeout, cancel)
	l, err := h.start(ctx, r, log)
	if !t.Stop() {
		if err == nil {
			l.stop()
		}
		return nil, errTimeout
	}
	return l, err
}

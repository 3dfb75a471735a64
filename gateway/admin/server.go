package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/r3labs/sse/v2"

	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/issuer/store"
)

// Killer stops, on this replica, what a selector names. *gateway.Gateway
// implements it.
type Killer interface {
	Kill(ctx context.Context, sel gateway.Selector, reason string) gateway.KillReport
	// HoldKill keeps refusing what sel covers on this replica until persist,
	// retried, has written the kill to the store.
	HoldKill(sel gateway.Selector, reason string, persist func(context.Context) error)
}

var _ Killer = (*gateway.Gateway)(nil)

// Options configure a Server. Store and Token are required.
type Options struct {
	// Store holds sessions, revocations and the audit log; with PostgreSQL
	// it is shared by every replica.
	Store *store.Store
	// Gateway is this replica's gateway; nil means an admin API without a
	// gateway in the process (kills then act through the store alone).
	Gateway Killer
	// Token is the secret every request must present as a bearer token
	// (see EnsureToken); at least 32 characters.
	Token string
	// Logger receives operational logs (never the token); nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Accounts, when set, lets issuer accounts with the admin role log in
	// to the console (AccountAuthenticator); nil means the admin token only.
	Accounts AccountAuthenticator
}

// Server is the admin API, an http.Handler. It is safe for concurrent use.
type Server struct {
	opts      Options
	tokenHash [sha256.Size]byte
	mux       *http.ServeMux
	log       *slog.Logger
	console   *console
	sse       *sse.Server // the console's event streams, one per connection

	subMu       sync.Mutex
	subscribers map[string]chan struct{} // stream id → closed when its subscriber is registered
}

// New returns a Server for opts.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("admin: Store is required")
	}
	if len(opts.Token) < minTokenLen {
		return nil, errors.New("admin: a Token of at least 32 characters is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, tokenHash: sha256.Sum256([]byte(opts.Token)), mux: http.NewServeMux(), log: opts.Logger}
	s.mux.HandleFunc("GET /v1/sessions", s.serveList)
	s.mux.HandleFunc("GET /v1/sessions/{id}", s.serveGet)
	s.mux.HandleFunc("POST /v1/kill", s.serveKill)
	s.subscribers = map[string]chan struct{}{}
	s.sse = sse.New()
	s.sse.OnSubscribe = s.onSubscribe
	s.sse.AutoReplay = false // a reconnecting stream catches up from the store
	s.sse.Headers = map[string]string{"X-Accel-Buffering": "no"}
	var err error
	if s.console, err = newConsole(s); err != nil {
		return nil, fmt.Errorf("admin: console: %w", err)
	}
	return s, nil
}

// ServeHTTP routes /console to the console (which authenticates with its
// own session cookie, or the admin token for its event stream), and
// authenticates every other request with the admin token before routing it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/console" || strings.HasPrefix(r.URL.Path, "/console/") {
		s.console.ServeHTTP(w, r)
		return
	}
	if !s.authorized(r) {
		s.log.Warn("admin API: request refused: missing or wrong admin token", "remote", r.RemoteAddr, "path", r.URL.Path)
		w.Header().Set("WWW-Authenticate", `Bearer realm="legant-admin"`)
		writeError(w, &Error{Status: http.StatusUnauthorized, Code: "unauthorized",
			Description: "a valid admin token is required (Authorization: Bearer …)"})
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Close ends the console's open event streams (an http.Server's Shutdown
// does not wait for them then); the Server keeps serving new requests.
func (s *Server) Close() { s.sse.Close() }

// authorized compares the bearer token in constant time: both sides are
// hashed first, so neither the content nor the length leaks through timing.
func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return false
	}
	scheme, tok, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) { writeJSON(w, e.Status, e) }

// storeUnavailable logs the cause and answers without it.
func (s *Server) storeUnavailable(w http.ResponseWriter, err error) {
	s.log.Error("admin API: store unavailable", "err", err)
	writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: "store_unavailable",
		Description: "the store is unavailable; see the server log"})
}

package gateway

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/upstreams"
)

// Protocol revisions the gateway knows. Revisions compare as strings.
const (
	version20250326  = "2025-03-26"
	versionStateless = "2026-07-28" // first stateless revision: Mcp-Method/Mcp-Name headers, no sessions
)

const (
	headerSessionID       = "Mcp-Session-Id"
	headerProtocolVersion = "Mcp-Protocol-Version"
	headerMethod          = "Mcp-Method"
	headerName            = "Mcp-Name"
	headerLastEventID     = "Last-Event-ID"
)

// serveMCP is the endpoint of one upstream: authentication, then the method.
func (g *Gateway) serveMCP(w http.ResponseWriter, r *http.Request, slug string) {
	up, ok := g.upstream(slug)
	if !ok {
		writeRPCError(w, http.StatusNotFound, nil, rpcError{Code: codeInvalidRequest, Message: "no upstream named " + fmt.Sprintf("%q", slug)})
		return
	}
	if !g.originAllowed(r) {
		g.record(Event{Kind: EventEdge403, Upstream: slug, Reason: "origin"})
		http.Error(w, "Forbidden: origin not allowed", http.StatusForbidden)
		return
	}
	claims, _, aerr := g.authenticate(r, up)
	if aerr != nil {
		ev := Event{Kind: EventEdge401, Upstream: slug, Reason: aerr.reason}
		if claims != nil {
			ev = withPrincipal(ev, claims)
		}
		g.record(ev)
		g.writeAuthError(w, r, slug, aerr, "")
		return
	}
	switch r.Method {
	case http.MethodPost:
		g.servePost(w, r, up, claims)
	case http.MethodGet:
		g.serveGet(w, r, up, claims)
	case http.MethodDelete:
		g.serveDelete(w, r, up, claims)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// readBody reads a capped POST body. On failure it answers the client itself
// and returns the reason to audit.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, string) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeRPCError(w, http.StatusUnsupportedMediaType, nil, rpcError{Code: codeInvalidRequest,
			Message: "Content-Type must be application/json"})
		return nil, "content_type"
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeRPCError(w, http.StatusRequestEntityTooLarge, nil, rpcError{Code: codeInvalidRequest,
				Message: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)})
			return nil, "oversized"
		}
		writeRPCError(w, http.StatusBadRequest, nil, rpcError{Code: codeParseError, Message: "could not read the request body"})
		return nil, "unreadable_body"
	}
	return body, ""
}

// sessionFor resolves the Mcp-Session-Id of r. It answers the client itself
// and returns ok=false when the id names no live session of this principal.
// A request without the header gets a nil session.
func (g *Gateway) sessionFor(w http.ResponseWriter, r *http.Request, up *upstreams.Upstream, c *authority.Claims) (*session, bool) {
	id := r.Header.Get(headerSessionID)
	if id == "" {
		return nil, true
	}
	s, ok := g.sessions.get(id)
	reason := ""
	if !ok {
		s, reason = g.loadSession(r.Context(), id, c)
	}
	switch {
	case reason != "":
	case s.killed.Load():
		reason = "killed_session"
	case s.slug != up.Slug:
		reason = "session_of_other_upstream"
	case s.principal != c.Principal():
		reason = "session_of_other_principal"
	}
	if reason != "" {
		ev := withPrincipal(Event{Kind: EventEdge403, Upstream: up.Slug, Reason: reason, SessionID: id}, c)
		g.record(ev)
		// 404 tells a client to start a new session; it also reveals nothing
		// about sessions of other principals.
		writeRPCError(w, http.StatusNotFound, nil, rpcError{Code: codeInvalidRequest, Message: "session not found"})
		return nil, false
	}
	s.lastActive.Store(g.now().UnixNano())
	s.use(c)
	return s, true
}

// checkStatelessHeaders enforces revision 2026-07-28's rule that Mcp-Method and
// Mcp-Name repeat the body: a proxy that routed or authorized on the headers
// must see exactly what the server will execute.
func checkStatelessHeaders(h http.Header, m *message) error {
	if m.kind != kindRequest {
		return nil
	}
	if got := h.Get(headerMethod); got != m.method {
		if got == "" {
			return errors.New("missing required Mcp-Method header")
		}
		return fmt.Errorf("Mcp-Method header %q does not match the body's method %q", got, m.method)
	}
	field := ""
	switch m.method {
	case "tools/call", "prompts/get":
		field = "name"
	case "resources/read":
		field = "uri"
	default:
		return nil
	}
	want, _ := stringMember(m.params, field)
	got := h.Get(headerName)
	if got == "" {
		return fmt.Errorf("missing required Mcp-Name header for %s", m.method)
	}
	if got != want {
		return fmt.Errorf("Mcp-Name header %q does not match the body's %s %q", got, field, want)
	}
	return nil
}

func isStateless(version string) bool { return version >= versionStateless }

func withPrincipal(ev Event, c *authority.Claims) Event {
	ev.User = c.Subject
	ev.Agents = c.Chain()
	ev.Client = c.ClientID
	ev.TokenID = c.ID
	return ev
}

func (g *Gateway) record(ev Event) {
	if g.audit == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = g.now()
	}
	g.audit.enqueue(ev)
}

// copyRequestHeaders copies the MCP headers a client may send upstream. The
// caller's Authorization, cookies and the session id are never copied.
func copyRequestHeaders(dst, src http.Header) {
	for k, vv := range src {
		switch ck := http.CanonicalHeaderKey(k); {
		case ck == "Accept", ck == "Content-Type", ck == headerProtocolVersion, ck == headerMethod,
			ck == headerName, ck == headerLastEventID, ck == "User-Agent",
			strings.HasPrefix(ck, "Mcp-Param-"):
			dst[ck] = vv
		}
	}
}

package gateway

// Receive: the first step of a request to /mcp/<slug>. serveMCP is the edge
// (origin, token, method); servePost reads a POST top to bottom and hands each
// message to decide (decide.go), then the exchange to forward (forward.go) or,
// when every request was refused, answers it itself (relay.go).

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
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

// canonicalLastEventID is how net/http keys Last-Event-ID in a Header map
// ("Last-Event-Id"): compare canonical keys against it, never against
// headerLastEventID.
var canonicalLastEventID = http.CanonicalHeaderKey(headerLastEventID)

// serveMCP is the endpoint of one upstream: authentication, then the method.
func (g *Gateway) serveMCP(w http.ResponseWriter, r *http.Request, slug string) {
	// The refusals are answered in functions of their own: their audit
	// events and errors would otherwise sit in this frame, which stays on
	// the stack below every idle GET stream (serveGet).
	up, ok := g.upstream(slug)
	if !ok {
		refuseUnknownUpstream(w, slug)
		return
	}
	if !g.originAllowed(r) {
		g.refuseOrigin(w, slug)
		return
	}
	claims, _, aerr := g.authenticate(r, up)
	if aerr != nil {
		g.refuseUnauthenticated(w, r, slug, claims, aerr)
		return
	}
	if r.Method == http.MethodGet && g.draining.Load() {
		refuseDraining(w)
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

func refuseUnknownUpstream(w http.ResponseWriter, slug string) {
	writeRPCError(w, http.StatusNotFound, nil, rpcError{Code: codeInvalidRequest, Message: "no upstream named " + fmt.Sprintf("%q", slug)})
}

func (g *Gateway) refuseOrigin(w http.ResponseWriter, slug string) {
	g.record(audit.Event{Kind: audit.KindEdge403, Upstream: slug, Reason: "origin"})
	http.Error(w, "Forbidden: origin not allowed", http.StatusForbidden)
}

// refuseUnauthenticated audits and answers a request whose token failed
// (claims, when the token was read, name its principal).
func (g *Gateway) refuseUnauthenticated(w http.ResponseWriter, r *http.Request, slug string, claims *authority.Claims, aerr *authError) {
	ev := audit.Event{Kind: audit.KindEdge401, Upstream: slug, Reason: aerr.reason}
	if claims != nil {
		ev = withPrincipal(ev, claims)
	}
	g.record(ev)
	g.writeAuthError(w, r, slug, aerr, "")
}

// servePost carries one client POST through the gateway: read and decode the
// body, check it against the protocol revision and the session, decide each
// message, then forward what is allowed or answer the refusals locally.
func (g *Gateway) servePost(w http.ResponseWriter, r *http.Request, up *upstreams.Upstream, c *authority.Claims) {
	body, refused := g.readBody(w, r)
	if refused != "" {
		g.record(withPrincipal(audit.Event{Kind: audit.KindEdge403, Upstream: up.Slug, Reason: refused}, c))
		return
	}
	msgs, batch, err := decodeBody(body)
	if err != nil {
		var ee *envelopeError
		errors.As(err, &ee)
		g.record(withPrincipal(audit.Event{Kind: audit.KindEdge403, Upstream: up.Slug, Reason: "malformed"}, c))
		writeRPCError(w, http.StatusBadRequest, ee.id, rpcError{Code: ee.code, Message: ee.msg})
		return
	}
	if g.draining.Load() && slices.ContainsFunc(msgs, func(m *message) bool { return m.kind == kindRequest }) {
		refuseDraining(w)
		return
	}
	version := r.Header.Get(headerProtocolVersion)
	if isStateless(version) && !g.statelessOK(w, r.Header, up, c, msgs, batch) {
		return
	}
	sess, ok := g.sessionFor(w, r, up, c)
	if !ok {
		return
	}
	if batch && !batchOK(w, version, sess) {
		return
	}
	ex := newExchange(up, c, sess, body, batch)
	ex.req = r
	if ex.version = version; version == "" && sess != nil {
		ex.version = sess.version()
	}
	if !batch && msgs[0].kind == kindRequest && msgs[0].method == "initialize" {
		if sess != nil {
			writeRPCError(w, http.StatusBadRequest, msgs[0].id, rpcError{Code: codeInvalidRequest,
				Message: "initialize is not allowed inside an existing session"})
			return
		}
		ex.initID = string(msgs[0].id)
		ex.initURLElicit = declaresURLElicitation(msgs[0].params) // connect.go
	}
	for _, m := range msgs {
		g.decide(r.Context(), ex, m)
	}
	if len(ex.forward) == 0 {
		ex.writeLocal(w)
		return
	}
	g.forward(w, r, ex)
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

func isStateless(version string) bool { return version >= versionStateless }

// statelessOK checks a POST of a stateless revision: no batch, and headers
// that repeat the body. It answers the client itself when they do not.
func (g *Gateway) statelessOK(w http.ResponseWriter, h http.Header, up *upstreams.Upstream, c *authority.Claims, msgs []*message, batch bool) bool {
	if batch {
		writeRPCError(w, http.StatusBadRequest, nil, rpcError{Code: codeInvalidRequest,
			Message: "JSON-RPC batches are not supported in protocol version " + h.Get(headerProtocolVersion)})
		return false
	}
	if err := checkStatelessHeaders(h, msgs[0]); err != nil {
		g.record(withPrincipal(audit.Event{Kind: audit.KindEdge403, Upstream: up.Slug, Method: msgs[0].method, Reason: "header_mismatch"}, c))
		writeRPCError(w, http.StatusBadRequest, msgs[0].id, rpcError{Code: codeHeaderMismatch, Message: err.Error()})
		return false
	}
	return true
}

// batchOK reports whether the revision in use (the header's, else the
// session's) allows a JSON-RPC batch: only 2025-03-26 did. It answers the
// client itself when not.
func batchOK(w http.ResponseWriter, version string, sess *session) bool {
	if version == "" && sess != nil {
		version = sess.version()
	}
	if version != "" && version != version20250326 {
		writeRPCError(w, http.StatusBadRequest, nil, rpcError{Code: codeInvalidRequest,
			Message: "JSON-RPC batches are not supported in protocol version " + version})
		return false
	}
	return true
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
	want, _ := m.paramsMembers.stringOf(field)
	got := h.Get(headerName)
	if got == "" {
		return fmt.Errorf("missing required Mcp-Name header for %s", m.method)
	}
	if got != want {
		return fmt.Errorf("Mcp-Name header %q does not match the body's %s %q", got, field, want)
	}
	return nil
}

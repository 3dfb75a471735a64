// Package virtual serves a virtual upstream: several upstream servers (the
// members) behind one slug, as one MCP server speaking Streamable HTTP to
// the gateway, in process (gateway/bridges.go reaches it through
// bridge.Transport, as it reaches the stdio and legacy SSE bridges).
//
// It forwards JSON-RPC messages as bytes rather than terminating MCP: a
// request routed to one member (tools/call, prompts/get, resources/read,
// completion/complete, ...) is sent to that member with only what must
// change rewritten (the tool or prompt name without the member's prefix,
// and the Mcp-Name header), and the member's answer, a JSON body or an
// event stream, is streamed back unchanged but for the ids of the member's
// own requests to the client (sampling, elicitation, roots), which are
// mapped so that two members' ids never collide; the client's answers go
// back to the member that asked, under its own id. Lists (tools, prompts,
// resources, templates) are merged from every member, prefixed, and
// paginated with the virtual server's own cursors (cursor.go).
//
// Every gateway session opens one member session per member, with the
// client's own initialize params, when it initializes (its capabilities
// are the members' merged); a member that fails then is opened again on
// next use. A member that is down or slow only loses its own objects from
// lists, and a call to it fails with -32035 naming it. What members send
// outside any request (list_changed, resource updates, logs) reaches the
// client's standalone stream. A client's cancel reaches the member, and so
// does a cut request (a kill): notifications/cancelled. A stateless request
// (revision 2026-07-28 on) passes to members that speak that revision as
// it came, its headers and _meta included; other members get it in a
// session of their own for the request.
//
// MCP tasks of several members are routed by task id: every task id a
// member sends is rewritten to a member-scoped one (tasks.go).
//
// The gateway governs the virtual slug as any upstream: its registry entry
// lists the prefixed names, so policy, budgets, audit and kill apply
// unchanged. This package trusts what reaches it: only the gateway does.
package virtual

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

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

type callerKey struct{}

// WithCaller returns ctx naming the caller of a request (for the gateway:
// its token's jti). Stateless requests of one caller share the member
// sessions opened for members that do not speak the stateless revision;
// without a caller each request opens its own.
func WithCaller(ctx context.Context, caller string) context.Context {
	return context.WithValue(ctx, callerKey{}, caller)
}

func callerFrom(ctx context.Context) string {
	c, _ := ctx.Value(callerKey{}).(string)
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

	cursorKey [32]byte // MACs the cursors of merged lists (cursor.go)

	mu       sync.Mutex
	sessions map[string]*session // by Mcp-Session-Id
	pool     map[string]*pooled  // by caller: member sessions of stateless requests
	modern   map[string]*probe   // by member name and stateless revision
	closed   bool
}

// New returns the handler of up, which must have members.
func New(up *upstreams.Upstream, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{up: up, opts: opts, sessions: map[string]*session{}, pool: map[string]*pooled{}, modern: map[string]*probe{}}
	if _, err := rand.Read(h.cursorKey[:]); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return h
}

// statelessRevision is the first protocol revision without sessions.
const statelessRevision = "2026-07-28"

// maxBodyBytes bounds a client message (the gateway bounds them first).
const maxBodyBytes = 32 << 20

// ServeHTTP serves the gateway's Streamable HTTP requests.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		h.post(w, r)
	case http.MethodGet:
		h.get(w, r)
	case http.MethodDelete:
		h.delete(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		writeError(w, http.StatusBadRequest, nil, &rpcError{Code: codeInvalidRequest, Message: "unreadable or oversized body"})
		return
	}
	var msg message
	if err := decodeMessage(body, &msg); err != nil {
		// A batch (an array) is refused too: the gateway takes them only
		// from 2025-03-26 clients, which no member needs.
		writeError(w, http.StatusBadRequest, nil, &rpcError{Code: -32700, Message: "a virtual upstream takes one JSON-RPC message per request"})
		return
	}
	if id := r.Header.Get("Mcp-Session-Id"); id != "" {
		s := h.lookup(id)
		if s == nil {
			writeError(w, http.StatusNotFound, msg.ID, &rpcError{Code: codeInvalidRequest, Message: "session not found"})
			return
		}
		s.setCredential(credentialFrom(r.Context()))
		defer s.enter()()
		s.handle(w, r, &msg)
		return
	}
	if msg.Method == "initialize" {
		h.initialize(w, r, &msg)
		return
	}
	v := r.Header.Get("Mcp-Protocol-Version")
	if v < statelessRevision {
		writeError(w, http.StatusBadRequest, msg.ID, &rpcError{Code: codeInvalidRequest, Message: "missing Mcp-Session-Id"})
		return
	}
	s := newSession(h, "", credentialFrom(r.Context()))
	s.caller = callerFrom(r.Context())
	s.version = v
	s.hdr = mcpHeaders(r.Header)
	defer s.close()
	if err := s.checkVersion(); err != nil {
		linkFailed(w, msg.ID, nil, err)
		return
	}
	s.handle(w, r, &msg)
}

// mcpHeaders are the headers of a client request a member speaking its
// stateless revision gets as they came (SEP-2243's standard headers).
func mcpHeaders(src http.Header) http.Header {
	out := http.Header{}
	for k, vv := range src {
		switch ck := http.CanonicalHeaderKey(k); {
		case ck == "Mcp-Protocol-Version", ck == "Mcp-Method", ck == "Mcp-Name", ck == "User-Agent",
			len(ck) > len("Mcp-Param-") && ck[:len("Mcp-Param-")] == "Mcp-Param-":
			out[ck] = vv
		}
	}
	return out
}

// initialize opens a session: a member session per member, concurrently,
// each with the client's initialize params; the reply merges what the
// members answered (capabilities.go).
func (h *Handler) initialize(w http.ResponseWriter, r *http.Request, msg *message) {
	params, err := decodeObject(msg.Params)
	if err != nil || params.str("protocolVersion") == "" {
		writeError(w, http.StatusBadRequest, msg.ID, &rpcError{Code: codeInvalidParams, Message: "invalid initialize params"})
		return
	}
	var raw [18]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic(err)
	}
	s := newSession(h, base64.RawURLEncoding.EncodeToString(raw[:]), credentialFrom(r.Context()))
	s.initParams = msg.Params
	links := each(r.Context(), s, func(_ context.Context, l *link) (*link, error) { return l, nil })
	result := h.mergeInitialize(params.str("protocolVersion"), links)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		s.close()
		writeError(w, http.StatusServiceUnavailable, msg.ID, &rpcError{Code: CodeMemberUnavailable, Message: "virtual upstream closed"})
		return
	}
	h.sessions[s.id] = s
	// Sessions the gateway forgot without a DELETE (its idle timeout) end
	// here after twice the entry's idle timeout with nothing in progress.
	var idle []*session
	before := time.Now().Add(-2 * h.up.Timeouts.Idle)
	for id, o := range h.sessions {
		if o != s && h.up.Timeouts.Idle > 0 && o.idleSince(before) {
			idle = append(idle, o)
			delete(h.sessions, id)
		}
	}
	h.mu.Unlock()
	for _, o := range idle {
		go o.close()
	}
	w.Header().Set("Mcp-Session-Id", s.id)
	writeResult(w, msg.ID, result)
}

// get serves the client's standalone stream: what members send outside
// any request.
func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	s := h.lookup(r.Header.Get("Mcp-Session-Id"))
	if s == nil {
		if r.Header.Get("Mcp-Session-Id") == "" {
			http.Error(w, "no session", http.StatusMethodNotAllowed)
			return
		}
		http.Error(w, "session not found", http.StatusNotFound)
		return
	}
	s.setCredential(credentialFrom(r.Context()))
	s.mu.Lock()
	if s.getOpen {
		s.mu.Unlock()
		http.Error(w, "the session's standalone stream is open", http.StatusConflict)
		return
	}
	s.getOpen = true
	s.mu.Unlock()
	defer s.enter()()
	defer func() {
		s.mu.Lock()
		s.getOpen = false
		s.mu.Unlock()
	}()
	startEventStream(w)
	for {
		select {
		case data := <-s.out:
			if writeEvent(w, data) != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		}
	}
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("Mcp-Session-Id")
	h.mu.Lock()
	s := h.sessions[id]
	delete(h.sessions, id)
	h.mu.Unlock()
	if s == nil {
		http.Error(w, "session not found", http.StatusNotFound)
		return
	}
	s.close()
	w.WriteHeader(http.StatusNoContent)
}

// HasSession reports whether the handler holds the session id.
func (h *Handler) HasSession(id string) bool { return h.lookup(id) != nil }

// Close ends every session and its member sessions.
func (h *Handler) Close() error {
	h.mu.Lock()
	h.closed = true
	all := h.sessions
	h.sessions = map[string]*session{}
	for _, p := range h.pool {
		all[p.s.id] = p.s
	}
	h.pool = map[string]*pooled{}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Go(s.close)
	}
	wg.Wait()
	return nil
}

func (h *Handler) lookup(id string) *session {
	if id == "" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions[id]
}

// probe is what a member said of a stateless revision.
type probe struct {
	ok     bool      // it speaks the revision
	result object    // its server/discover result
	refuse *rpcError // it speaks stateless revisions, not this one: its error
}

// versionError is a member's refusal of the client's stateless revision
// (UnsupportedProtocolVersionError), answered to the client as it is,
// with 400, as the member would.
type versionError struct{ *rpcError }

// codeUnsupportedProtocolVersion is SEP-2575's UnsupportedProtocolVersionError.
const codeUnsupportedProtocolVersion = -32022

// speaksStateless reports whether member l speaks the stateless revision
// v, asking it with server/discover (SEP-2575) the first time; the answer
// is kept while the handler lives (a transport failure is asked again). On
// success l is ready for stateless requests. A member that speaks
// stateless revisions but not v yields its *versionError.
func (h *Handler) speaksStateless(ctx context.Context, l *link, v string) (bool, error) {
	key := l.m.Name + "\x00" + v
	h.mu.Lock()
	p, asked := h.modern[key]
	h.mu.Unlock()
	if !asked {
		l.stateless, l.version = true, v
		meta := object{
			"io.modelcontextprotocol/protocolVersion":    quote(v),
			"io.modelcontextprotocol/clientInfo":         json.RawMessage(`{"name":"legant-virtual","version":"1"}`),
			"io.modelcontextprotocol/clientCapabilities": json.RawMessage("{}"),
		}
		res, err := l.call(ctx, "server/discover", object{"_meta": meta.encode()}.encode(), http.Header{"Mcp-Protocol-Version": {v}})
		l.stateless, l.version = false, ""
		var versions []string
		o, derr := decodeObject(res)
		if err == nil && derr == nil {
			_ = json.Unmarshal(o["supportedVersions"], &versions)
		}
		p = &probe{ok: err == nil && slices.Contains(versions, v), result: o}
		var re *rpcError
		var se *statusError
		if errors.As(err, &re) && re.Code == codeUnsupportedProtocolVersion {
			var data struct {
				Supported []string `json:"supported"`
			}
			_ = json.Unmarshal(re.Data, &data)
			if slices.ContainsFunc(data.Supported, func(s string) bool { return s >= statelessRevision }) {
				p.refuse = re
			}
		}
		// An answer, a JSON-RPC error or a 4xx is the member's word; a
		// transport failure is asked again next time.
		if err == nil || re != nil || (errors.As(err, &se) && se.code/100 == 4) {
			h.mu.Lock()
			h.modern[key] = p
			h.mu.Unlock()
		}
	}
	if p.refuse != nil {
		return false, &versionError{p.refuse}
	}
	if !p.ok {
		return false, nil
	}
	l.stateless, l.version = true, v
	l.result = p.result
	l.caps, _ = decodeObject(p.result["capabilities"])
	return true, nil
}

// checkVersion refuses a stateless request of a revision a member that
// speaks stateless revisions refuses (each member asked once).
func (s *session) checkVersion() error {
	for i := range s.h.up.Members {
		m := &s.h.up.Members[i]
		s.h.mu.Lock()
		p := s.h.modern[m.Name+"\x00"+s.version]
		s.h.mu.Unlock()
		if p != nil {
			if p.refuse != nil {
				return &versionError{p.refuse}
			}
			continue
		}
		client, endpoint, err := s.h.opts.Dial(m.Upstream)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(s.ctx, m.Timeouts.Connect)
		_, err = s.h.speaksStateless(ctx, &link{s: s, m: m, idx: i, client: client, url: endpoint}, s.version)
		cancel()
		var ve *versionError
		if errors.As(err, &ve) {
			return err
		}
	}
	return nil
}

// linkFailed answers a request whose member could not be reached.
func linkFailed(w http.ResponseWriter, id json.RawMessage, m *upstreams.Member, err error) {
	var ve *versionError
	if errors.As(err, &ve) {
		writeError(w, http.StatusBadRequest, id, ve.rpcError)
		return
	}
	writeError(w, http.StatusOK, id, unavailable(m, err))
}

// unavailable is the error of a call to a member that cannot be reached.
func unavailable(m *upstreams.Member, err error) *rpcError {
	return &rpcError{Code: CodeMemberUnavailable, Message: fmt.Sprintf("upstream member %q is unavailable: %v", m.Name, err)}
}

// cancelTimeout bounds a notifications/cancelled sent to a member.
const cancelTimeout = 2 * time.Second

// pooled holds, for one caller, the member sessions its stateless requests
// use to reach members that do not speak the stateless revision.
type pooled struct {
	s    *session
	used time.Time
}

// poolIdle is how long a caller's pooled member sessions outlive its last
// stateless request.
const poolIdle = 5 * time.Minute

// pooledSession returns the caller's pooled session (a new one if needed),
// its credential the latest request's; idle ones are closed.
func (h *Handler) pooledSession(caller string, c Credential) (*session, error) {
	now := time.Now()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errSessionClosed
	}
	var idle []*session
	for k, p := range h.pool {
		if now.Sub(p.used) > poolIdle {
			idle = append(idle, p.s)
			delete(h.pool, k)
		}
	}
	p := h.pool[caller]
	if p == nil {
		var raw [12]byte
		_, _ = rand.Read(raw[:])
		s := newSession(h, "pool-"+base64.RawURLEncoding.EncodeToString(raw[:]), c)
		s.pool = true
		params := object{"protocolVersion": quote(legacyRevision), "capabilities": json.RawMessage("{}"),
			"clientInfo": json.RawMessage(`{"name":"legant-virtual","version":"1"}`)}
		s.initParams = params.encode()
		p = &pooled{s: s}
		h.pool[caller] = p
	}
	p.used = now
	h.mu.Unlock()
	for _, s := range idle {
		go s.close()
	}
	p.s.setCredential(c)
	return p.s, nil
}

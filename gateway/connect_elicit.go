package gateway

// What a client is told when a request needs the user's connection (the
// connect flow itself is in connect.go): step-up on insufficient_scope,
// URL-mode elicitations, and their completion, also when the callback lands
// on another replica.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"github.com/openlegant/legant/upstreams"
)

// stepUp handles a 403 from an oauth upstream (MCP authorization, step-up):
// a Bearer challenge with error="insufficient_scope" asks the user to
// connect again for the union of the scopes the stored token has and the
// challenged ones. The call is not retried: the client retries it once the
// user has granted the wider scopes (the delegation still decides the call).
// A challenge for scopes the token already has cannot be met by asking
// again: it is refused (no authorization loop). nil: not a step-up.
func (g *Gateway) stepUp(ctx context.Context, ex *exchange, resp *http.Response) (*connectionRequiredError, *rpcError) {
	if resp.StatusCode != http.StatusForbidden || ex.up.Auth.Kind != upstreams.AuthOAuth || g.opts.Connections == nil {
		return nil, nil
	}
	cs, _ := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	var challenged []string
	found := false
	for _, ch := range cs {
		if ch.Scheme == "bearer" && ch.Params["error"] == "insufficient_scope" {
			found, challenged = true, strings.Fields(ch.Params["scope"])
		}
	}
	if !found {
		return nil, nil
	}
	user, slug := ex.claims.Subject, ex.up.Slug
	var granted []string
	if tok, err := g.opts.Connections.Token(ctx, user, slug); err == nil {
		granted = strings.Fields(tok.Scope)
	}
	want := slices.Clone(granted)
	for _, sc := range challenged {
		if !slices.Contains(want, sc) {
			want = append(want, sc)
		}
	}
	if len(challenged) == 0 || len(want) == len(granted) {
		g.log.Warn("the upstream refuses the connection's scopes and asks for none it lacks", "upstream", slug, "user", user,
			"granted", strings.Join(granted, " "), "challenged", strings.Join(challenged, " "))
		return nil, &rpcError{Code: CodeUpstream, Message: "the upstream refuses the call for insufficient scope, and the connection already has the scopes it asks for (" +
			strings.Join(challenged, " ") + ")"}
	}
	g.log.Info("the upstream asks for wider scopes: the user must connect again", "upstream", slug, "user", user,
		"granted", strings.Join(granted, " "), "challenged", strings.Join(challenged, " "))
	return &connectionRequiredError{user: user, upstream: slug, scope: want}, nil
}

// URL-mode elicitation (MCP 2025-11-25). A session whose client declared
// capabilities.elicitation.url at initialize gets a missing connection as
// the spec's URLElicitationRequiredError: code -32042, data.elicitations
// holding one {mode: "url", elicitationId, url, message} (plus Legant's
// reason, upstream, url and scope, as in connection_required). When the
// user's connection lands, the gateway sends
// notifications/elicitation/complete with that elicitationId on the
// session's open standalone GET streams, so the client retries the call.
// An initialize has no session yet and gets connection_required; so does a
// client without the capability. The callback may land on another replica
// than the session's: the session's replica then learns of the connection
// by watching the Vault (checkElicitations, below).

// CodeURLElicitationRequired is the MCP error of a request that needs a
// URL-mode elicitation first.
const CodeURLElicitationRequired = -32042

// urlElicitation is one entry of data.elicitations.
type urlElicitation struct {
	Mode          string `json:"mode"`
	ElicitationID string `json:"elicitationId"`
	URL           string `json:"url"`
	Message       string `json:"message"`
}

// urlElicitationData is data of the -32042 error: the spec's
// elicitations, and connection_required's members for clients keyed on
// Legant's reason.
type urlElicitationData struct {
	Elicitations []urlElicitation `json:"elicitations"`
	connectionRequiredData
}

// declaresURLElicitation reports whether initialize params declare
// capabilities.elicitation.url.
func declaresURLElicitation(params []byte) bool {
	var p struct {
		Capabilities struct {
			Elicitation struct {
				URL json.RawMessage `json:"url"`
			} `json:"elicitation"`
		} `json:"capabilities"`
	}
	if json.Unmarshal(params, &p) != nil {
		return false
	}
	u := strings.TrimSpace(string(p.Capabilities.Elicitation.URL))
	return u != "" && u != "null"
}

// connectionError is the error answering a call that needs a connection:
// a URL-mode elicitation for a session that takes them, else
// connection_required.
func (g *Gateway) connectionError(r *http.Request, ex *exchange, e *connectionRequiredError) rpcError {
	if ex.sess == nil || !ex.sess.urlElicitation {
		return g.connectionRequired(r, e)
	}
	id := rand.Text()
	g.connect.watch(r.Context(), g.opts.Connections, &elicitWatch{session: ex.sess.id, user: e.user, upstream: e.upstream,
		id: id, deadline: g.now().Add(ConnectTicketTTL + pendingTTL)})
	u := g.publicURL(r) + connectPrefix + e.upstream + "?ticket=" + g.connect.mintTicket(ticketClaims{User: e.user,
		Upstream: e.upstream, Scope: strings.Join(e.scope, " "), Elicitation: id, Session: ex.sess.id})
	msg := "Connect your account at " + e.upstream + " so the gateway can call it for you, then the call is retried."
	if len(e.scope) > 0 {
		msg = "Grant " + e.upstream + " the wider access it asks for (" + strings.Join(e.scope, " ") + "), then the call is retried."
	}
	return rpcError{Code: CodeURLElicitationRequired, Message: "this request needs a URL-mode elicitation: connect the upstream " + e.upstream,
		Data: urlElicitationData{Elicitations: []urlElicitation{{Mode: "url", ElicitationID: id, URL: u, Message: msg}},
			connectionRequiredData: connectionRequiredData{Reason: ReasonConnectionRequired, Upstream: e.upstream, URL: u,
				Scope: strings.Join(e.scope, " ")}}}
}

// elicitationComplete tells the session of p's elicitation, if any and
// live here, that the connection landed.
func (g *Gateway) elicitationComplete(p *pendingAuth) {
	if p.elicitation == "" || p.session == "" {
		return
	}
	g.notifyElicitation(p.session, p.user, p.upstream, p.elicitation)
}

// notifyElicitation sends notifications/elicitation/complete for
// elicitation on the open standalone GET streams of session, if it is live
// here and belongs to user and upstream.
func (g *Gateway) notifyElicitation(session, user, upstream, elicitation string) {
	s, ok := g.sessions.get(session)
	if !ok || s.user != user || s.slug != upstream {
		return
	}
	data, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "notifications/elicitation/complete",
		"params": map[string]string{"elicitationId": elicitation}})
	pushed := 0
	for _, ps := range s.pushes.open() {
		if ps.push(data) {
			pushed++
		}
	}
	g.log.Info("URL elicitation completed", "upstream", upstream, "session", s.id, "streams", pushed)
}

// URL-mode elicitations across replicas: the callback may land on another
// replica than the session's (the pending authorization is in the
// ConnectState), which cannot reach the session's streams. So the replica
// that answered -32042 watches its open elicitations: every janitor tick
// (a second) it reads the user's connection in the Vault, and when one
// appears that differs from what the user had when the elicitation was
// issued (a first connection, or a new token after a step-up), it tells the
// session. One Vault read per open elicitation per tick, none when there
// are none; an elicitation is watched until the connect link and its
// pending authorization could no longer complete.

// maxElicitWatches bounds the elicitations watched at once; beyond it the
// oldest are no longer watched (their sessions learn on their next call).
const maxElicitWatches = 1000

// elicitWatch is a URL-mode elicitation issued by this replica.
type elicitWatch struct {
	session, user, upstream, id string
	baseline                    [sha256.Size]byte // the user's access token when issued (zero: none)
	deadline                    time.Time
}

func (w *elicitWatch) key() string { return w.session + "\x00" + w.upstream }

// elicitWatches are the open elicitations, one per (session, upstream):
// the latest issued. Safe for concurrent use.
type elicitWatches struct {
	mu    sync.Mutex
	m     map[string]*elicitWatch
	order []string // keys, oldest first (may name dropped ones)
}

// drop stops watching the elicitation of session for upstream, if it is id
// ("" any).
func (e *elicitWatches) drop(session, upstream, id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := session + "\x00" + upstream
	if w, ok := e.m[k]; ok && (id == "" || w.id == id) {
		delete(e.m, k)
	}
}

func (e *elicitWatches) list() []*elicitWatch {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*elicitWatch, 0, len(e.m))
	keys := make([]string, 0, len(e.m))
	seen := make(map[string]bool, len(e.m))
	for _, k := range e.order {
		if w, ok := e.m[k]; ok && !seen[k] {
			seen[k] = true
			out = append(out, w)
			keys = append(keys, k)
		}
	}
	e.order = keys
	return out
}

// watch starts watching w (replacing the session's earlier elicitation for
// the same upstream), its baseline the user's current token.
func (c *connector) watch(ctx context.Context, v Vault, w *elicitWatch) {
	if v == nil {
		return
	}
	if tok, err := v.Token(ctx, w.user, w.upstream); err == nil {
		w.baseline = sha256.Sum256([]byte(tok.AccessToken))
	}
	c.watches.add(w)
}

// add watches w, replacing the watch of its session and upstream; beyond
// maxElicitWatches the oldest are dropped.
func (e *elicitWatches) add(w *elicitWatch) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]*elicitWatch{}
	}
	for len(e.m) >= maxElicitWatches && len(e.order) > 0 {
		delete(e.m, e.order[0])
		e.order = e.order[1:]
	}
	if _, ok := e.m[w.key()]; !ok {
		e.order = append(e.order, w.key())
	}
	e.m[w.key()] = w
}

// checkElicitations tells the sessions whose connection landed (on any
// replica) since their elicitation was issued; the janitor calls it. One
// sweep takes at most 2 s of store time: a store outage delays the
// notifications, never the janitor's other work for long.
func (g *Gateway) checkElicitations() {
	ws := g.connect.watches.list()
	if len(ws) == 0 || g.opts.Connections == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := g.now()
	for _, w := range ws {
		if _, live := g.sessions.get(w.session); !live || now.After(w.deadline) {
			g.connect.watches.drop(w.session, w.upstream, w.id)
			continue
		}
		tok, err := g.opts.Connections.Token(ctx, w.user, w.upstream)
		if ctx.Err() != nil {
			return
		}
		if err != nil || sha256.Sum256([]byte(tok.AccessToken)) == w.baseline {
			continue
		}
		g.connect.watches.drop(w.session, w.upstream, w.id)
		g.notifyElicitation(w.session, w.user, w.upstream, w.id)
	}
}

package gateway

// List changes: a registry reload can change what a live session may see
// (a tool unbound, a prompt's scope changed, a resource grant added). The
// gateway then tells the session's client as a server would, with
// notifications/tools/list_changed, notifications/resources/list_changed or
// notifications/prompts/list_changed, injected into the session's open
// standalone GET streams, so that the client lists again and sees the
// reloaded view. A session's "visible set" is what the registry grants its
// opening token (policy.Visible, DecideResource's scope and kind,
// PromptVisible): if that set is unchanged, so is its filtered view of any
// upstream list. Injected events carry no SSE id (they are the gateway's,
// not the upstream's, and are not replayed on resumption).

import (
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

// visibleSet is what a token may see of an upstream under one registry,
// per list kind, each as a canonical string.
type visibleSet struct{ tools, resources, prompts string }

// visibleOf computes the visible set of claims c on up.
func visibleOf(up *upstreams.Upstream, c *authority.Claims) visibleSet {
	var tools, res, prompts []string
	for name, b := range up.Tools {
		if policy.Visible(c, b) {
			tools = append(tools, name)
		}
	}
	for _, g := range up.Resources {
		if c != nil && (g.Scope == "" || c.HasScope(g.Scope)) {
			res = append(res, g.String()+"\x00"+string(g.Kind))
		}
	}
	for name, b := range up.Prompts {
		if policy.PromptVisible(c, b) {
			prompts = append(prompts, name)
		}
	}
	join := func(s []string) string { slices.Sort(s); return strings.Join(s, "\x01") }
	return visibleSet{join(tools), join(res), join(prompts)}
}

// listChangedNotifications are the notifications telling a client that
// what differs between a and b changed.
func listChangedNotifications(a, b visibleSet) []string {
	var out []string
	if a.tools != b.tools {
		out = append(out, "notifications/tools/list_changed")
	}
	if a.resources != b.resources {
		out = append(out, "notifications/resources/list_changed")
	}
	if a.prompts != b.prompts {
		out = append(out, "notifications/prompts/list_changed")
	}
	return out
}

// pushes are a session's open standalone streams the gateway may write its
// own events into, and the visible set it last told the client about. Safe
// for concurrent use; the zero value is ready.
type pushes struct {
	mu      sync.Mutex
	streams map[*pushStream]bool
	seen    *visibleSet
}

// add registers an open stream and returns its removal.
func (p *pushes) add(ps *pushStream) func() {
	p.mu.Lock()
	if p.streams == nil {
		p.streams = map[*pushStream]bool{}
	}
	p.streams[ps] = true
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		delete(p.streams, ps)
		p.mu.Unlock()
		ps.close()
	}
}

// open returns the open streams.
func (p *pushes) open() []*pushStream {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*pushStream, 0, len(p.streams))
	for ps := range p.streams {
		out = append(out, ps)
	}
	return out
}

// baseline records v as what the client was shown, unless something was.
func (p *pushes) baseline(v visibleSet) {
	p.mu.Lock()
	if p.seen == nil {
		p.seen = &v
	}
	p.mu.Unlock()
}

// update replaces the visible set by v and returns the notifications the
// change calls for (none the first time) and the open streams.
func (p *pushes) update(v visibleSet) ([]string, []*pushStream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var notes []string
	if p.seen != nil {
		notes = listChangedNotifications(*p.seen, v)
	}
	p.seen = &v
	var out []*pushStream
	for ps := range p.streams {
		out = append(out, ps)
	}
	return notes, out
}

// pushStream is the client side of a relayed standalone GET stream: the
// relay's writes and the gateway's injected events are serialized, each
// event written whole.
type pushStream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	started bool // the stream's headers went out: events may be written
	closed  bool
}

func (p *pushStream) Header() http.Header { return p.w.Header() }

func (p *pushStream) WriteHeader(code int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.w.WriteHeader(code)
	p.started = code == http.StatusOK
}

func (p *pushStream) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.w.Write(b)
}

// FlushError flushes under the same lock (http.ResponseController finds it
// before unwrapping).
func (p *pushStream) FlushError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return http.NewResponseController(p.w).Flush()
}

// Unwrap gives http.ResponseController the underlying writer for what
// pushStream does not implement itself.
func (p *pushStream) Unwrap() http.ResponseWriter { return p.w }

// push writes one notification as an SSE event, and reports whether it did.
func (p *pushStream) push(data []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started || p.closed {
		return false
	}
	writeEvent(p.w, data)
	return http.NewResponseController(p.w).Flush() == nil
}

// close stops injection: the handler is returning.
func (p *pushStream) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

// RegistryChanged tells every live session whose visible set the registry
// now in effect changed, as list_changed notifications on its open GET
// streams (a session without one learns on its next list, as ever). Call it
// after each reload (cmd/legant does, from the registry watcher). It
// returns the number of notifications written.
func (g *Gateway) RegistryChanged() int {
	n := 0
	for _, s := range g.sessions.all() {
		up, ok := g.upstream(s.slug)
		if !ok {
			up = &upstreams.Upstream{Slug: s.slug}
		}
		notes, streams := s.pushes.update(visibleOf(up, s.claims))
		for _, method := range notes {
			data := []byte(`{"jsonrpc":"2.0","method":"` + method + `"}`)
			pushed := 0
			for _, ps := range streams {
				if ps.push(data) {
					pushed++
				}
			}
			n += pushed
			g.log.Info("registry reload changed a session's view", "upstream", s.slug, "session", s.id,
				"notification", method, "streams", pushed)
		}
	}
	return n
}

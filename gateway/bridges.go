package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"

	"github.com/openlegant/legant/gateway/bridge"
	"github.com/openlegant/legant/upstreams"
)

// bridgeURL is the endpoint the gateway POSTs to for a bridged upstream,
// followed by its slug. The request never leaves the process, so the host
// is irrelevant (and .invalid never resolves, should it ever try).
const bridgeURL = "http://bridge.invalid/"

// upstreamClient returns the HTTP client and endpoint URL that reach up over
// Streamable HTTP. Upstreams of other transports (stdio, legacy SSE) are
// served through a bridge that speaks Streamable HTTP on their behalf, in
// process.
func (g *Gateway) upstreamClient(up *upstreams.Upstream) (*http.Client, string, error) {
	switch up.Transport {
	case upstreams.TransportStreamableHTTP:
		if up.H2C {
			return g.h2c, up.URL, nil
		}
		return g.client, up.URL, nil
	case upstreams.TransportStdio, upstreams.TransportSSE, upstreams.TransportVirtual: // virtual.go
		client, err := g.bridges.client(up)
		if err != nil {
			return nil, "", err
		}
		return client, bridgeURL + url.PathEscape(up.Slug), nil
	default:
		return nil, "", fmt.Errorf("transport %q is not supported", up.Transport)
	}
}

var errBridgesClosed = errors.New("gateway: closed")

// bridgeSet holds a running bridge per upstream slug and fingerprint of what
// the bridge runs (transport, command, environment, URL, timeouts). A
// registry reload that changes the fingerprint starts a new bridge, which
// opens the sessions initialized from then on; sessions of the older bridge
// go on there until they end (requests are routed by their Mcp-Session-Id).
// Older bridges are closed with the gateway, not before: kept simple, at the
// cost of idle handlers (their sessions end on their idle timeout). Safe
// for concurrent use.
type bridgeSet struct {
	log      *slog.Logger
	upstream *http.Client // reaches legacy SSE upstreams
	// dial reaches the members of virtual upstreams (virtual.go).
	dial func(*upstreams.Upstream) (*http.Client, string, error)

	fingerprints fingerprintCache // virtual.go

	mu     sync.Mutex
	bySlug map[string][]*bridgeEntry // oldest first
	closed bool
}

type bridgeEntry struct {
	fingerprint string
	h           servedHandler
	rt          http.RoundTripper // bridge.Transport(h)
	client      *http.Client
}

func newBridgeSet(upstream *http.Client, log *slog.Logger) *bridgeSet {
	return &bridgeSet{log: log, upstream: upstream, bySlug: map[string][]*bridgeEntry{}}
}

// client returns the client of up's bridge, starting the bridge if needed.
func (b *bridgeSet) client(up *upstreams.Upstream) (*http.Client, error) {
	fp := b.fingerprints.of(up)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errBridgesClosed
	}
	for _, e := range b.bySlug[up.Slug] {
		if e.fingerprint == fp {
			return e.client, nil
		}
	}
	e := &bridgeEntry{fingerprint: fp, h: b.newBridge(up)}
	e.rt = bridge.Transport(e.h)
	if v, ok := e.h.(interface {
		Transport(http.RoundTripper) http.RoundTripper
	}); ok {
		e.rt = v.Transport(e.rt) // virtual.go: calls for one member skip the in-process hop
	}
	e.client = &http.Client{Transport: &bridgeRouter{set: b, slug: up.Slug, current: e}, CheckRedirect: noRedirects}
	b.bySlug[up.Slug] = append(b.bySlug[up.Slug], e)
	return e.client, nil
}

func (b *bridgeSet) newBridge(up *upstreams.Upstream) servedHandler {
	if up.Transport == upstreams.TransportVirtual {
		return b.newVirtual(up) // virtual.go
	}
	opts := bridge.Options{
		Logger:          b.log.With("upstream", up.Slug, "transport", string(up.Transport)),
		MaxMessageBytes: maxEventBytes,
		IdleTimeout:     up.Timeouts.Idle,
		ConnectTimeout:  up.Timeouts.Connect,
	}
	if up.Transport == upstreams.TransportStdio {
		return bridge.NewStdio(up.Command, childEnv(up), opts)
	}
	return bridge.NewLegacySSE(up.URL, b.upstream, opts)
}

// owner returns the bridge of slug holding session id, if any.
func (b *bridgeSet) owner(slug, id string) *bridgeEntry {
	b.mu.Lock()
	entries := slices.Clone(b.bySlug[slug])
	b.mu.Unlock()
	for _, e := range entries {
		if e.h.HasSession(id) {
			return e
		}
	}
	return nil
}

// close ends every bridge's sessions (killing child processes).
func (b *bridgeSet) close() {
	b.mu.Lock()
	b.closed = true
	all := b.bySlug
	b.bySlug = map[string][]*bridgeEntry{}
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, entries := range all {
		for _, e := range entries {
			wg.Go(func() { e.h.Close() })
		}
	}
	wg.Wait()
}

// bridgeRouter sends a request of an existing session to the bridge that
// holds it, and any other to the current bridge of the slug.
type bridgeRouter struct {
	set     *bridgeSet
	slug    string
	current *bridgeEntry
}

func (r *bridgeRouter) RoundTrip(req *http.Request) (*http.Response, error) {
	if id := req.Header.Get(headerSessionID); id != "" {
		if e := r.set.owner(r.slug, id); e != nil {
			return e.rt.RoundTrip(req)
		}
	}
	return r.current.rt.RoundTrip(req)
}

// fingerprint identifies what a bridge runs: a change means a new bridge.
func fingerprint(up *upstreams.Upstream) string {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s;", len(s), s) }
	field(string(up.Transport))
	field(up.URL)
	field(fmt.Sprint(len(up.Command)))
	for _, a := range up.Command {
		field(a)
	}
	env := childEnv(up) // a rotated secret starts a new bridge
	field(fmt.Sprint(len(env)))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		field(k)
		field(env[k])
	}
	field(up.Timeouts.Idle.String())
	field(up.Timeouts.Connect.String())
	for _, m := range up.Members { // virtual.go
		field(memberFingerprint(m))
	}
	return hex.EncodeToString(h.Sum(nil))
}

package gateway

// Virtual upstreams (upstreams.TransportVirtual): several members behind one
// slug, served in process by gateway/virtual through the bridge set, like
// the stdio and legacy SSE bridges. The gateway governs the virtual slug as
// any upstream (its registry entry lists the prefixed tool and prompt
// names); each member request carries the member's own credential.

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/openlegant/legant/gateway/virtual"
	"github.com/openlegant/legant/upstreams"
)

// servedHandler is a handler the bridge set serves in process.
type servedHandler interface {
	http.Handler
	HasSession(id string) bool
	Close() error
}

func (b *bridgeSet) newVirtual(up *upstreams.Upstream) servedHandler {
	return virtual.New(up, virtual.Options{
		Logger: b.log.With("upstream", up.Slug, "transport", string(up.Transport)),
		Dial:   b.dial,
	})
}

// fingerprintCache keeps the fingerprint of each registry entry the bridge
// set was asked for: a registry's entries do not change once loaded (a
// reload makes new ones), and hashing a virtual entry's members on every
// request cost as much as the rest of the virtual server's work. Bounded:
// emptied when it holds more entries than maxCachedFingerprints (reloads
// leave old entries behind).
type fingerprintCache struct {
	mu sync.Mutex
	m  map[*upstreams.Upstream]string
}

const maxCachedFingerprints = 4096

func (c *fingerprintCache) of(up *upstreams.Upstream) string {
	c.mu.Lock()
	fp, ok := c.m[up]
	c.mu.Unlock()
	if ok {
		return fp
	}
	fp = fingerprint(up)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedFingerprints {
		c.m = map[*upstreams.Upstream]string{}
	}
	c.m[up] = fp
	c.mu.Unlock()
	return fp
}

// memberFingerprint identifies what a member runs and how it is reached
// (prefix, headers, audience, credential): the virtual handler holds the
// members as they were when it started, so any change starts a new one. It
// is hashed into the bridge's fingerprint, never logged.
func memberFingerprint(m upstreams.Member) string {
	var b strings.Builder
	field := func(s string) { fmt.Fprintf(&b, "%d:%s;", len(s), s) }
	field(m.Name)
	field(m.Prefix)
	field(fingerprint(m.Upstream))
	field(m.DownstreamAudience)
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		field(k)
		field(m.Headers[k])
	}
	field(string(m.Auth.Kind))
	if h := m.Auth.Header; h != nil {
		field(h.Name)
		field(h.HeaderValue())
	}
	return b.String()
}

// virtualCredential hands the virtual handler, in the request's context,
// how to authenticate the caller's member requests: each member gets the
// credential its own auth section names (by default a downstream token
// minted for the member's audience on behalf of the caller). The virtual
// upstream itself takes no credential: it is this process.
func (g *Gateway) virtualCredential(ex *exchange, req *http.Request) error {
	c := ex.claims
	cred := func(ctx context.Context, m *upstreams.Upstream, out *http.Request) error {
		switch m.Auth.Kind {
		case upstreams.AuthStatic:
			return staticCredential(m, out)
		case upstreams.AuthLegant, "":
			if c == nil {
				return fmt.Errorf("gateway: member %s: no caller to mint for", m.Slug)
			}
			tok, err := g.minter.token(c, m, g.now())
			if err != nil {
				return err
			}
			out.Header.Set("Authorization", "Bearer "+tok)
			return nil
		}
		return fmt.Errorf("gateway: member %s: auth kind %q is not supported", m.Slug, m.Auth.Kind)
	}
	ctx := virtual.WithCredential(req.Context(), cred)
	if c != nil && c.ID != "" {
		// Stateless requests of one token share the member sessions of
		// members that do not speak the stateless revision.
		ctx = virtual.WithCaller(ctx, c.ID)
	}
	*req = *req.WithContext(ctx)
	return nil
}

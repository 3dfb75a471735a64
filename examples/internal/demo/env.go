package demo

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/gateway/admin"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/upstreams"
)

// Options configure Start.
type Options struct {
	Upstreams []UpstreamSpec
	// Start is the clock's reading when the demo starts; zero = the wall clock.
	Start time.Time
}

// Env is one demo's world, all in this process: the store acting as the
// issuer, the gateway in front of the upstreams, and the clock they share.
// Close stops every server and goroutine it started and removes its files.
type Env struct {
	Clock      *Clock
	Store      *store.Store
	Gateway    *gateway.Gateway
	GatewayURL string
	// IssuerURL serves the issuer's JWKS (/.well-known/jwks.json) and signed
	// revocation feed (store.FeedPath), as `legant issuer` does, for SDK
	// verifiers.
	IssuerURL string
	Upstreams map[string]*Upstream

	issuerKey *authority.Key
	registry  *upstreams.Registry
	dir       string
	closers   []func()
	gwClosed  bool
	lastSeq   int64 // the newest audit event NextAudit returned
}

// Start builds the demo's world. On error, what was started is stopped.
func Start(ctx context.Context, opts Options) (_ *Env, err error) {
	e := &Env{Clock: NewClock(opts.Start), Upstreams: map[string]*Upstream{}}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if e.dir, err = os.MkdirTemp("", "legant-demo-"); err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { os.RemoveAll(e.dir) })
	issuerLn, err := listen()
	if err != nil {
		return nil, err
	}
	e.IssuerURL = "http://" + issuerLn.Addr().String()
	secret := make([]byte, 32)
	rand.Read(secret)
	e.Store, err = store.Open(ctx, store.Options{DataDir: e.dir, KeyEncryptionSecret: secret, Issuer: e.IssuerURL,
		PollInterval: -1, Now: e.Clock.Now})
	if err != nil {
		issuerLn.Close()
		return nil, err
	}
	e.closers = append(e.closers, func() { e.Store.Close() })
	keys, err := e.Store.KeySet(ctx)
	if err != nil {
		issuerLn.Close()
		return nil, err
	}
	if e.issuerKey, err = keys.Signer(); err != nil {
		issuerLn.Close()
		return nil, err
	}
	e.serveOn(issuerLn, e.issuerHandler(keys))
	if err := e.startGateway(opts.Upstreams, keys); err != nil {
		return nil, err
	}
	return e, nil
}

// issuerHandler serves the JWKS and the revocation feed.
func (e *Env) issuerHandler(keys *authority.KeySet) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		b, err := keys.JWKS(e.Clock.Now())
		if err != nil {
			http.Error(w, "jwks unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(b)
	})
	mux.Handle(store.FeedPath, e.Store.FeedHandler())
	return mux
}

// startGateway serves the upstreams, then the gateway in front of them, wired
// as `legant gateway` wires them (cmd/legant), reduced to what a demo needs.
func (e *Env) startGateway(specs []UpstreamSpec, issuerKeys *authority.KeySet) error {
	gwLn, err := listen()
	if err != nil {
		return err
	}
	e.GatewayURL = "http://" + gwLn.Addr().String()
	signer, err := authority.GenerateEd25519Key("demo-gateway")
	if err != nil {
		gwLn.Close()
		return err
	}
	downstreamKeys := authority.NewKeySet()
	downstreamKeys.Add(signer, time.Time{})
	var yaml strings.Builder
	yaml.WriteString("version: 1\nupstreams:\n")
	// start serves a demo upstream with tools, named name in e.Upstreams.
	start := func(name string, tools []Tool) (*Upstream, error) {
		u := &Upstream{Slug: name, keys: downstreamKeys, issuer: e.GatewayURL, now: e.Clock.Now}
		srv := u.server(UpstreamSpec{Slug: name, Tools: tools})
		base, err := e.serve(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
		if err != nil {
			return nil, err
		}
		u.URL = base + "/mcp"
		e.Upstreams[name] = u
		return u, nil
	}
	for _, spec := range specs {
		switch {
		case len(spec.Members) > 0: // a virtual server (docs/UPSTREAMS.md, Composition)
			fmt.Fprintf(&yaml, "  - slug: %s\n    members:\n", spec.Slug)
			for _, m := range spec.Members {
				u, err := start(spec.Slug+"."+m.Name, m.Tools)
				if err != nil {
					gwLn.Close()
					return err
				}
				fmt.Fprintf(&yaml, "      - name: %s\n        url: %s\n", m.Name, u.URL)
			}
		case spec.URL != "": // served by the demo itself
			fmt.Fprintf(&yaml, "  - slug: %s\n    transport: streamable-http\n    url: %s\n", spec.Slug, spec.URL)
			if spec.Auth != "" {
				fmt.Fprintf(&yaml, "    auth: %s\n", spec.Auth)
			}
		default:
			u, err := start(spec.Slug, spec.Tools)
			if err != nil {
				gwLn.Close()
				return err
			}
			fmt.Fprintf(&yaml, "  - slug: %s\n    transport: streamable-http\n    url: %s\n", spec.Slug, u.URL)
		}
		yaml.WriteString("    tools:\n")
		for _, t := range spec.Tools {
			fmt.Fprintf(&yaml, "      %s:\n", t.Name)
			for line := range strings.SplitSeq(t.Binding, "\n") {
				fmt.Fprintf(&yaml, "        %s\n", line)
			}
		}
	}
	if e.registry, err = upstreams.Parse("demo.yaml", []byte(yaml.String()), upstreams.Options{PublicURL: e.GatewayURL}); err != nil {
		gwLn.Close()
		return err
	}
	connectKey, err := e.Store.ConnectTicketKey(context.Background())
	if err != nil {
		gwLn.Close()
		return err
	}
	e.Gateway, err = gateway.New(gateway.Options{Registry: func() *upstreams.Registry { return e.registry },
		Issuer: e.IssuerURL, Keys: issuerKeys, Signer: signer, PublicURL: e.GatewayURL,
		Revocations: e.Store.Revocations(), DPoPProofs: e.Store.ProofCache(), Ledger: e.Store, Recorder: e.Store.Audit(),
		Sessions: admin.Sessions{Store: e.Store}, Approvals: admin.Approvals{Store: e.Store}, Logger: quiet(), Now: e.Clock.Now,
		// As `legant gateway`: upstreams of auth kind oauth keep each user's
		// own token in the store, connected at /connect/<slug>.
		Connections: admin.Vault{Store: e.Store}, ConnectKey: connectKey,
		// As `legant serve`: a call to a honeytool revokes the caller's token.
		OnHoneytool: func(ctx context.Context, c *authority.Claims, _ string) {
			e.Store.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindToken, Value: c.ID, Reason: "honeytool", ExpiresAt: c.ExpiresAt})
		},
		// A demo shows decisions, not store faults (docs/RELIABILITY.md has
		// those): a generous deadline keeps a loaded machine from turning a
		// budget decision into "unavailable".
		StoreTimeout: 10 * time.Second})
	if err != nil {
		gwLn.Close()
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", e.Gateway)
	mux.Handle("/connect/", e.Gateway.ConnectHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(gwLn)
	e.closers = append(e.closers, func() { srv.Close(); e.CloseGateway() })
	// What `legant gateway` does with every revocation, from any replica:
	// kill the sessions it covers.
	e.closers = append(e.closers, e.Store.Revocations().Subscribe(func(r store.Revocation) {
		go e.Gateway.Kill(context.Background(), admin.SelectorFor(r), "revoked: "+r.Reason)
	}))
	return nil
}

// CloseGateway stops the gateway and flushes its audit queue; Close calls it.
func (e *Env) CloseGateway() {
	if e.Gateway != nil && !e.gwClosed {
		e.gwClosed = true
		e.Gateway.Close()
	}
}

// Close stops everything Start started, newest first.
func (e *Env) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// Audience is the inbound audience of an upstream: the resource a token
// must name to reach it through the gateway.
func (e *Env) Audience(slug string) string {
	if u, ok := e.registry.Lookup(slug); ok {
		return u.InboundAudience
	}
	return e.GatewayURL + "/mcp/" + slug
}

// Mint signs c with the issuer's key, as the issuer signs a delegation
// token. Zero fields get demo defaults: iss, iat = now, exp = iat + 1 h, a
// random jti and delegation id, client_id "agent-host".
func (e *Env) Mint(c *authority.Claims) (string, error) {
	cl := *c
	if cl.Issuer == "" {
		cl.Issuer = e.IssuerURL
	}
	if cl.IssuedAt.IsZero() {
		cl.IssuedAt = e.Clock.Now()
	}
	if cl.ExpiresAt.IsZero() {
		cl.ExpiresAt = cl.IssuedAt.Add(time.Hour)
	}
	if cl.ID == "" {
		cl.ID = authority.NewID()
	}
	if cl.DelegationID == "" {
		cl.DelegationID = authority.NewID()
	}
	if cl.ClientID == "" {
		cl.ClientID = "agent-host"
	}
	*c = cl
	return authority.Sign(e.issuerKey, c)
}

// Revoke revokes what `legant revoke --<kind> <value>` names, through the
// store: the gateway refuses it from then on and kills its sessions.
func (e *Env) Revoke(ctx context.Context, kind revfeed.Kind, value, reason string) error {
	_, err := e.Store.Revoke(ctx, store.RevokeRequest{Kind: kind, Value: value, Reason: reason})
	return err
}

// NextAudit waits (up to 5 s) for the next audit event after the last one it
// returned that match accepts, and returns it. Events it passes over are
// skipped for good.
func (e *Env) NextAudit(ctx context.Context, match func(audit.Event) bool) (audit.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		evs, err := e.Store.Audit().Query(ctx, store.AuditFilter{AfterSeq: e.lastSeq})
		if err != nil {
			return audit.Event{}, err
		}
		for _, ev := range evs {
			if match(ev) {
				e.lastSeq = ev.Seq
				return ev, nil
			}
		}
		select {
		case <-ctx.Done():
			return audit.Event{}, fmt.Errorf("no matching audit event after #%d: %w", e.lastSeq, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Decisions accepts the events that record a decision on a request: allow,
// deny, and refusals at the edge.
func Decisions(ev audit.Event) bool {
	switch ev.Kind {
	case audit.KindAllow, audit.KindDeny, audit.KindEdge401, audit.KindEdge403:
		return true
	}
	return false
}

// AuditOf accepts the event recording the decision o on a call of tool on
// the upstream slug: an edge refusal of the upstream, or the allow or deny of
// the tool.
func AuditOf(slug, tool string, o Outcome) func(audit.Event) bool {
	return func(ev audit.Event) bool {
		if ev.Upstream != slug {
			return false
		}
		switch {
		case o.Status == 401:
			return ev.Kind == audit.KindEdge401
		case o.Status != 0:
			return ev.Kind == audit.KindEdge403
		case o.Allowed:
			return ev.Kind == audit.KindAllow && ev.Tool == tool
		}
		return ev.Kind == audit.KindDeny && ev.Tool == tool
	}
}

// AuditLine renders an event as one line of the demo's transcript.
func AuditLine(ev audit.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s", ev.Seq, ev.Kind)
	if ev.User != "" {
		fmt.Fprintf(&b, " user=%s", ev.User)
	}
	if len(ev.Agents) > 0 {
		fmt.Fprintf(&b, " agents=%s", strings.Join(ev.Agents, "→"))
	}
	if ev.Upstream != "" {
		fmt.Fprintf(&b, " upstream=%s", ev.Upstream)
	}
	if ev.Tool != "" {
		fmt.Fprintf(&b, " tool=%s", ev.Tool)
	}
	if ev.Reason != "" {
		fmt.Fprintf(&b, " reason=%s", ev.Reason)
	}
	if ev.Constraint != "" {
		limit := ev.Limit
		if len(limit) > 40 {
			limit = limit[:37] + "…"
		}
		fmt.Fprintf(&b, " constraint=%s", ev.Constraint)
		if limit != "" {
			fmt.Fprintf(&b, " limit=%q", limit)
		}
		if ev.Value != "" {
			fmt.Fprintf(&b, " value=%q", ev.Value)
		}
	}
	return b.String()
}

func listen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// serve serves h on a loopback port and returns its base URL.
func (e *Env) serve(h http.Handler) (string, error) {
	ln, err := listen()
	if err != nil {
		return "", err
	}
	e.serveOn(ln, h)
	return "http://" + ln.Addr().String(), nil
}

func (e *Env) serveOn(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	e.closers = append(e.closers, func() { srv.Close() })
}

// SQLitePath is the store's database file (for a demo that shows what a
// write to the file behind the store's back does).
func (e *Env) SQLitePath() string { return filepath.Join(e.dir, store.DefaultSQLiteFile) }

// Serve serves h on a loopback port until Close and returns its base URL
// (for a demo's own resource server).
func (e *Env) Serve(h http.Handler) (string, error) { return e.serve(h) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

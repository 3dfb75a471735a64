package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/upstreams"
)

// Target names in reports.
const (
	TargetDirect = "direct"
	TargetProxy  = "proxy"
	// TargetProxyChild is the bare proxy as a child process of its own
	// (`legant bench-proxy`), the baseline of the child gateways.
	TargetProxyChild = "proxy+child"
	TargetGateway    = "gateway"
	// Child gateways are named TargetGateway + "+" + backend ("gateway+sqlite").
)

// target is one way to reach the bench upstreams.
type target struct {
	name   string
	about  string
	base   string // scheme://host:port
	mcp    bool   // endpoints are <base>/mcp/<slug> (a gateway), else <base>/<slug>
	client *http.Client
	tokens map[string]string // slug → bearer token
	child  *childGateway     // nil when served by this process
	close  func()
}

func (t *target) endpoint(slug string) string {
	if t.mcp {
		return t.base + "/mcp/" + slug
	}
	return t.base + "/" + slug
}

func (t *target) isGateway() bool { return t.mcp }

// childCPU returns the CPU reader of the child serving t, or nil.
func (t *target) childCPU() func() time.Duration {
	if t.child == nil {
		return nil
	}
	return t.child.cpu
}

// dbCPU returns the CPU reader of the PostgreSQL server behind t, or nil.
func (t *target) dbCPU() func() time.Duration {
	if t.child == nil || !t.child.postgres {
		return nil
	}
	return postgresCPU
}

// loadClient returns the HTTP client of a target's virtual clients: its own
// keep-alive pool, large enough that every client keeps its connection.
func loadClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}

// proxyTransport is tuned as the gateway's own upstream transport, so that
// the bare proxy is the fair baseline.
func proxyTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	t.DisableCompression = true
	t.Proxy = nil
	return t
}

// NewBareProxy returns an httputil.ReverseProxy to upstream that flushes
// streams at once and reuses its copy buffers: the least a proxy can do,
// done efficiently (without a BufferPool it allocates 32 KiB per response,
// which would flatter the gateway).
//
// It reads each request body into memory before forwarding it, as the
// gateway does to authorize it. Streaming it instead loses a response now
// and then: an MCP server flushes its SSE headers before the transport has
// checked the body's end, writing those headers closes the inbound body, and
// the transport's last read fails and tears the upstream connection down
// mid-response (golang/go#40747; about one call in 30,000 here).
func NewBareProxy(upstream *url.URL) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			bufferBody(pr.Out)
		},
		Transport:     proxyTransport(),
		FlushInterval: -1,
		BufferPool:    &bufferPool{},
	}
}

// bufferBody replaces r's body with an in-memory copy; a body that cannot be
// read fails the forwarded request.
func bufferBody(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		r.Body = io.NopCloser(errReader{err})
		return
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
}

// errReader fails every read with its error.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// bufferPool is an httputil.BufferPool of 32 KiB buffers. Safe for
// concurrent use.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

func newDirect(upstreamURL string, conns int) *target {
	return &target{name: TargetDirect, about: "client → upstream", base: upstreamURL,
		client: loadClient(conns), close: func() {}}
}

func newProxy(upstreamURL string, conns int) (*target, error) {
	u, err := url.Parse(upstreamURL)
	if err != nil {
		return nil, err
	}
	srv, err := listen(NewBareProxy(u))
	if err != nil {
		return nil, err
	}
	return &target{name: TargetProxy, about: "client → httputil.ReverseProxy → upstream (in this process)",
		base: srv.url, client: loadClient(conns), close: srv.close}, nil
}

// newInProcessGateway serves gateway.New in this process: no store (sessions
// in memory, in-memory ledger, no audit recorder).
func newInProcessGateway(upstreamURL string, keys *authority.KeySet, conns int, logger *slog.Logger) (*target, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	public := "http://" + ln.Addr().String()
	reg, err := upstreams.Parse("bench.yaml", []byte(RegistryYAML(upstreamURL)), upstreams.Options{PublicURL: public})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("bench registry: %w", err)
	}
	signer, err := authority.GenerateEd25519Key("bench-gateway")
	if err != nil {
		ln.Close()
		return nil, err
	}
	gw, err := gateway.New(gateway.Options{Registry: func() *upstreams.Registry { return reg },
		Issuer: Issuer, Keys: keys, Signer: signer, PublicURL: public, Logger: logger})
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv := serveOn(ln, gw)
	return &target{name: TargetGateway, about: "client → gateway.New in this process (no store, in-memory ledger) → upstream",
		base: public, mcp: true, client: loadClient(conns),
		close: func() { gw.Close(); srv.close() }}, nil
}

// newChildTarget starts `legant gateway` as a child process.
func newChildTarget(ctx context.Context, cfg childConfig, conns int) (*target, error) {
	backend := "sqlite"
	if cfg.databaseURL != "" {
		backend = "postgres"
	}
	c, err := startChild(ctx, cfg)
	if cfg.proxy {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", TargetProxyChild, err)
		}
		return &target{name: TargetProxyChild,
			about: "client → `legant bench-proxy` child process (httputil.ReverseProxy, tuned as the gateway's transport) → upstream",
			base:  c.url, client: loadClient(conns), child: c, close: func() { c.stop() }}, nil
	}
	if err != nil {
		cfg.cleanup()
		return nil, fmt.Errorf("gateway+%s: %w", backend, err)
	}
	name, about := TargetGateway+"+"+backend, "client → `legant gateway` child process ("+backend+" store, audit log, session store) → upstream"
	switch cfg.auditMode {
	case "":
	case auditNoJournal:
		name += "+" + cfg.auditMode
		about = "the same with `--audit-journal=false` (every audit batch a SQLite transaction on the request path)"
	default:
		name += "+" + cfg.auditMode
		about = "the same with `--audit-mode " + cfg.auditMode + "` (the allow record queued, not awaited before forwarding)"
	}
	return &target{name: name, about: about,
		base: c.url, mcp: true, client: loadClient(conns), child: c,
		close: func() { c.stop(); cfg.cleanup() }}, nil
}

// mintTokens gives t a token per bench slug, for its own audiences when it
// is a gateway and for audienceBase otherwise (direct and proxy ignore it; it
// is sent so that every target carries the same request bytes).
func (t *target) mintTokens(key *authority.Key, audienceBase string, now time.Time) error {
	base := audienceBase
	if t.isGateway() {
		base = t.base
	}
	t.tokens = map[string]string{}
	for _, slug := range []string{SlugEcho, SlugEchoStateless, SlugEchoBudget, SlugCatalog} {
		o := TokenOptions{Audience: audience(base, slug)}
		switch slug {
		case SlugCatalog:
			o.Tools = authority.Only(CatalogAllowedNames()...)
		case SlugEchoBudget:
			o.Budget = &authority.Money{Value: authority.MustDecimal(BenchBudget), Currency: "USD"}
		}
		tok, err := Token(key, o, now)
		if err != nil {
			return err
		}
		t.tokens[slug] = tok
	}
	return nil
}

// discardLogger logs nothing.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/cmd/legant/internal/ops"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/gateway/admin"
	"github.com/openlegant/legant/issuer/keydir"
	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/upstreams"
	"github.com/spf13/pflag"
)

// serveConfig is what `legant gateway` and `legant demo` run: the gateway in
// front of the registry's upstreams, with its store, keys and audit log.
type serveConfig struct {
	listen    string     // host:port; port 0 picks one
	upstreams string     // registry file
	publicURL string     // "" = http://<listen address>
	keysDir   string     // issuer keys the gateway trusts; "" = <data-dir>/keys
	store     storeFlags // its issuer is the trusted "iss"; "" = publicURL
	logger    *slog.Logger
	// adminListen is the admin API's address (admin.go); "" disables it.
	// adminTokenFile holds its token; "" = <data-dir>/admin-token.
	adminListen, adminTokenFile string
	identity                    identityFlags // SSO providers, second factors
	// ready, when set, is called with the bound address once serving.
	ready func(addr string)
	// faults: how the gateway bounds its dependencies and its clients.
	limits serveLimits
	// drainTimeout bounds how long calls in flight may run once ctx ends;
	// zero means defaultDrainTimeout.
	drainTimeout time.Duration
	ops          opsFlags // ops.go
}

// serveLimits are the timeouts and sizes of `legant gateway` (docs/RELIABILITY.md).
// Zero values mean the defaults named in registerLimits.
type serveLimits struct {
	auditMode         string        // "durable" (default) or "async"
	storeTimeout      time.Duration // a store operation on the request path
	cutHoldTimeout    time.Duration // budget hold of a cut call
	readHeaderTimeout time.Duration
	bodyTimeout       time.Duration // reading a request body
	idleTimeout       time.Duration // keep-alive connections
	maxHeaderBytes    int
	noH2C             bool // serve HTTP/1.1 only (no HTTP/2 cleartext with prior knowledge)
}

// Defaults of the server's limits.
const (
	defaultReadHeaderTimeout = 10 * time.Second
	defaultBodyTimeout       = 30 * time.Second
	defaultConnIdleTimeout   = 5 * time.Minute
	defaultMaxHeaderBytes    = 64 << 10
)

// registerLimits registers the flags of serveLimits.
func (l *serveLimits) registerLimits(fs *pflag.FlagSet) {
	fs.StringVar(&l.auditMode, "audit-mode", string(gateway.AuditDurable),
		"durable: an allowed tools/call is forwarded only once its allow record is committed; async: recorded after, off the request path")
	fs.DurationVar(&l.storeTimeout, "store-timeout", gateway.DefaultStoreTimeout,
		"deadline of each store operation on the request path (audit append, budget, session load); the first one past it marks the store unavailable: tools/call is refused at once with -32034 until a probe finds the store back")
	fs.DurationVar(&l.cutHoldTimeout, "cut-hold-timeout", gateway.DefaultCutHoldTimeout,
		"how long the budget hold of a call cut before its answer (registry timeouts.call or timeouts.request, client gone, kill, drain) stays reserved waiting for the upstream's answer before it counts as spent; the upstream is sent notifications/cancelled at once")
	fs.DurationVar(&l.readHeaderTimeout, "read-header-timeout", defaultReadHeaderTimeout, "time a client has to send the request headers")
	fs.DurationVar(&l.bodyTimeout, "body-read-timeout", defaultBodyTimeout, "time a client has to send a request body (streams are not cut by it)")
	fs.DurationVar(&l.idleTimeout, "conn-idle-timeout", defaultConnIdleTimeout, "how long an idle keep-alive connection stays open")
	fs.IntVar(&l.maxHeaderBytes, "max-header-bytes", defaultMaxHeaderBytes, "largest request header block accepted")
	fs.BoolVar(&l.noH2C, "no-h2c", false, "serve HTTP/1.1 only; by default the listener also accepts HTTP/2 cleartext with prior knowledge (h2c), so a client's sessions and their idle GET streams share one connection")
}

// h2cMaxStreams is how many streams one HTTP/2 client connection may hold
// open: an idle session's GET stream is one, so a client multiplexes 250
// sessions per connection and opens another for more (Go's default, and the
// go-sdk server's). Not more: net/http's HTTP/2 write scheduler walks every
// open stream of a connection for each frame it writes, so a connection of
// 1,000 idle streams made every frame on it four times dearer (with 10,000
// idle sessions, the gateway's CPU per session opened fell from 1.22–1.26 to
// 1.07–1.12 ms at 250; docs/PERFORMANCE.md).
const h2cMaxStreams = 250

func (l serveLimits) server(h http.Handler) *http.Server {
	or := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	maxHeader := l.maxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = defaultMaxHeaderBytes
	}
	srv := &http.Server{Handler: bodyDeadline(or(l.bodyTimeout, defaultBodyTimeout), h),
		ReadHeaderTimeout: or(l.readHeaderTimeout, defaultReadHeaderTimeout),
		IdleTimeout:       or(l.idleTimeout, defaultConnIdleTimeout), MaxHeaderBytes: maxHeader}
	if !l.noH2C {
		// Prior knowledge only: the HTTP/1.1 "Upgrade: h2c" dance is not
		// served (it lets a request slip past a front proxy's checks).
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
		srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: h2cMaxStreams}
	}
	return srv
}

// bodyDeadline gives a client d to send its request body. Unlike
// http.Server.ReadTimeout, the deadline is lifted once the body is read, so a
// long response stream (SSE) is not cut by it.
func bodyDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(d)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the connection's read deadline at the end of the body.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// defaultDrainTimeout is how long `legant gateway` lets calls in flight
// finish after SIGTERM or SIGINT.
const defaultDrainTimeout = 30 * time.Second

// wiring is a running gateway and what it is made of.
type wiring struct {
	gw      *gateway.Gateway
	st      *store.Store
	watcher *upstreams.Watcher
	handler http.Handler
	public  string
	issuer  string
	keys    *authority.KeySet
	// oauth is the co-resident authorization server (issuer/oauth); nil
	// when the issuer is not an http(s) origin it could serve.
	oauth http.Handler
	// accounts lets issuer accounts with the admin role sign in to the
	// console; nil (no co-resident issuer) means the admin token only.
	accounts admin.AccountAuthenticator
	// ops holds metrics and traces; metricsOnMain serves /metrics on the
	// gateway listener too (ops.go).
	ops           *ops.Ops
	metricsOnMain bool
	close         func()
}

// serve runs the gateway until ctx ends.
func serve(ctx context.Context, cfg serveConfig, errOut io.Writer) error {
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	if cfg.publicURL == "" {
		cfg.publicURL = "http://" + ln.Addr().String()
	}
	w, err := wire(ctx, cfg, errOut)
	if err != nil {
		return err
	}
	defer w.close()
	_, stopAdmin, err := startAdmin(cfg, w, errOut)
	if err != nil {
		return err
	}
	defer stopAdmin()
	srv := cfg.limits.server(w.handler)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	cfg.logger.Info("legant gateway serving", "addr", ln.Addr().String(), "public_url", w.public,
		"issuer", w.issuer, "store", w.st.Backend(), "upstreams", len(w.watcher.Current().Upstreams()))
	if cfg.ready != nil {
		cfg.ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Drain while still listening, so that new requests get 503 and
	// Retry-After rather than a refused connection; then stop the server
	// (no stream is left open) and close the gateway (audit queue flushed).
	timeout := cfg.drainTimeout
	if timeout <= 0 {
		timeout = defaultDrainTimeout
	}
	cfg.logger.Info("legant gateway draining", "timeout", timeout.String())
	drain, cancelDrain := context.WithTimeout(context.Background(), timeout)
	defer cancelDrain()
	if err := w.gw.Drain(drain); err != nil {
		cfg.logger.Warn("drain timed out; calls still running were cut", "err", err)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	w.gw.Close()
	cfg.logger.Info("legant gateway stopped")
	return err
}

// wire assembles store, keys, registry and gateway.
func wire(ctx context.Context, cfg serveConfig, errOut io.Writer) (*wiring, error) {
	w := &wiring{public: cfg.publicURL, issuer: issuerOr(cfg.store.issuer, cfg.publicURL)}
	var asOpts oauth.Options
	if err := cfg.identity.apply(ctx, &asOpts); err != nil {
		return nil, fmt.Errorf("sign-in configuration: %w", err)
	}
	cfg.store.issuer, cfg.store.logger = w.issuer, cfg.logger
	st, err := cfg.store.open(ctx, errOut)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	w.st = st
	ok := false
	defer func() {
		if !ok {
			st.Close()
		}
	}()
	if err := requireKeySecret(ctx, st); err != nil {
		return nil, err
	}
	keysDir := cfg.keysDir
	if keysDir == "" {
		keysDir = filepath.Join(cfg.store.dataDir, "keys")
	}
	if w.keys, err = ensureKeys(keysDir, errOut); err != nil {
		return nil, err
	}
	gwKeys, err := ensureKeys(filepath.Join(cfg.store.dataDir, "gateway-keys"), errOut)
	if err != nil {
		return nil, err
	}
	signer, err := gwKeys.Signer()
	if err != nil {
		return nil, err
	}
	w.watcher, err = upstreams.NewWatcher(cfg.upstreams, upstreams.Options{PublicURL: cfg.publicURL, ResolveSecrets: true},
		func(_ *upstreams.Registry, err error) {
			if err != nil {
				cfg.logger.Error("registry reload refused; keeping the previous one", "err", err)
				return
			}
			cfg.logger.Info("registry reloaded", "file", cfg.upstreams)
			if w.gw != nil { // live sessions whose view changed are told (list_changed)
				w.gw.RegistryChanged()
			}
			if err := st.Audit().Append(context.Background(), audit.Event{Kind: audit.KindConfigReload, Reason: cfg.upstreams}); err != nil {
				cfg.logger.Error("registry reload not recorded in the audit log", "err", err)
			}
		})
	if err != nil {
		return nil, err
	}
	mode := gateway.AuditDurable
	if cfg.limits.auditMode != "" {
		if mode, err = gateway.ParseAuditMode(cfg.limits.auditMode); err != nil {
			return nil, err
		}
	}
	if w.ops, err = newOps(ctx, cfg, w); err != nil {
		return nil, err
	}
	w.metricsOnMain = cfg.ops.metricsOnMain
	connectKey, err := st.ConnectTicketKey(ctx)
	if err != nil {
		return nil, err
	}
	// A call to a honeytool revokes the caller's token in the store, so every
	// replica refuses it (the gateway has killed the session on this one).
	onHoneytool := func(ctx context.Context, c *authority.Claims, tool string) {
		req := store.RevokeRequest{Kind: revfeed.KindToken, Value: c.ID, Reason: "honeytool", ExpiresAt: c.ExpiresAt}
		if _, err := st.Revoke(ctx, req); err != nil {
			cfg.logger.Error("honeytool called; revoking the caller's token failed", "tool", tool, "err", err)
		}
	}
	w.gw, err = gateway.New(gateway.Options{
		OnHoneytool: onHoneytool,
		Connections: admin.Vault{Store: st}, ConnectKey: connectKey,
		AuditMode: mode, StoreTimeout: cfg.limits.storeTimeout, StorePing: st.Ping, CutHoldTimeout: cfg.limits.cutHoldTimeout,
		Registry: w.watcher.Current, Issuer: w.issuer, Keys: w.keys, Signer: signer,
		DownstreamIssuer: cfg.publicURL + downstreamIssuerPath, PublicURL: cfg.publicURL,
		Revocations: st.Revocations(), DPoPProofs: st.ProofCache(), Ledger: st, Recorder: w.ops.Recorder(st.Audit()), Sessions: admin.Sessions{Store: st}, Approvals: admin.Approvals{Store: st}, Logger: cfg.logger,
		Observer: w.ops.Observer(),
	})
	if err != nil {
		return nil, err
	}
	w.ops.SetStats(w.gw.Stats)
	// Every goroutine started here is owned: close stops and waits for the
	// watcher and for the kills revocations started.
	var running sync.WaitGroup
	runCtx, cancel := context.WithCancel(context.Background())
	running.Go(func() { w.watcher.Run(runCtx) })
	running.Go(func() { watchKeys(runCtx, keysDir, w, cfg.logger) })
	// Subscribers must not block: Kill waits for cut calls to answer.
	unsubscribe := st.Revocations().Subscribe(func(r store.Revocation) {
		running.Go(func() { w.gw.Kill(context.Background(), admin.SelectorFor(r), "revoked: "+r.Reason) })
	})
	asOpts.Issuer, asOpts.Store, asOpts.Keys, asOpts.Registry, asOpts.Logger = w.issuer, st, w.keys, w.watcher.Current, cfg.logger
	if as, err := oauth.New(asOpts); err != nil {
		cfg.logger.Warn("OAuth authorization server not served", "err", err)
	} else {
		w.oauth = as
		w.accounts = as // admins of the issuer may sign in to the console
	}
	w.handler = routes(w, gwKeys, st)
	w.close = func() {
		unsubscribe()
		cancel()
		running.Wait()
		w.gw.Close()
		st.Close()
		shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		w.ops.Shutdown(shutdown) // flushes the spans not yet exported
	}
	ok = true
	return w, nil
}

// downstreamIssuerPath is where the gateway's own identity lives: the "iss"
// of downstream tokens, with their JWKS below it.
const downstreamIssuerPath = "/gateway"

func routes(w *wiring, gwKeys *authority.KeySet, st *store.Store) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/mcp/", w.gw)
	mux.Handle("/.well-known/oauth-protected-resource/", w.gw)
	mux.Handle("/connect/", w.gw.ConnectHandler())
	mux.Handle(gateway.ApprovalsPath, w.gw) // the approvals inbox (four-eyes tools)
	mux.Handle(gateway.ClientMetadataPath, w.gw.ClientMetadataHandler())
	// The issuer's JWKS publishes the key directory's keys (they sign
	// delegation tokens) and the store's (they sign the revocation feed and
	// audit anchors), so both verify against one jwks_uri.
	mux.Handle("GET /.well-known/jwks.json", jwksHandler(func(ctx context.Context) ([]*authority.KeySet, error) {
		stKeys, err := st.KeySet(ctx)
		if err != nil {
			return nil, err
		}
		return []*authority.KeySet{w.keys, stKeys}, nil
	}))
	mux.Handle("GET "+downstreamIssuerPath+"/jwks.json", jwksHandler(func(context.Context) ([]*authority.KeySet, error) {
		return []*authority.KeySet{gwKeys}, nil
	}))
	mux.Handle("GET /.well-known/revoked", st.FeedHandler())
	w.opsRoutes(mux, w.metricsOnMain)
	if w.oauth != nil {
		for _, p := range oauth.Paths {
			mux.Handle(p, w.oauth)
		}
	}
	return mux
}

// jwksHandler serves the public keys of the key sets sets returns as one
// RFC 7517 JWKS (authority.JoinJWKS).
func jwksHandler(sets func(context.Context) ([]*authority.KeySet, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		all, err := sets(r.Context())
		var b []byte
		if err == nil {
			b, err = authority.JoinJWKS(time.Now(), all...)
		}
		if err != nil {
			http.Error(w, "key set unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=300")
		w.Write(append(b, '\n'))
	})
}

// ensureKeys loads a key directory, creating it with one Ed25519 key when it
// does not exist yet (zero-config start), and says so on errOut.
func ensureKeys(dir string, errOut io.Writer) (*authority.KeySet, error) {
	ks, created, err := keydir.Ensure(dir, keydir.Ed25519, nil)
	if created != nil {
		fmt.Fprintf(errOut, "legant: created signing key %s in %s\n", created.KID, dir)
	}
	return ks, err
}

package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/dpop"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxBodyBytes  = 4 << 20
	DefaultDownstreamTTL = 2 * time.Minute
	DefaultActor         = "legant-gateway"
	DefaultIdleTimeout   = 30 * time.Minute
	// DefaultStoreTimeout bounds a store operation on the request path.
	DefaultStoreTimeout = time.Second
	// maxEventBytes bounds one SSE event relayed from an upstream.
	maxEventBytes = 16 << 20
)

// Revocations answers whether a verified token has been revoked. It is called
// on every request, so implementations answer from memory. The store's
// revocation set implements it.
type Revocations interface {
	Revoked(c *authority.Claims) (why string, revoked bool)
}

// Options configures a Gateway. Registry, Issuer, Keys and Signer are required;
// every other zero field means the default named on it.
type Options struct {
	// Registry returns the current upstream registry snapshot. It is called per
	// request so a reload takes effect without dropping sessions.
	Registry func() *upstreams.Registry
	// Issuer is the exact "iss" inbound tokens must carry.
	Issuer string
	// Keys verifies inbound tokens (the issuer's key set).
	Keys *authority.KeySet
	// Signer signs the downstream tokens sent to upstreams (Ed25519 advised:
	// one is minted per caller token and upstream, and again once half its
	// lifetime has passed).
	Signer *authority.Key
	// DownstreamIssuer is the "iss" of downstream tokens; "" means PublicURL.
	DownstreamIssuer string
	// DownstreamTTL is the lifetime of downstream tokens; zero means DefaultDownstreamTTL.
	DownstreamTTL time.Duration
	// Actor is the subject the gateway appends to the act chain of downstream
	// tokens; "" means DefaultActor.
	Actor string
	// PublicURL is the gateway's external base URL (scheme://host[:port]); it
	// names the RFC 9728 metadata. "" means derived from each request.
	PublicURL string
	// AuthorizationServers are listed in RFC 9728 metadata; nil means [Issuer].
	AuthorizationServers []string
	// AllowedOrigins are browser origins allowed to call the gateway. A request
	// with an Origin header that is neither listed nor PublicURL's origin is
	// refused (DNS-rebinding protection).
	AllowedOrigins []string
	// AllowedHosts are accepted Host header values (host or host:port); nil
	// means PublicURL's host plus loopback names.
	AllowedHosts []string
	// MaxBodyBytes caps a request body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Revocations is consulted per request; nil means nothing is revoked.
	Revocations Revocations
	// DPoPProofs remembers the DPoP proofs accepted (RFC 9449 replay
	// protection); replicas must share one (the store's ProofCache). nil
	// means a cache of this process.
	DPoPProofs dpop.ReplayCache
	// DPoPNonces, when set, makes proofs carry the gateway's nonce (RFC 9449
	// §9, dpop_nonce.go); nil means no nonces.
	DPoPNonces *DPoPNonceOptions
	// Ledger holds budgets and call counts; nil means an in-memory ledger.
	Ledger policy.Ledger
	// Recorder receives an audit.Event per decision; nil discards them.
	Recorder Recorder
	// AuditMode says whether an allowed call waits for its durable allow
	// record before it is forwarded; "" means AuditDurable.
	AuditMode AuditMode
	// StoreTimeout bounds each store operation on the request path (a
	// durable audit append, a budget reservation, loading a session): one
	// that takes longer fails, and the call fails closed. Zero means
	// DefaultStoreTimeout.
	StoreTimeout time.Duration
	// CutHoldTimeout is how long the budget hold of a call cut before its
	// answer (timeout, kill, client gone, drain) stays reserved waiting for
	// the upstream's answer; then it is counted as spent (cut.go). Zero means
	// DefaultCutHoldTimeout.
	CutHoldTimeout time.Duration
	// StorePing probes the store once a request-path operation found it
	// unavailable (health.go); nil leaves the probing to the audit writer's
	// retries.
	StorePing func(context.Context) error
	// Sessions persists sessions for other replicas and operators; nil keeps
	// them in this process only.
	Sessions SessionStore
	// IdleTimeout ends sessions without a request for this long, overriding
	// the registry; zero means each upstream's timeouts.idle (and
	// DefaultIdleTimeout for a session whose upstream left the registry).
	IdleTimeout time.Duration
	// StreamIdleTimeout ends sessions whose client holds a GET stream open
	// but sent no request for this long; zero means the session's idle
	// timeout (an open stream alone never keeps a session alive).
	StreamIdleTimeout time.Duration
	// Connections keeps the users' tokens for upstreams of auth kind oauth
	// (connections.go); nil refuses calls to those upstreams. A Vault that
	// also implements ConnectState keeps the connect flow's state
	// (connectstate.go) where every replica sees it; else it lives in this
	// process.
	Connections Vault
	// ConnectKey signs the tickets of connect URLs (connect.go); replicas
	// must share one. nil means a random key of this process.
	ConnectKey []byte
	// Transport carries requests to upstreams; nil means a pooled transport
	// tuned for many concurrent streams.
	Transport http.RoundTripper
	// Observer watches requests for metrics and traces (observe.go); nil
	// observes nothing.
	Observer Observer
	// OnHoneytool, when set, is called (on a goroutine Close waits for, with
	// a context detached from the request) after a call to a honeytool was
	// refused and its session killed, with the caller's verified claims: the
	// place to revoke the token everywhere (honeytool.go). nil means none.
	OnHoneytool func(ctx context.Context, c *authority.Claims, tool string)
	// Approvals shares four-eyes approval requests between replicas (the
	// store); nil keeps them in this process (approval_shared.go).
	Approvals ApprovalStore
	// Logger receives operational logs (never tokens or arguments); nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Gateway is the MCP authorization proxy. It is an http.Handler serving
// /mcp/<slug> and /.well-known/oauth-protected-resource/mcp/<slug>.
// It is safe for concurrent use.
type Gateway struct {
	opts      Options
	verifier  *verifier
	proofs    dpop.ReplayCache // DPoP proofs accepted (Options.DPoPProofs or this process's)
	nonces    *dpop.Nonces     // Options.DPoPNonces; nil: off
	sessions  *sessionTable
	minter    *minter
	client    *http.Client
	h2c       *http.Client // upstreams with H2C (h2c.go)
	connect   *connector   // the connect flow of oauth upstreams (connect.go)
	exchanged *exchanger   // tokens of exchange upstreams (tokenexchange.go)
	uses      useSet       // connection uses recorded (connections.go)
	log       *slog.Logger
	now       func() time.Time
	hosts     map[string]bool
	origins   map[string]bool
	inflight  *inflightSet
	undecided *undecidedHolds // budget holds of cut calls (cut.go)
	health    *storeHealth    // the store as the request path sees it (health.go)
	held      heldKills       // kills held in memory until the store takes them (health.go)
	audit     *auditQueue     // nil when no Recorder
	bridges   *bridgeSet      // stdio and legacy SSE upstreams (bridges.go)
	tasks     tasks           // goroutines started by Kill (kill.go)
	mcpTasks  *taskOwners     // MCP task ids relayed, by owner (decide_tasks.go)
	states    *taskOwners     // MRTR request states relayed, by principal (decide_state.go)
	approvals *approvals      // four-eyes approval requests (approval.go)
	inbox     *inbox          // approvers' sessions at ApprovalsPath (approval_inbox.go)

	definitions observedDefinitions // pinned definitions last listed (pins.go)

	draining atomic.Bool // Drain began: new requests are refused (drain.go)

	closeOnce   sync.Once
	closed      chan struct{}
	janitorDone chan struct{}
}

// New returns a Gateway for opts.
func New(opts Options) (*Gateway, error) {
	if opts.Registry == nil || opts.Issuer == "" || opts.Keys == nil || opts.Signer == nil {
		return nil, errors.New("gateway: Registry, Issuer, Keys and Signer are required")
	}
	if !opts.Signer.CanSign() {
		return nil, errors.New("gateway: Signer has no private key")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Ledger == nil {
		opts.Ledger = policy.NewMemoryLedger()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AuditMode == "" {
		opts.AuditMode = AuditDurable
	}
	if _, err := ParseAuditMode(string(opts.AuditMode)); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = DefaultStoreTimeout
	}
	if opts.CutHoldTimeout <= 0 {
		opts.CutHoldTimeout = DefaultCutHoldTimeout
	}
	if opts.Transport == nil {
		opts.Transport = newUpstreamTransport()
	}
	g := &Gateway{
		opts:      opts,
		verifier:  newVerifier(opts.Keys, opts.Issuer),
		proofs:    opts.DPoPProofs,
		sessions:  newSessionTable(),
		minter:    newMinter(opts),
		client:    &http.Client{Transport: observeTransport(opts.Observer, opts.Transport), CheckRedirect: noRedirects},
		h2c:       &http.Client{Transport: observeTransport(opts.Observer, h2cTransport(opts.Transport)), CheckRedirect: noRedirects},
		log:       opts.Logger,
		now:       opts.Now,
		inflight:  newInflightSet(),
		undecided: newUndecidedHolds(),
		mcpTasks:  newTaskOwners(maxTaskOwners),
		states:    newTaskOwners(maxTaskOwners),
		closed:    make(chan struct{}),

		janitorDone: make(chan struct{}),
	}
	if g.proofs == nil {
		g.proofs = &dpop.MemoryReplayCache{Now: opts.Now}
	}
	var err error
	if g.nonces, err = newDPoPNonces(opts.DPoPNonces); err != nil {
		return nil, err
	}
	g.hosts, g.origins = allowLists(opts)
	g.bridges = newBridgeSet(g.client, opts.Logger)
	g.health = newStoreHealth(opts.Logger, opts.StorePing, opts.StoreTimeout, g.closed)
	cs, _ := opts.Connections.(ConnectState) // else the connect state lives in this process
	g.connect = newConnector(opts.ConnectKey, g.client, g.now, cs)
	g.exchanged = newExchanger()
	g.bridges.dial = g.upstreamClient // virtual.go
	g.approvals = newApprovals(opts.Approvals)
	g.inbox = g.newInbox() // after g.approvals: its poller reads them
	if opts.Recorder != nil {
		g.audit = newAuditQueue(opts.Recorder, opts.Logger, opts.StoreTimeout, g.health)
	}
	go g.janitor(time.Second)
	return g, nil
}

// Close ends every session's upstream streams and returns once every
// goroutine the gateway started (janitor, audit queue, the work of kills) has
// ended. It does not stop an http.Server.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		close(g.closed)
		<-g.janitorDone
		g.approvals.close() // before tasks.wait: ends the elicitations in flight
		g.inbox.close()
		g.tasks.wait() // before the bridges and the audit queue they use close
		g.health.probing.Wait()
		g.sessions.closeAll()
		g.undecided.close()
		g.bridges.close()
		if g.audit != nil {
			g.audit.close()
		}
	})
	return nil
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func newUpstreamTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	t.DisableCompression = true  // relay bytes as the upstream sent them
	t.Proxy = nil                // never send upstream traffic through an environment proxy
	t.DialContext = dialUpstream // timeouts.connect of the request's upstream (timeouts.go)
	return t
}

const (
	mcpPrefix      = "/mcp/"
	metadataPrefix = "/.well-known/oauth-protected-resource/mcp/"
)

// ServeHTTP routes /mcp/<slug>, the RFC 9728 metadata of each slug and the
// approvals inbox (ApprovalsPath).
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.hostAllowed(r.Host) {
		http.Error(w, "Forbidden: invalid Host header", http.StatusForbidden)
		return
	}
	switch {
	case strings.HasPrefix(r.URL.Path, metadataPrefix):
		g.serveMetadata(w, r, strings.TrimPrefix(r.URL.Path, metadataPrefix))
	case r.URL.Path == ApprovalsPath:
		g.serveApprovals(w, r) // approval_inbox.go
	case strings.HasPrefix(r.URL.Path, mcpPrefix):
		defer g.observeRequest(&r, strings.TrimPrefix(r.URL.Path, mcpPrefix))()
		g.serveMCP(w, r, strings.TrimPrefix(r.URL.Path, mcpPrefix))
	default:
		http.NotFound(w, r)
	}
}

// upstream returns the registered upstream for slug.
func (g *Gateway) upstream(slug string) (*upstreams.Upstream, bool) {
	reg := g.opts.Registry()
	if reg == nil || slug == "" || strings.Contains(slug, "/") {
		return nil, false
	}
	return reg.Lookup(slug)
}

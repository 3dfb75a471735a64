package gateway

// Connections: the per-user upstream credential of registry auth kind
// oauth. A user connects an upstream once (connect.go runs the flow); the
// tokens live in a Vault that cmd/legant backs with the store (sealed at
// rest). On the path of an allowed call, oauthCredential sends the user's
// access token, refreshing it shortly before it expires; a user without a
// connection gets connection_required with the URL of the gateway's connect
// page, and so does one whose token the upstream refuses.

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/openlegant/legant/upstreams"
)

// UpstreamToken is one user's tokens for one upstream. AccessToken and
// RefreshToken are secrets: never logged, audited or shown.
type UpstreamToken struct {
	User         string
	Upstream     string // the registry slug
	AccessToken  string
	RefreshToken string // "" when the upstream's server gave none
	TokenType    string // "" means Bearer
	Scope        string
	Issuer       string    // the upstream's authorization server
	ClientID     string    // the client the gateway was there
	ExpiresAt    time.Time // zero: unknown (used until the upstream refuses it)
}

// Vault keeps UpstreamTokens per (user, upstream). Implementations must be
// safe for concurrent use and keep tokens encrypted at rest.
type Vault interface {
	// Token returns the user's token for upstream, or ErrNoConnection.
	Token(ctx context.Context, user, upstream string) (*UpstreamToken, error)
	// SaveToken stores (or replaces) t.
	SaveToken(ctx context.Context, t UpstreamToken) error
	// DropToken deletes the user's token for upstream, if any.
	DropToken(ctx context.Context, user, upstream string) error
	// Used records that a call under delegation (agent chain agents) sent
	// the user's token for upstream, so that revoking that delegation, an
	// ancestor of it or one of its agents deletes the connection.
	Used(ctx context.Context, user, upstream, delegation string, agents []string) error
}

// ErrNoConnection is what Vault.Token returns for a user who has not
// connected the upstream.
var ErrNoConnection = errors.New("gateway: no connection to the upstream")

// refreshMargin is how long before its expiry an access token is refreshed.
const refreshMargin = 60 * time.Second

// connectionRequiredError means the user must (re)connect the upstream
// before the call can go on. It names no secret.
type connectionRequiredError struct {
	user, upstream string
	scope          []string // step-up (connect.go): the scopes to ask for
}

func (e *connectionRequiredError) Error() string {
	return "gateway: user " + e.user + " has no usable connection to upstream " + e.upstream
}

// connectionRequiredData is the data of the JSON-RPC error answering a call
// that needs a connection: the page the user opens to connect.
type connectionRequiredData struct {
	Reason   string `json:"reason"` // "connection_required"
	Upstream string `json:"upstream"`
	URL      string `json:"url"`
	Scope    string `json:"scope,omitempty"` // step-up: the scopes the user is asked to grant
}

// ReasonConnectionRequired is data.reason of the error answering a call to
// an oauth upstream the user has not connected (code CodeUpstream).
const ReasonConnectionRequired = "connection_required"

// connectionRequired is the error a client gets: the URL carries a
// short-lived ticket naming the user and the upstream (connect.go).
func (g *Gateway) connectionRequired(r *http.Request, e *connectionRequiredError) rpcError {
	u := g.publicURL(r) + connectPrefix + e.upstream + "?ticket=" + g.connect.ticket(e.user, e.upstream, e.scope...)
	return rpcError{Code: CodeUpstream, Message: "connect the upstream " + e.upstream + " at the URL in data.url, then retry the call",
		Data: connectionRequiredData{Reason: ReasonConnectionRequired, Upstream: e.upstream, URL: u, Scope: strings.Join(e.scope, " ")}}
}

// oauthCredential sets the user's access token for the upstream of ex.
func (g *Gateway) oauthCredential(ctx context.Context, ex *exchange, req *http.Request) error {
	v := g.opts.Connections
	if v == nil {
		return errOAuthUnavailable
	}
	user, slug := ex.claims.Subject, ex.up.Slug
	tok := ex.oauthToken // read when the call was decided (connectionMissing), used once
	ex.oauthToken = nil
	var err error
	if tok == nil {
		tok, err = v.Token(ctx, user, slug)
		if errors.Is(err, ErrNoConnection) {
			return &connectionRequiredError{user: user, upstream: slug}
		}
		if err != nil {
			return err
		}
	}
	if g.stale(tok) {
		if tok, err = g.refreshToken(ctx, ex.up, user); err != nil {
			return err
		}
	}
	if err := g.uses.note(ctx, v, ex, tok); err != nil {
		return err // fail closed: a use not recorded would outlive a revocation
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return nil
}

// useSet remembers which (delegation, connection token) uses this process
// recorded in the Vault, so that each is written once, not per call. A
// new token (a refresh, a reconnection) is recorded again: a disconnect
// forgets the uses of the old connection. Safe for concurrent use.
type useSet struct {
	mu   sync.Mutex
	seen map[[sha256.Size]byte]struct{}
}

const maxUses = 100_000

func (u *useSet) note(ctx context.Context, v Vault, ex *exchange, tok *UpstreamToken) error {
	c := ex.claims
	if c.DelegationID == "" {
		return nil // a token without delegation: only a user revocation reaches it
	}
	k := sha256.Sum256([]byte(c.DelegationID + "\x00" + ex.up.Slug + "\x00" + c.Subject + "\x00" + tok.AccessToken))
	u.mu.Lock()
	_, ok := u.seen[k]
	u.mu.Unlock()
	if ok {
		return nil
	}
	if err := v.Used(ctx, c.Subject, ex.up.Slug, c.DelegationID, c.Chain()); err != nil {
		return err
	}
	u.mu.Lock()
	if u.seen == nil || len(u.seen) >= maxUses {
		u.seen = map[[sha256.Size]byte]struct{}{}
	}
	u.seen[k] = struct{}{}
	u.mu.Unlock()
	return nil
}

func (g *Gateway) stale(t *UpstreamToken) bool {
	return !t.ExpiresAt.IsZero() && g.now().Add(refreshMargin).After(t.ExpiresAt)
}

// refreshToken renews the user's token, one refresh at a time per (user,
// upstream): the server may rotate the refresh token, and a second
// concurrent refresh with the old one would fail (or revoke the family).
// A token that cannot be refreshed is dropped: the user connects again.
func (g *Gateway) refreshToken(ctx context.Context, up *upstreams.Upstream, user string) (*UpstreamToken, error) {
	mu := g.connect.lock(user, up.Slug)
	mu.Lock()
	defer mu.Unlock()
	v := g.opts.Connections
	tok, err := v.Token(ctx, user, up.Slug)
	if errors.Is(err, ErrNoConnection) {
		return nil, &connectionRequiredError{user: user, upstream: up.Slug}
	}
	if err != nil || !g.stale(tok) {
		return tok, err // refreshed meanwhile
	}
	var redirect string // the callback, for a server this process has not discovered
	if g.opts.PublicURL != "" {
		redirect = g.publicURL(nil) + connectCallback
	}
	fresh, err := g.connect.refresh(ctx, up, tok, redirect, g.clientMetadataURL())
	if err != nil {
		g.log.Warn("upstream token not refreshed: the user must connect again", "upstream", up.Slug, "user", user, "err", err)
		if err := v.DropToken(ctx, user, up.Slug); err != nil {
			return nil, err
		}
		return nil, &connectionRequiredError{user: user, upstream: up.Slug}
	}
	if err := v.SaveToken(ctx, *fresh); err != nil {
		return nil, err
	}
	return fresh, nil
}

// refusedConnection handles a 401 from an oauth upstream: the stored token
// is no good (revoked or expired at the upstream's server), so it is
// dropped and the user is asked to connect again.
func (g *Gateway) refusedConnection(ctx context.Context, ex *exchange, status int) *connectionRequiredError {
	if ex.up.Auth.Kind == upstreams.AuthExchange {
		g.exchanged.drop(ex.up, ex.claims) // the next call exchanges again (tokenexchange.go)
		return nil
	}
	if status != http.StatusUnauthorized || ex.up.Auth.Kind != upstreams.AuthOAuth || g.opts.Connections == nil {
		return nil
	}
	user, slug := ex.claims.Subject, ex.up.Slug
	if err := g.opts.Connections.DropToken(context.WithoutCancel(ctx), user, slug); err != nil {
		g.log.Error("refused upstream token not dropped", "upstream", slug, "user", user, "err", err)
	}
	return &connectionRequiredError{user: user, upstream: slug}
}

// connLocks hands out one mutex per (user, upstream).
type connLocks struct {
	mu sync.Mutex
	m  map[string]*sync.Mutex
}

func (c *connLocks) lock(user, upstream string) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*sync.Mutex{}
	}
	k := user + "\x00" + upstream
	if c.m[k] == nil {
		c.m[k] = &sync.Mutex{}
	}
	return c.m[k]
}

package sdk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/dpop"
	"github.com/openlegant/legant/policy"
)

// Defaults of VerifierOptions.
const (
	DefaultFeedInterval       = 30 * time.Second
	DefaultJWKSInterval       = 5 * time.Minute
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultHTTPTimeout        = 10 * time.Second
	// DefaultFeedAgeFactor: a zero MaxFeedAge means this many FeedIntervals.
	DefaultFeedAgeFactor = 4
)

// Errors Verify returns besides the authority sentinels (which it wraps for
// bad tokens: authority.ErrExpired, authority.ErrAudience…).
var (
	// ErrRevoked: the token, its delegation, its user or one of its agents
	// is in the issuer's revocation feed.
	ErrRevoked = errors.New("token revoked")
	// ErrFeedStale: VerifierOptions.RequireFreshFeed is set and the newest
	// accepted revocation feed is older than MaxFeedAge (or none was accepted).
	ErrFeedStale = errors.New("revocation feed is stale")
	// ErrNoToken: VerifyRequest found no Authorization header with one
	// Bearer or DPoP token.
	ErrNoToken = errors.New("no access token")
)

// VerifierOptions tune a Verifier. A nil *VerifierOptions, and every zero
// field, means the default named on the field.
type VerifierOptions struct {
	// JWKSURL is where the issuer's key set is fetched. "": discovered from
	// the issuer's RFC 8414 metadata (jwks_uri), or, when the issuer
	// publishes no metadata (404), issuerURL + "/.well-known/jwks.json".
	JWKSURL string
	// JWKSFile, for offline setups, reads the key set from a file (RFC 7517
	// JSON) instead of over HTTP, re-read at the same times a fetch would be.
	JWKSFile string
	// FeedURL is where the signed revocation feed is polled; "" means
	// issuerURL + "/.well-known/revoked".
	FeedURL string
	// FeedFile, for offline setups, reads the signed feed from a file
	// instead of FeedURL, re-read every FeedInterval.
	FeedFile string
	// FeedInterval is how often the feed is polled; 0 = DefaultFeedInterval.
	FeedInterval time.Duration
	// JWKSInterval is how often the key set is refreshed in the background
	// (so retired keys stop verifying); 0 = DefaultJWKSInterval.
	JWKSInterval time.Duration
	// MinRefreshInterval bounds refreshes caused by an unknown kid: at most
	// one per interval since the last fetch; 0 = DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// RequireFreshFeed makes Verify fail with ErrFeedStale while the newest
	// accepted feed is older than MaxFeedAge (fail closed). False (the
	// default) fails open: a stale feed leaves tokens verifying, bounded by
	// their own short lifetime, with the revocations last known.
	RequireFreshFeed bool
	// MaxFeedAge is the age (since the feed's iat) beyond which a feed is
	// stale; 0 = DefaultFeedAgeFactor × FeedInterval.
	MaxFeedAge time.Duration
	// AllowHTTP permits http:// URLs (tests on loopback). Default: https only.
	AllowHTTP bool
	// HTTPClient makes the requests; nil = a plain http.Client. Its redirect
	// policy is replaced by one that keeps the https rule.
	HTTPClient *http.Client
	// HTTPTimeout bounds each fetch; 0 = DefaultHTTPTimeout.
	HTTPTimeout time.Duration
	// Leeway is the clock skew allowed on exp, nbf and iat: 0 means
	// authority.DefaultLeeway, negative means none.
	Leeway time.Duration
	// Algorithms allowed; nil means authority.DefaultAlgorithms.
	Algorithms []string
	// Ledger holds budgets and call counts for Reserve, AuthorizeCall and the
	// guards; nil = a policy.MemoryLedger private to this Verifier (one
	// process). Share the issuer's store (it implements policy.Ledger) to
	// enforce budgets across replicas.
	Ledger policy.Ledger
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// DPoP says how sender-constrained tokens (RFC 9449) are treated; nil
	// means dpop.ModeAllow with a replay cache of this process, the URL of
	// each request taken from its Host header.
	DPoP *DPoPOptions
	// OnFeed, when set, is called after every feed poll with the resulting
	// status, on the polling goroutine (and once in NewVerifier). It must
	// not block; use it for logs and metrics.
	OnFeed func(FeedStatus)
}

// DPoPOptions configure DPoP (RFC 9449) for VerifyRequest and the
// middleware.
type DPoPOptions struct {
	// Mode: dpop.ModeAllow ("" too) accepts bearer and bound tokens,
	// dpop.ModeRequire only bound ones, dpop.ModeBearer only bearer ones.
	Mode dpop.Mode
	// PublicURL is this resource's external base URL (scheme://host[:port]),
	// against which proofs' htu is checked — required behind a reverse proxy;
	// "" derives it from each request (its TLS state and Host).
	PublicURL string
	// Cache remembers accepted proofs; nil means a dpop.MemoryReplayCache of
	// this process. Replicas must share one (the issuer's store).
	Cache dpop.ReplayCache
}

// Verifier verifies delegation tokens for one resource (audience) against one
// issuer, offline: it holds the issuer's key set and revocation feed, fetched
// and refreshed in the background, and never calls the issuer per request.
//
// A Verifier is safe for concurrent use. Its background goroutines run until
// Close.
type Verifier struct {
	issuer       string
	audience     string
	verify       authority.VerifyOptions
	now          func() time.Time
	ledger       policy.Ledger
	requireFresh bool
	maxFeedAge   time.Duration
	dpop         DPoPOptions

	keys   *keyCache
	feed   *feedPoller
	tokens tokenCache

	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// NewVerifier builds a Verifier for tokens issued by issuerURL (their exact
// "iss") for audience (this resource: compared canonically with "aud"). It
// fetches the key set (an error if that fails: nothing could verify) and
// polls the revocation feed once (a failure there is reported by
// FeedStatus, not returned), then keeps both fresh in the background until
// Close. ctx bounds only the first fetches.
func NewVerifier(ctx context.Context, issuerURL, audience string, opts *VerifierOptions) (*Verifier, error) {
	var o VerifierOptions
	if opts != nil {
		o = *opts
	}
	if err := checkIssuer(issuerURL); err != nil {
		return nil, err
	}
	if strings.TrimSpace(audience) == "" {
		return nil, errors.New("sdk: audience is required")
	}
	o = withDefaults(o)
	var err error
	v := &Verifier{
		issuer: issuerURL, audience: audience, now: o.Now, ledger: o.Ledger,
		requireFresh: o.RequireFreshFeed, maxFeedAge: o.MaxFeedAge,
		verify: authority.VerifyOptions{Issuer: issuerURL, Audience: audience, Leeway: o.Leeway,
			Algorithms: o.Algorithms, RequireActor: true},
	}
	if o.DPoP != nil {
		v.dpop = *o.DPoP
	}
	if v.dpop.Mode, err = dpop.ParseMode(string(v.dpop.Mode)); err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	if v.dpop.Cache == nil {
		v.dpop.Cache = &dpop.MemoryReplayCache{Now: o.Now}
	}
	f := newFetcher(o.HTTPClient, o.HTTPTimeout, o.AllowHTTP)
	v.keys = newKeyCache(keyLoader(f, issuerURL, o), o.Now, o.MinRefreshInterval)
	v.feed = &feedPoller{read: feedReader(f, issuerURL, o), keys: v.keys, issuer: issuerURL,
		now: o.Now, notify: o.OnFeed}
	if err := v.keys.refresh(ctx); err != nil {
		return nil, err
	}
	v.feed.poll(ctx) // failure is in FeedStatus; RequireFreshFeed decides what it means
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	v.stop = stop
	v.wg.Add(2)
	go v.every(bg, o.FeedInterval, func(ctx context.Context) { v.feed.poll(ctx) })
	go v.every(bg, o.JWKSInterval, func(ctx context.Context) { v.keys.refresh(ctx) })
	return v, nil
}

func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("sdk: issuer %q is not an absolute URL", issuer)
	}
	return nil
}

func withDefaults(o VerifierOptions) VerifierOptions {
	if o.FeedInterval <= 0 {
		o.FeedInterval = DefaultFeedInterval
	}
	if o.JWKSInterval <= 0 {
		o.JWKSInterval = DefaultJWKSInterval
	}
	if o.MinRefreshInterval <= 0 {
		o.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if o.HTTPTimeout <= 0 {
		o.HTTPTimeout = DefaultHTTPTimeout
	}
	if o.MaxFeedAge <= 0 {
		o.MaxFeedAge = DefaultFeedAgeFactor * o.FeedInterval
	}
	if o.Ledger == nil {
		o.Ledger = policy.NewMemoryLedger()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// keyLoader reads the key set from JWKSFile, or over HTTP.
func keyLoader(f *fetcher, issuer string, o VerifierOptions) func(context.Context) (*authority.KeySet, error) {
	if o.JWKSFile != "" {
		return func(context.Context) (*authority.KeySet, error) {
			body, err := readFile(o.JWKSFile)
			if err != nil {
				return nil, fmt.Errorf("sdk: read JWKS: %w", err)
			}
			ks, err := authority.ParseJWKS(body)
			if err != nil {
				return nil, fmt.Errorf("sdk: JWKS in %s: %w", o.JWKSFile, err)
			}
			return ks, nil
		}
	}
	src := &jwksSource{f: f, issuer: issuer, explicit: o.JWKSURL}
	return src.load
}

// feedReader reads the signed feed from FeedFile, or over HTTP.
func feedReader(f *fetcher, issuer string, o VerifierOptions) func(context.Context) ([]byte, error) {
	if o.FeedFile != "" {
		return func(context.Context) ([]byte, error) { return readFile(o.FeedFile) }
	}
	u := o.FeedURL
	if u == "" {
		u = strings.TrimSuffix(issuer, "/") + "/.well-known/revoked"
	}
	return func(ctx context.Context) ([]byte, error) { return f.get(ctx, u, "application/jwt") }
}

// every runs fn each interval until ctx ends.
func (v *Verifier) every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	defer v.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// Close stops the background refreshes and waits for them to end. Verify
// keeps working with the keys and revocations last known.
func (v *Verifier) Close() error {
	v.closeOnce.Do(func() {
		v.stop()
		v.wg.Wait()
	})
	return nil
}

// Issuer returns the trusted issuer; Audience the resource tokens must name.
func (v *Verifier) Issuer() string { return v.issuer }

// Audience returns the resource tokens must be issued for.
func (v *Verifier) Audience() string { return v.audience }

// Verify verifies a delegation token exactly as the gateway does
// (authority.Verify with RequireActor: signature with the issuer's keys,
// algorithm allow-list, typ, exp/nbf/iat, iss, aud, act, constraints), then
// refuses it if the revocation feed covers it (ErrRevoked). A token signed
// with a kid the cached key set lacks triggers one key refresh, rate-limited
// by MinRefreshInterval. With RequireFreshFeed, every call fails with
// ErrFeedStale while the feed is stale. Errors wrap the authority sentinels;
// their text is for logs (ErrorDescription gives what a client may see).
//
// As in the gateway, a token that verified is remembered until its exp (or
// the next key refresh), so repeated calls skip the signature; revocation and
// feed freshness are checked on every call. The returned Claims may be
// shared by concurrent calls: treat them as read-only.
//
// Verify has no request to check a DPoP proof against, so it refuses a token
// bound to a key (dpop.ErrBoundAsBearer): use VerifyRequest, or the
// middleware, where DPoP-bound tokens are expected.
func (v *Verifier) Verify(ctx context.Context, token string) (*authority.Claims, error) {
	c, err := v.verifyUnbound(ctx, token)
	if err == nil && c.BoundKey() != "" {
		return nil, fmt.Errorf("sdk: %w", dpop.ErrBoundAsBearer)
	}
	return c, err
}

// VerifyRequest verifies the access token of r — presented with the Bearer
// or the DPoP scheme — as Verify does, then applies DPoP (RFC 9449): a token
// bound to a key is accepted only with the DPoP scheme and a fresh proof by
// that key for this method, URL and token (dpop.Check, with the Verifier's
// DPoPOptions). Errors wrap the authority and dpop sentinels.
func (v *Verifier) VerifyRequest(r *http.Request) (*authority.Claims, error) {
	scheme, token, ok := authority.AccessToken(r.Header.Values("Authorization"))
	if !ok {
		return nil, ErrNoToken
	}
	c, err := v.verifyUnbound(r.Context(), token)
	if err != nil {
		return nil, err
	}
	req := dpop.Request{Scheme: scheme, Token: token, Claims: c, Proofs: r.Header.Values("DPoP"),
		Method: r.Method, URL: v.requestURL(r)}
	if _, err := dpop.Check(r.Context(), req, dpop.CheckOptions{Mode: v.dpop.Mode, Cache: v.dpop.Cache}, v.now()); err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	return c, nil
}

// requestURL is r's URL as its client addressed it, for a proof's htu.
func (v *Verifier) requestURL(r *http.Request) string {
	base := strings.TrimSuffix(v.dpop.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + r.URL.EscapedPath()
}

// verifyUnbound is Verify without the refusal of bound tokens.
func (v *Verifier) verifyUnbound(ctx context.Context, token string) (*authority.Claims, error) {
	if v.requireFresh && v.feed.age() > v.maxFeedAge {
		return nil, fmt.Errorf("sdk: %w (newest accepted feed: %s)", ErrFeedStale, v.feedAgeText())
	}
	c, err := v.verifyToken(ctx, token)
	if err != nil {
		return nil, fmt.Errorf("sdk: verify token: %w", err)
	}
	if why, revoked := v.feed.set.Revoked(c); revoked {
		return nil, fmt.Errorf("sdk: %w: %s", ErrRevoked, why)
	}
	return c, nil
}

// verifyToken runs authority.Verify, or returns the claims cached for token
// under the current key set.
func (v *Verifier) verifyToken(ctx context.Context, token string) (*authority.Claims, error) {
	now := v.now()
	ks := v.keys.keys()
	if c, ok := v.tokens.get(token, ks, now); ok {
		return c, nil
	}
	c, err := authority.Verify(token, ks, v.verify, now)
	if errors.Is(err, authority.ErrUnknownKey) && v.keys.refreshUnknown(ctx, ks) {
		ks = v.keys.keys()
		c, err = authority.Verify(token, ks, v.verify, now)
	}
	if err != nil {
		return nil, err
	}
	v.tokens.put(token, ks, c, now)
	return c, nil
}

func (v *Verifier) feedAgeText() string {
	st := v.feed.snapshot()
	if st.IssuedAt.IsZero() {
		return "none"
	}
	return "issued " + st.IssuedAt.UTC().Format(time.RFC3339)
}

// FeedAge returns how long ago the newest accepted revocation feed was
// issued (its iat), or math.MaxInt64 (an infinite age) before any feed was
// accepted.
func (v *Verifier) FeedAge() time.Duration { return v.feed.age() }

// FeedStatus returns the state of the revocation feed.
func (v *Verifier) FeedStatus() FeedStatus { return v.feed.snapshot() }

// RefreshFeed polls the revocation feed now, in addition to the background
// polling, and returns the poll's error.
func (v *Verifier) RefreshFeed(ctx context.Context) error { return v.feed.poll(ctx) }

// RefreshKeys fetches the issuer's key set now, in addition to the background
// refresh (for example on an operator's signal after a key was retired).
// It is not rate-limited; on failure the previous key set stays.
func (v *Verifier) RefreshKeys(ctx context.Context) error { return v.keys.refresh(ctx) }

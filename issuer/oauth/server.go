package oauth

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/dpop"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/upstreams"
)

// Defaults for the zero values of Options.
const (
	DefaultAccessTokenTTL = time.Hour
	DefaultCodeTTL        = 2 * time.Minute
	DefaultSessionTTL     = 12 * time.Hour
	DefaultMaxGrantTTL    = 30 * 24 * time.Hour
	// DefaultGrantTTL is the lifetime the consent page proposes.
	DefaultGrantTTL = 8 * time.Hour
	// DefaultMintsPerHour caps the tokens minted from one delegation in any
	// rolling hour (code, refresh and token exchange together).
	DefaultMintsPerHour = 120
)

// DefaultPrivateUseRedirectURIs are the RFC 8252 §7.1 private-use redirect
// URIs accepted besides https and loopback http: Cursor's callback, which
// Cursor registers together with an https and a loopback one.
var DefaultPrivateUseRedirectURIs = []string{"cursor://anysphere.cursor-mcp/oauth/callback"}

// Paths are the URL paths the Server answers; mount each on the process's
// mux (they are all under the issuer's origin).
var Paths = []string{
	"/oauth2/",
	"/.well-known/oauth-authorization-server",
	"/.well-known/openid-configuration",
	"/login",
	"/login/",
	"/logout",
	"/account/",
}

// Options configure a Server. Issuer, Store, Keys and Registry are required.
type Options struct {
	// Issuer is the "iss" of the tokens and the base of every endpoint: an
	// http(s) origin without path ("https://gw.example"). https makes the
	// browser cookies Secure.
	Issuer string
	// Store keeps clients, users, sessions, codes, grants, refresh tokens
	// and revocations, and records the audit events of minting.
	Store *store.Store
	// Keys signs tokens (its Signer) and verifies the subject tokens of a
	// token exchange and those presented to introspection and revocation.
	Keys *authority.KeySet
	// Registry returns the current upstream registry: which resources
	// (inbound audiences) exist and which tools their scopes reach.
	Registry func() *upstreams.Registry
	// AccessTokenTTL bounds access tokens; 0 means DefaultAccessTokenTTL.
	// No token outlives its delegation.
	AccessTokenTTL time.Duration
	// CodeTTL is the life of an authorization code; 0 means DefaultCodeTTL.
	CodeTTL time.Duration
	// SessionTTL is the life of a browser login; 0 means DefaultSessionTTL.
	SessionTTL time.Duration
	// MaxGrantTTL is the longest delegation a user may approve; 0 means
	// DefaultMaxGrantTTL.
	MaxGrantTTL time.Duration
	// MintsPerHour caps the tokens minted from one delegation per rolling
	// hour; 0 means DefaultMintsPerHour, negative means no cap.
	MintsPerHour int
	// RegistrationToken, when set, is the initial access token (RFC 7591
	// §3) that dynamic client registration requires as a bearer token.
	// Empty: registration is open.
	RegistrationToken string
	// PrivateUseRedirectURIs are exact redirect URIs of a private-use scheme
	// accepted at registration; nil means DefaultPrivateUseRedirectURIs, an
	// empty non-nil slice none.
	PrivateUseRedirectURIs []string
	// MetadataDocuments configures Client ID Metadata Documents.
	MetadataDocuments MetadataDocumentOptions
	// RequireSecondFactorForAdmins makes an admin who logs in with a
	// password and has no second factor enrol one before anything else.
	// Users who sign in through an upstream provider are not asked: that
	// provider authenticates them.
	RequireSecondFactorForAdmins bool
	// DPoPNonces, when set, makes the token endpoint require server nonces
	// in DPoP proofs (RFC 9449 §8); nil: no nonces.
	DPoPNonces *DPoPNonceOptions
	// SSO are the upstream OpenID providers users may sign in with; nil:
	// local accounts only.
	SSO *SSO
	// TrustedSubjectIssuers are other issuers whose delegation tokens token
	// exchange accepts as subject_token, each for its listed clients only
	// (exchange_trusted.go); nil: only this server's own tokens.
	TrustedSubjectIssuers []TrustedIssuer
	// Logger receives operational messages (never secrets); nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is the co-resident OAuth 2.1 authorization server: RFC 8414
// metadata, dynamic client registration and client ID metadata documents,
// login and consent, the authorization code flow with PKCE, refresh, RFC 8693
// token exchange, revocation and introspection, and the account page where a
// user reviews and revokes delegations. It is an http.Handler for Paths and
// is safe for concurrent use; its state lives in the Store, so several
// replicas may serve one database.
type Server struct {
	opts     Options
	issuer   *url.URL
	secure   bool // https issuer: Secure cookies
	mux      *http.ServeMux
	log      *slog.Logger
	now      func() time.Time
	docs     *documentFetcher
	logins   *loginLimiter
	factors  *loginLimiter // second-factor failures, per user (apart from password failures)
	webauthn *webauthn.WebAuthn
	nonces   *dpop.Nonces     // DPoP server nonces; nil: off
	proofs   dpop.ReplayCache // the store's: shared by replicas
}

// New returns a Server for opts.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Keys == nil || opts.Registry == nil {
		return nil, errors.New("oauth: Store, Keys and Registry are required")
	}
	u, err := url.Parse(opts.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("oauth: issuer %q must be an http(s) origin without path (e.g. https://gw.example)", opts.Issuer)
	}
	opts.Issuer = strings.TrimSuffix(opts.Issuer, "/")
	for _, t := range opts.TrustedSubjectIssuers {
		if err := t.Validate(); err != nil {
			return nil, err
		}
	}
	s := &Server{opts: opts, issuer: u, secure: u.Scheme == "https", log: opts.Logger, now: opts.Now}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.setDefaults()
	if s.nonces, err = newNonces(opts.DPoPNonces); err != nil {
		return nil, err
	}
	s.proofs = opts.Store.ProofCache()
	if s.docs, err = newDocumentFetcher(opts.MetadataDocuments, s.validRedirect); err != nil {
		return nil, err
	}
	s.logins, s.factors = newLoginLimiter(), newLoginLimiter()
	// WebAuthn relying party ids are domain names: an issuer at an IP
	// address offers no passkeys.
	if net.ParseIP(u.Hostname()) == nil {
		if s.webauthn, err = newWebAuthn(opts.Issuer, u.Hostname()); err != nil {
			return nil, fmt.Errorf("oauth: webauthn: %w", err)
		}
	}
	s.routes()
	return s, nil
}

func (s *Server) setDefaults() {
	o := &s.opts
	if o.AccessTokenTTL <= 0 {
		o.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if o.CodeTTL <= 0 {
		o.CodeTTL = DefaultCodeTTL
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.MaxGrantTTL <= 0 {
		o.MaxGrantTTL = DefaultMaxGrantTTL
	}
	if o.MintsPerHour == 0 {
		o.MintsPerHour = DefaultMintsPerHour
	}
	if o.PrivateUseRedirectURIs == nil {
		o.PrivateUseRedirectURIs = DefaultPrivateUseRedirectURIs
	}
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /.well-known/oauth-authorization-server", s.serveMetadata)
	m.HandleFunc("GET /.well-known/openid-configuration", s.serveMetadata)
	m.Handle("POST /oauth2/register", s.api(s.register))
	m.Handle("POST /oauth2/token", s.api(s.token))
	m.Handle("POST /oauth2/revoke", s.api(s.revoke))
	m.Handle("POST /oauth2/introspect", s.api(s.introspect))
	m.HandleFunc("GET /oauth2/authorize", s.authorize)
	m.HandleFunc("POST /oauth2/authorize", s.consent)
	m.HandleFunc("GET /oauth2/style.css", serveStyle)
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /logout", s.logout)
	m.Handle("POST /account/passkeys/begin", s.api(s.passkeyRegisterBegin))
	m.Handle("POST /account/passkeys/finish", s.api(s.passkeyRegisterFinish))
	m.Handle("POST /login/passkey/begin", s.api(s.passkeyLoginBegin))
	m.Handle("POST /login/passkey/finish", s.api(s.passkeyLoginFinish))
	m.HandleFunc("GET /oauth2/webauthn.js", serveScript)
	m.HandleFunc("GET "+mfaPath, s.mfaPage)
	m.HandleFunc("POST "+mfaPath, s.mfa)
	m.HandleFunc("GET "+securityPath, s.security)
	m.HandleFunc("POST "+securityPath, s.securityPost)
	m.HandleFunc("GET "+UserinfoPath, s.userinfo)
	m.HandleFunc("POST "+UserinfoPath, s.userinfo)
	m.HandleFunc("GET /login/sso/{provider}", s.ssoStart)
	m.HandleFunc("GET /login/sso/{provider}/callback", s.ssoCallback)
	m.HandleFunc("POST /account/consents/forget", s.forgetConsent)
	m.HandleFunc("GET /account/delegations", s.delegations)
	m.HandleFunc("POST /account/delegations/revoke", s.revokeDelegation)
	m.HandleFunc("GET /account/connections", s.connections)            // account_connections.go
	m.HandleFunc("POST /account/connections/disconnect", s.disconnect) // account_connections.go
	s.mux = m
}

// ServeHTTP serves Paths.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// api adapts a JSON endpoint: its error is rendered as RFC 6749 JSON.
func (s *Server) api(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, s.log, err)
		}
	})
}

// endpoint returns the absolute URL of path on the issuer.
func (s *Server) endpoint(path string) string { return s.opts.Issuer + path }

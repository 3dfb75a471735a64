package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/store"
)

// SSO signs users in through upstream OpenID providers (authorization code
// flow with PKCE and a nonce; go-oidc verifies the ID token: signature
// against the provider's JWKS, iss, aud, exp; this package checks azp and
// the nonce). Safe for concurrent use. Build it with NewSSO.
type SSO struct {
	providers []*ssoProvider
}

// ssoProvider is one configured provider; discovery runs on first use and
// is retried until it succeeds.
type ssoProvider struct {
	cfg    SSOProvider
	secret string

	mu       sync.Mutex
	provider *oidc.Provider // nil until discovered
}

// NewSSO checks cfg and resolves its secrets (env or file references).
func NewSSO(cfg SSOConfig) (*SSO, error) {
	out := &SSO{}
	for _, p := range cfg.Providers {
		secret, err := p.ClientSecret.resolve()
		if err != nil {
			return nil, fmt.Errorf("sso provider %s: client_secret: %w", p.Name, err)
		}
		out.providers = append(out.providers, &ssoProvider{cfg: p, secret: secret})
	}
	return out, nil
}

func (s *SSO) lookup(name string) *ssoProvider {
	if s == nil {
		return nil
	}
	for _, p := range s.providers {
		if p.cfg.Name == name {
			return p
		}
	}
	return nil
}

// ssoLink is a sign-in button of the login page.
type ssoLink struct{ Name, Title string }

func (s *SSO) links() []ssoLink {
	if s == nil {
		return nil
	}
	var out []ssoLink
	for _, p := range s.providers {
		out = append(out, ssoLink{p.cfg.Name, p.cfg.title()})
	}
	return out
}

// discover returns the provider's discovered configuration (OpenID
// Connect Discovery, issuer checked by go-oidc).
func (p *ssoProvider) discover(ctx context.Context) (*oidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return p.provider, nil
	}
	op, err := oidc.NewProvider(ctx, p.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("sso provider %s: discovery: %w", p.cfg.Name, err)
	}
	p.provider = op
	return op, nil
}

func (p *ssoProvider) oauth2Config(op *oidc.Provider, issuer string) *oauth2.Config {
	return &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.secret, Endpoint: op.Endpoint(),
		RedirectURL: issuer + "/login/sso/" + p.cfg.Name + "/callback", Scopes: p.cfg.scopes()}
}

// ssoFlow is the state of one sign-in, kept in an HttpOnly cookie between
// the redirect to the provider and the callback: state (compared with the
// callback's, against login CSRF), nonce (compared with the ID token's),
// the PKCE verifier, and where to go back.
type ssoFlow struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r"`
}

const ssoCookie = "legant_sso"

// ssoStart redirects the browser to the provider.
func (s *Server) ssoStart(w http.ResponseWriter, r *http.Request) {
	p := s.opts.SSO.lookup(r.PathValue("provider"))
	if p == nil {
		s.renderError(w, &Error{Code: CodeInvalidRequest, Description: "no such sign-in provider", Status: http.StatusNotFound})
		return
	}
	op, err := p.discover(r.Context())
	if err != nil {
		s.log.Error("sso discovery", "provider", p.cfg.Name, "err", err)
		s.renderError(w, &Error{Code: "temporarily_unavailable", Description: "the sign-in provider cannot be reached", Status: http.StatusBadGateway})
		return
	}
	f := ssoFlow{Provider: p.cfg.Name, State: authority.NewSecret(), Nonce: authority.NewSecret(),
		Verifier: oauth2.GenerateVerifier(), ReturnTo: safeReturn(r.URL.Query().Get("return_to"))}
	b, _ := json.Marshal(f)
	s.setCookie(w, ssoCookie, base64.RawURLEncoding.EncodeToString(b), 600)
	u := p.oauth2Config(op, s.opts.Issuer).AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u, http.StatusFound)
}

// ssoCallback finishes the sign-in: state, code exchange with the PKCE
// verifier, ID token verification, claim mapping, then a session.
func (s *Server) ssoCallback(w http.ResponseWriter, r *http.Request) {
	p := s.opts.SSO.lookup(r.PathValue("provider"))
	f, ok := s.readSSOFlow(r)
	q := r.URL.Query()
	if p == nil || !ok || f.Provider != p.cfg.Name || q.Get("state") == "" || !equalSecret(q.Get("state"), f.State) {
		s.renderError(w, &Error{Code: CodeInvalidRequest, Description: "this sign-in was not started here, or it expired: log in again", Status: http.StatusBadRequest})
		return
	}
	s.setCookie(w, ssoCookie, "", -1)
	if e := q.Get("error"); e != "" {
		s.renderError(w, &Error{Code: CodeAccessDenied, Description: "the sign-in provider refused: " + e, Status: http.StatusForbidden})
		return
	}
	user, err := s.ssoUser(r.Context(), p, f, q)
	if err != nil {
		var oe *Error
		if !errors.As(err, &oe) {
			s.log.Warn("sso sign-in refused", "provider", p.cfg.Name, "err", err)
			err = &Error{Code: CodeAccessDenied, Description: "the sign-in could not be verified", Status: http.StatusForbidden}
		}
		s.renderError(w, err)
		return
	}
	if err := s.startSession(w, r, user, store.StageFull, "fed"); err != nil {
		s.renderError(w, err)
		return
	}
	if err := s.recordLogin(r.Context(), user, "sso "+p.cfg.Name); err != nil {
		s.renderError(w, err)
		return
	}
	http.Redirect(w, r, f.ReturnTo, http.StatusSeeOther)
}

func (s *Server) readSSOFlow(r *http.Request) (ssoFlow, bool) {
	var f ssoFlow
	ck, err := r.Cookie(s.cookieName(ssoCookie))
	if err != nil {
		return f, false
	}
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || json.Unmarshal(b, &f) != nil || f.State == "" || f.Nonce == "" || f.Verifier == "" {
		return f, false
	}
	f.ReturnTo = safeReturn(f.ReturnTo)
	return f, true
}

// upstreamClaims are the ID token claims the mapping reads.
type upstreamClaims struct {
	Subject       string   `json:"sub"`
	Email         string   `json:"email"`
	EmailVerified any      `json:"email_verified"` // bool, or "true" from some providers
	AZP           string   `json:"azp"`
	Audience      audience `json:"aud"`
}

type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = []string{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// ssoUser redeems the code and maps the verified ID token to a local user
// (linking or provisioning it), returning the user name.
func (s *Server) ssoUser(ctx context.Context, p *ssoProvider, f ssoFlow, q url.Values) (string, error) {
	op, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	tok, err := p.oauth2Config(op, s.opts.Issuer).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return "", fmt.Errorf("code exchange: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", errors.New("the token response has no id_token")
	}
	idt, err := op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		return "", fmt.Errorf("id_token: %w", err)
	}
	if idt.Nonce == "" || !equalSecret(idt.Nonce, f.Nonce) {
		return "", errors.New("id_token: nonce does not match")
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return "", fmt.Errorf("id_token: %w", err)
		}
	}
	var c upstreamClaims
	if err := idt.Claims(&c); err != nil {
		return "", err
	}
	if (len(c.Audience) > 1 || c.AZP != "") && c.AZP != p.cfg.ClientID {
		return "", fmt.Errorf("id_token: azp %q is not this client", c.AZP)
	}
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return "", err
	}
	return s.mapIdentity(ctx, p, idt.Issuer, c, groupsOf(all[p.cfg.groupsClaim()]))
}

func groupsOf(v any) []string {
	var out []string
	switch g := v.(type) {
	case []any:
		for _, x := range g {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	case string:
		out = strings.Fields(g)
	}
	return out
}

// mapIdentity applies the provider's claim mapping: who the user is
// (verified e-mail or subject), whether they may sign in (allowed domains,
// allow-list), whether they are admin (groups), and links or provisions
// the local account.
func (s *Server) mapIdentity(ctx context.Context, p *ssoProvider, iss string, c upstreamClaims, groups []string) (string, error) {
	refuse := func(why string) error {
		return &Error{Code: CodeAccessDenied, Description: why, Status: http.StatusForbidden}
	}
	email := strings.ToLower(strings.TrimSpace(c.Email))
	verified := c.EmailVerified == true || c.EmailVerified == "true"
	if email != "" && !verified {
		email = ""
	}
	if len(p.cfg.AllowedDomains) > 0 {
		_, domain, _ := strings.Cut(email, "@")
		if email == "" || !slices.Contains(p.cfg.AllowedDomains, domain) {
			return "", refuse("your account's verified e-mail is not in a domain allowed to sign in")
		}
	}
	name := p.cfg.Name + ":" + c.Subject
	if p.cfg.username() == UsernameEmail {
		if email == "" {
			return "", refuse("the sign-in provider did not give a verified e-mail address")
		}
		name = email
	}
	id, err := s.opts.Store.GetIdentity(ctx, iss, c.Subject)
	switch {
	case err == nil:
		name = id.User
	case !errors.Is(err, store.ErrNotFound):
		return "", err
	default:
		if err := s.provision(ctx, p, name, email, c.Subject, refuse); err != nil {
			return "", err
		}
	}
	u, err := s.opts.Store.GetUser(ctx, name)
	if err != nil {
		return "", err
	}
	if u.Disabled {
		return "", refuse("this account is disabled")
	}
	if err := s.opts.Store.LinkIdentity(ctx, store.Identity{Issuer: iss, Subject: c.Subject, User: name, Email: email}); err != nil {
		return "", err
	}
	admin := u.Admin
	if len(p.cfg.AdminGroups) > 0 {
		admin = slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(p.cfg.AdminGroups, g) })
	}
	if admin != u.Admin || (email != "" && email != u.Email) {
		u.Admin = admin
		if email != "" {
			u.Email = email
		}
		if err := s.opts.Store.UpdateUser(ctx, *u); err != nil {
			return "", err
		}
	}
	return name, nil
}

// provision creates the local user of a first sign-in, when the provider
// provisions and the allow-list admits the user; an existing local account
// of that name is linked only with link_existing.
func (s *Server) provision(ctx context.Context, p *ssoProvider, name, email, subject string, refuse func(string) error) error {
	if _, err := s.opts.Store.GetUser(ctx, name); err == nil {
		if !p.cfg.LinkExisting {
			return refuse("a local account named " + name + " exists and is not linked to this provider")
		}
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if !p.cfg.Provision {
		return refuse("no account here is linked to yours, and this provider does not create accounts")
	}
	if !p.cfg.admits(email, subject) {
		return refuse("your account is not on the list of those who may sign in")
	}
	err := s.opts.Store.CreateUser(ctx, store.User{Name: name, PasswordHash: NoPassword, Email: email})
	if errors.Is(err, store.ErrExists) {
		return nil // a concurrent first sign-in
	}
	return err
}

package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/issuer/store"
)

// consentView is the consent page.
type consentView struct {
	CSRF     string
	Client   clientView
	Upstream string
	Resource string
	Scopes   []string
	Tools    []toolChoice
	Hidden   []hiddenField
	Form     consentForm
	TTLs     []option
	Days     []option
	Money    bool // a reachable tool moves money: show amount fields
	Category bool // a reachable tool has a category argument
	Error    string
	SignIn   bool     // sign-in only (OpenID Connect): no tools, no limits
	OIDC     []string // the OpenID Connect scopes asked for
	Remember bool
}

type clientView struct {
	Name     string
	ID       string
	URI      string
	LogoURI  string // shown only for verified clients
	Verified bool
	Host     string
}

type toolChoice struct {
	toolInfo
	Checked bool
}

type hiddenField struct{ Name, Value string }

type option struct {
	Value, Label string
	Selected     bool
}

// showConsent renders the consent page for req with the form's values.
func (s *Server) showConsent(w http.ResponseWriter, status int, req *authRequest, l *login, f consentForm, problem string) {
	c := req.Client
	v := consentView{CSRF: l.CSRF, Resource: req.Resource, Scopes: req.Scopes,
		Form: f, Error: problem, OIDC: req.OIDC, SignIn: req.Upstream == nil,
		Client: clientView{Name: c.displayName(), ID: c.ID, URI: c.URI, Verified: c.Document, Host: c.host()}}
	if c.Document {
		v.Client.LogoURI = c.LogoURI
	}
	for _, p := range authParams {
		for _, val := range req.raw[p] {
			v.Hidden = append(v.Hidden, hiddenField{p, val})
		}
	}
	if v.SignIn {
		s.render(w, status, "signin", page{Title: "Sign in to " + c.displayName(), User: l.User, CSRF: l.CSRF, Body: v})
		return
	}
	v.Upstream = req.Upstream.Slug
	for _, t := range toolsFor(req.Upstream, req.Scopes) {
		v.Tools = append(v.Tools, toolChoice{toolInfo: t, Checked: slices.Contains(f.Tools, t.Name)})
		v.Money = v.Money || t.Amount
		v.Category = v.Category || t.Category
	}
	for _, t := range ttlChoices {
		v.TTLs = append(v.TTLs, option{t.Value, t.Label, t.Value == f.TTL})
	}
	for _, d := range weekdays {
		v.Days = append(v.Days, option{d.Value, d.Label, slices.Contains(f.Days, d.Value)})
	}
	s.render(w, status, "consent", page{Title: "Authorize " + c.displayName(), User: l.User, CSRF: l.CSRF, Body: v})
}

// consent is POST /oauth2/authorize: the user's answer on the consent page.
// The request is validated again from the form (nothing trusted from the
// first round), then an approval becomes a grant and an authorization code.
func (s *Server) consent(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, oauthErr(CodeInvalidRequest, "the form could not be read"))
		return
	}
	l, err := s.currentLogin(r)
	if err != nil {
		s.renderError(w, err)
		return
	}
	if l == nil {
		s.renderError(w, &Error{Code: CodeAccessDenied, Description: "your session ended: start the authorization again from the application", Status: http.StatusUnauthorized})
		return
	}
	if !checkCSRF(r, l.CSRF) {
		s.renderError(w, &Error{Code: CodeInvalidRequest, Description: "the form is not valid for this session (CSRF check failed)", Status: http.StatusForbidden})
		return
	}
	req, err := s.parseAuthRequest(r.Context(), r.PostForm)
	if err != nil {
		s.authorizeError(w, r, req, err)
		return
	}
	if l.mustEnrol() {
		s.renderError(w, &Error{Code: CodeAccessDenied, Description: "enrol a second factor first", Status: http.StatusForbidden})
		return
	}
	if r.PostForm.Get("decision") != "approve" {
		s.authorizeError(w, r, req, oauthErr(CodeAccessDenied, "the user denied the request"))
		return
	}
	f := readConsentForm(r.PostForm)
	remember := r.PostForm.Get("remember") == "on"
	var cons authority.Constraints
	var ttl time.Duration
	if req.Upstream != nil {
		if cons, ttl, err = f.constraints(toolsFor(req.Upstream, req.Scopes), s.opts.MaxGrantTTL); err != nil {
			s.showConsent(w, http.StatusBadRequest, req, l, f, err.Error())
			return
		}
	}
	code, err := s.approve(r.Context(), req, l, f.Tools, cons, ttl)
	if err == nil && remember {
		err = s.opts.Store.RememberConsent(r.Context(), store.Consent{User: l.User, ClientID: req.Client.ID,
			Resource: req.Resource, Scopes: consentKey(req), Tools: f.Tools, Constraints: cons, TTL: ttl})
	}
	if err != nil {
		s.renderError(w, err)
		return
	}
	s.redirectBack(w, r, req, url.Values{"code": {code}})
}

// consentKey is the requested authority a remembered consent is for: the
// tool and OpenID Connect scopes, sorted.
func consentKey(req *authRequest) string {
	all := append(slices.Clone(req.Scopes), req.OIDC...)
	slices.Sort(all)
	return strings.Join(slices.Compact(all), " ")
}

// rememberedConsent approves req at once when l's user asked to remember
// the same decision for this client, resource and scopes, and returns the
// code. A remembered decision whose tools no longer exist is ignored (the
// page is shown).
func (s *Server) rememberedConsent(ctx context.Context, req *authRequest, l *login) (string, bool) {
	rc, err := s.opts.Store.GetConsent(ctx, l.User, req.Client.ID, req.Resource, consentKey(req))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Error("read remembered consent", "err", err)
		}
		return "", false
	}
	if req.Upstream != nil && len(scopesOfTools(req, rc.Tools)) == 0 {
		return "", false
	}
	ttl := min(rc.TTL, s.opts.MaxGrantTTL)
	code, err := s.approve(ctx, req, l, rc.Tools, rc.Constraints, ttl)
	if err != nil {
		s.log.Error("approve remembered consent", "err", err)
		return "", false
	}
	return code, true
}

// approve stores the grant (none for sign-in only) and an authorization
// code for it, and audits the consent. A consent the log cannot hold is
// refused: the code is never delivered, so nothing can be minted.
func (s *Server) approve(ctx context.Context, req *authRequest, l *login, tools []string, cons authority.Constraints, ttl time.Duration) (string, error) {
	now := s.now()
	ac := store.AuthCode{ClientID: req.Client.ID, User: l.User, RedirectURI: req.RedirectURI, Challenge: req.Challenge,
		Resource: req.Resource, Nonce: req.Nonce, OIDCScopes: strings.Join(req.OIDC, " "), AuthTime: l.AuthTime,
		CreatedAt: now, ExpiresAt: now.Add(s.opts.CodeTTL)}
	if req.Upstream == nil {
		code := authority.NewSecret()
		ac.Hash = hashSecret(code)
		if err := s.opts.Store.CreateAuthCode(ctx, ac); err != nil {
			return "", err
		}
		err := s.record(ctx, audit.Event{Kind: KindConsent, User: l.User, Client: req.Client.ID, Decision: "approve",
			Reason: "sign-in (" + ac.OIDCScopes + ")"})
		return code, err
	}
	scopes := append(scopesOfTools(req, tools), req.OIDC...)
	g := store.Grant{DelegationID: "dlg_" + authority.NewID(), User: l.User, Agents: []string{req.Client.ID}, ClientID: req.Client.ID,
		Resource: req.Resource, Scopes: scopes, Constraints: cons, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.opts.Store.CreateGrant(ctx, g); err != nil {
		if errors.Is(err, store.ErrRevoked) {
			return "", oauthErr(CodeAccessDenied, "the delegation cannot be created: "+err.Error())
		}
		return "", err
	}
	code := authority.NewSecret()
	ac.Hash, ac.DelegationID = hashSecret(code), g.DelegationID
	if err := s.opts.Store.CreateAuthCode(ctx, ac); err != nil {
		return "", err
	}
	err := s.record(ctx, audit.Event{Kind: KindConsent, User: g.User, Agents: g.Agents, Client: g.ClientID,
		Upstream: req.Upstream.Slug, Decision: "approve", Reason: "delegation " + g.DelegationID + ": " + describe(g.Constraints)})
	if err != nil {
		return "", err
	}
	return code, nil
}

// scopesOfTools narrows the requested scopes to those the approved tools
// need: a scope the user approved no tool of is not granted.
func scopesOfTools(req *authRequest, tools []string) []string {
	var out []string
	for _, t := range toolsFor(req.Upstream, req.Scopes) {
		if slices.Contains(tools, t.Name) && t.Scope != "" && !slices.Contains(out, t.Scope) {
			out = append(out, t.Scope)
		}
	}
	slices.Sort(out)
	return out
}

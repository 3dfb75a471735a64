package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

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
	v := consentView{CSRF: l.CSRF, Upstream: req.Upstream.Slug, Resource: req.Resource, Scopes: req.Scopes,
		Form: f, Error: problem,
		Client: clientView{Name: c.displayName(), ID: c.ID, URI: c.URI, Verified: c.Document, Host: c.host()}}
	if c.Document {
		v.Client.LogoURI = c.LogoURI
	}
	for _, t := range toolsFor(req.Upstream, req.Scopes) {
		v.Tools = append(v.Tools, toolChoice{toolInfo: t, Checked: slices.Contains(f.Tools, t.Name)})
		v.Money = v.Money || t.Amount
		v.Category = v.Category || t.Category
	}
	for _, p := range authParams {
		for _, val := range req.raw[p] {
			v.Hidden = append(v.Hidden, hiddenField{p, val})
		}
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
	if r.PostForm.Get("decision") != "approve" {
		s.authorizeError(w, r, req, oauthErr(CodeAccessDenied, "the user denied the request"))
		return
	}
	f := readConsentForm(r.PostForm)
	cons, ttl, err := f.constraints(toolsFor(req.Upstream, req.Scopes), s.opts.MaxGrantTTL)
	if err != nil {
		s.showConsent(w, http.StatusBadRequest, req, l, f, err.Error())
		return
	}
	now := s.now()
	g := store.Grant{DelegationID: "dlg_" + authority.NewID(), User: l.User, Agents: []string{req.Client.ID}, ClientID: req.Client.ID,
		Resource: req.Resource, Scopes: scopesOfTools(req, f.Tools), Constraints: cons, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	code, err := s.approve(r.Context(), req, g)
	if err != nil {
		s.renderError(w, err)
		return
	}
	s.redirectBack(w, r, req, url.Values{"code": {code}})
}

// approve stores the grant and an authorization code for it and audits the
// consent. A consent the log cannot hold is refused: the code is never
// delivered, so nothing can be minted from the grant.
func (s *Server) approve(ctx context.Context, req *authRequest, g store.Grant) (string, error) {
	if err := s.opts.Store.CreateGrant(ctx, g); err != nil {
		if errors.Is(err, store.ErrRevoked) {
			return "", oauthErr(CodeAccessDenied, "the delegation cannot be created: "+err.Error())
		}
		return "", err
	}
	code := authority.NewSecret()
	if err := s.opts.Store.CreateAuthCode(ctx, store.AuthCode{Hash: hashSecret(code), ClientID: req.Client.ID,
		User: g.User, RedirectURI: req.RedirectURI, Challenge: req.Challenge, Resource: req.Resource,
		DelegationID: g.DelegationID, CreatedAt: g.CreatedAt, ExpiresAt: g.CreatedAt.Add(s.opts.CodeTTL)}); err != nil {
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

package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/openlegant/legant/upstreams"
)

// authRequest is a validated authorization request (RFC 6749 §4.1.1 with
// PKCE, RFC 8707 resource).
type authRequest struct {
	Client      *client
	RedirectURI string // trusted once set: errors may be sent there
	State       string
	Challenge   string
	Upstream    *upstreams.Upstream // nil for a sign-in only request
	Resource    string              // canonical: the upstream's inbound audience; "" for sign-in only
	Scopes      []string            // tool scopes
	// OIDC are the OpenID Connect scopes (nil without openid); Nonce is
	// echoed in the ID token.
	OIDC  []string
	Nonce string
	// raw are the request's parameters, carried through the consent form.
	raw url.Values
}

// authParams are the parameters of an authorization request.
var authParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state",
	"code_challenge", "code_challenge_method", "resource", "nonce"}

// pkceChallenge is an S256 code_challenge: base64url of a SHA-256 digest.
var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// parseAuthRequest validates q. The client and redirect URI are checked
// first: until RedirectURI is set in the returned request, an error must be
// shown to the user, never sent to the (unverified) redirect URI.
func (s *Server) parseAuthRequest(ctx context.Context, q url.Values) (*authRequest, error) {
	req := &authRequest{raw: url.Values{}}
	for _, p := range authParams {
		if v, ok := q[p]; ok {
			req.raw[p] = v
		}
	}
	if len(q["client_id"]) > 1 || len(q["redirect_uri"]) > 1 {
		return req, oauthErr(CodeInvalidRequest, "client_id and redirect_uri must be given once")
	}
	c, err := s.lookupClient(ctx, q.Get("client_id"))
	if err != nil {
		return req, err
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" || !matchRedirect(c.RedirectURIs, redirect) {
		return req, oauthErr(CodeInvalidRequest, fmt.Sprintf("redirect_uri %q is not registered for this client", redirect))
	}
	req.Client, req.RedirectURI, req.State = c, redirect, q.Get("state")
	for _, p := range authParams {
		if len(q[p]) > 1 && p != "resource" {
			return req, oauthErr(CodeInvalidRequest, "parameter "+p+" is repeated")
		}
	}
	return req, s.checkAuthParams(req, q)
}

// checkAuthParams validates everything after the redirect URI.
func (s *Server) checkAuthParams(req *authRequest, q url.Values) error {
	switch {
	case q.Get("response_type") != "code":
		return oauthErr(CodeUnsupportedResponseType, "response_type must be code")
	case !req.Client.allows(GrantAuthorizationCode):
		return oauthErr(CodeUnauthorizedClient, "the client is not registered for the authorization_code grant")
	case q.Get("code_challenge") == "":
		return oauthErr(CodeInvalidRequest, "PKCE is required: send code_challenge and code_challenge_method=S256")
	case q.Get("code_challenge_method") != "S256":
		return oauthErr(CodeInvalidRequest, "code_challenge_method must be S256 (plain is not accepted)")
	case !pkceChallenge.MatchString(q.Get("code_challenge")):
		return oauthErr(CodeInvalidRequest, "code_challenge must be the base64url SHA-256 of the code verifier (43 characters)")
	case len(q["resource"]) > 1:
		return oauthErr(CodeInvalidTarget, "ask for one resource per authorization: a delegation is bound to one MCP server")
	}
	req.Challenge = q.Get("code_challenge")
	var rest string
	req.OIDC, rest = splitOIDCScopes(q.Get("scope"))
	if req.Nonce = q.Get("nonce"); len(req.Nonce) > 512 {
		return oauthErr(CodeInvalidRequest, "nonce is longer than 512 characters")
	}
	if req.OIDC != nil && q.Get("resource") == "" && strings.Trim(strings.ReplaceAll(rest, ScopeOfflineAccess, ""), " ") == "" {
		return nil // sign-in only: identity, no delegation
	}
	up, err := lookupResource(s.opts.Registry(), q.Get("resource"))
	if err != nil {
		return err
	}
	req.Upstream, req.Resource = up, up.InboundAudience
	if req.Scopes, err = grantScopes(up, rest); err != nil {
		return err
	}
	if req.Client.Scope != "" {
		allowed := strings.Fields(req.Client.Scope)
		for _, sc := range req.Scopes {
			if !slices.Contains(allowed, sc) {
				return oauthErr(CodeInvalidScope, fmt.Sprintf("scope %q is not among the scopes the client registered", sc))
			}
		}
	}
	return nil
}

// authorize is GET /oauth2/authorize: validate, make sure someone is logged
// in, and show the consent page.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	req, err := s.parseAuthRequest(r.Context(), r.URL.Query())
	if err != nil {
		s.authorizeError(w, r, req, err)
		return
	}
	l, err := s.currentLogin(r)
	if err != nil {
		s.renderError(w, err)
		return
	}
	if l == nil {
		http.Redirect(w, r, loginURL(r), http.StatusSeeOther)
		return
	}
	if l.mustEnrol() {
		http.Redirect(w, r, securityPath+"?"+url.Values{"return_to": {r.URL.RequestURI()}}.Encode(), http.StatusSeeOther)
		return
	}
	if code, ok := s.rememberedConsent(r.Context(), req, l); ok {
		s.redirectBack(w, r, req, url.Values{"code": {code}})
		return
	}
	s.showConsent(w, http.StatusOK, req, l, defaultConsentForm(req), "")
}

// authorizeError sends err to the client's redirect URI when it is trusted,
// and shows it to the user otherwise.
func (s *Server) authorizeError(w http.ResponseWriter, r *http.Request, req *authRequest, err error) {
	if req == nil || req.RedirectURI == "" {
		s.renderError(w, err)
		return
	}
	e := asOAuth(s.log, err)
	v := url.Values{"error": {e.Code}}
	if e.Description != "" {
		v.Set("error_description", e.Description)
	}
	s.redirectBack(w, r, req, v)
}

// redirectBack sends the user agent to the client's redirect URI with
// params, the state and the issuer (RFC 9207).
func (s *Server) redirectBack(w http.ResponseWriter, r *http.Request, req *authRequest, params url.Values) {
	u, err := url.Parse(req.RedirectURI)
	if err != nil {
		s.renderError(w, err)
		return
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	if req.State != "" {
		q.Set("state", req.State)
	}
	q.Set("iss", s.opts.Issuer)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

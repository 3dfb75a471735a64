package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/store"
)

// maxFormBytes bounds the body of a browser form.
const maxFormBytes = 64 << 10

// loginView is the login form.
type loginView struct {
	CSRF      string // the double-submit token of the form
	ReturnTo  string
	Username  string
	Error     string
	Providers []ssoLink // upstream OpenID providers to sign in with
	Passkeys  bool      // passkey sign-in offered
}

// loginPage shows the form. Its CSRF token is a random value in a cookie
// that the form echoes (double submit): a cross-site form cannot read it.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.showLogin(w, r, http.StatusOK, loginView{ReturnTo: safeReturn(r.URL.Query().Get("return_to"))})
}

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, status int, v loginView) {
	token := authority.NewSecret()
	s.setCookie(w, loginCSRFCookie, token, 3600)
	v.CSRF = token
	v.Providers = s.opts.SSO.links()
	v.Passkeys = s.webauthn != nil
	s.render(w, status, "login", page{Title: "Log in", Body: v})
}

// login checks the credentials and starts a session. Every failure says
// the same thing, and an unknown user costs as much time as a wrong password.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, oauthErr(CodeInvalidRequest, "the form could not be read"))
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("username"))
	v := loginView{ReturnTo: safeReturn(r.PostForm.Get("return_to")), Username: name}
	ck, err := r.Cookie(s.cookieName(loginCSRFCookie))
	if err != nil || !checkCSRF(r, ck.Value) {
		v.Error = "The form expired. Please try again."
		s.showLogin(w, r, http.StatusForbidden, v)
		return
	}
	now := s.now()
	if !s.logins.allowed(name, now) {
		v.Error = "Too many failed attempts for this user. Try again later."
		s.showLogin(w, r, http.StatusTooManyRequests, v)
		return
	}
	ok, err := s.checkLogin(r, name, r.PostForm.Get("password"))
	if err != nil {
		s.renderError(w, err)
		return
	}
	if !ok {
		s.logins.failed(name, now)
		s.log.Info("login failed", "user", name)
		v.Error = "Invalid user name or password."
		s.showLogin(w, r, http.StatusUnauthorized, v)
		return
	}
	s.logins.succeeded(name)
	stage, next, err := s.afterPassword(r.Context(), name, v.ReturnTo)
	if err == nil {
		err = s.startSession(w, r, name, stage, "pwd")
	}
	if err != nil {
		s.renderError(w, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// afterPassword decides what a correct password leads to: the second-factor
// form when the user enrolled one; enrolment only, for an admin without one
// when Options.RequireSecondFactorForAdmins; else a full session.
func (s *Server) afterPassword(ctx context.Context, name, returnTo string) (stage, next string, err error) {
	enrolled, err := s.hasSecondFactor(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNoKeySecret) {
		return "", "", err
	}
	back := url.Values{"return_to": {returnTo}}.Encode()
	if enrolled {
		return store.StageMFA, mfaPath + "?" + back, nil
	}
	if s.opts.RequireSecondFactorForAdmins {
		u, err := s.opts.Store.GetUser(ctx, name)
		if err != nil {
			return "", "", err
		}
		if u.Admin {
			return store.StageEnrol, securityPath + "?" + back, nil
		}
	}
	return store.StageFull, returnTo, nil
}

// mfaPath is the second-factor form of a password login.
const mfaPath = "/login/2fa"

// checkLogin reports whether name and password belong to an enabled user.
func (s *Server) checkLogin(r *http.Request, name, password string) (bool, error) {
	u, err := s.opts.Store.GetUser(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		checkPassword(dummyHash(), password)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if u.PasswordHash == NoPassword {
		checkPassword(dummyHash(), password)
		return false, nil
	}
	ok, err := checkPassword(u.PasswordHash, password)
	if err != nil {
		s.log.Error("stored password hash unreadable", "user", name, "err", err)
		return false, nil
	}
	return ok, nil
}

// logout ends the session (a POST with the session's CSRF token).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	r.ParseForm()
	l, err := s.currentLogin(r)
	if err != nil {
		s.renderError(w, err)
		return
	}
	if l != nil && checkCSRF(r, l.CSRF) {
		if err := s.opts.Store.DeleteLoginSession(r.Context(), l.hash); err != nil {
			s.renderError(w, err)
			return
		}
		s.setCookie(w, sessionCookie, "", -1)
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

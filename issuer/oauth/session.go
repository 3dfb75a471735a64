package oauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/store"
)

// Cookie names; with an https issuer they take the __Host- prefix, which
// browsers accept only Secure, host-only and with Path=/ (no subdomain can
// plant them).
const (
	sessionCookie   = "legant_session"
	loginCSRFCookie = "legant_login_csrf"
)

func (s *Server) cookieName(base string) string {
	if s.secure {
		return "__Host-" + base
	}
	return base
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(name), Value: value, Path: "/", MaxAge: maxAge,
		Secure: s.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// login is the user behind a request's session cookie, with the CSRF token
// of that session.
type login struct {
	User     string
	CSRF     string
	Stage    string // store.StageFull, StageEnrol (StageMFA sessions are not logins)
	AuthTime time.Time
	hash     string // of the session id
}

// mustEnrol reports a login that may only enrol a second factor.
func (l *login) mustEnrol() bool { return l.Stage == store.StageEnrol }

// currentLogin returns the request's login, or nil.
func (s *Server) currentLogin(r *http.Request) (*login, error) {
	ck, err := r.Cookie(s.cookieName(sessionCookie))
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	h := hashSecret(ck.Value)
	ls, err := s.opts.Store.GetLoginSession(r.Context(), h, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if ls.Stage == store.StageMFA {
		return nil, nil
	}
	return &login{User: ls.User, CSRF: sessionCSRF(ck.Value), Stage: ls.Stage, AuthTime: ls.AuthTime, hash: h}, nil
}

// sessionCSRF derives the CSRF token of a session from its secret id: a
// form must echo it, and only a page the session can read knows it.
func sessionCSRF(sessionID string) string {
	m := hmac.New(sha256.New, []byte(sessionID))
	m.Write([]byte("legant csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF compares the form's csrf field with want, in constant time.
func checkCSRF(r *http.Request, want string) bool {
	got := r.PostForm.Get("csrf")
	return got != "" && want != "" && equalSecret(got, want)
}

// startSession logs user in: a new session id (never one the browser
// offered, so no fixation), stored hashed, in an HttpOnly cookie. stage
// limits what the session may do (store.StageMFA: only present the second
// factor, for mfaTTL); amr lists how the user authenticated.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, user, stage, amr string) error {
	id := authority.NewSecret()
	now := s.now()
	ttl := s.opts.SessionTTL
	if stage == store.StageMFA {
		ttl = mfaTTL
	}
	if err := s.opts.Store.CreateLoginSession(r.Context(), store.LoginSession{IDHash: hashSecret(id), User: user,
		CreatedAt: now, ExpiresAt: now.Add(ttl), Stage: stage, AMR: amr}); err != nil {
		return err
	}
	s.setCookie(w, sessionCookie, id, int(ttl.Seconds()))
	s.setCookie(w, loginCSRFCookie, "", -1)
	return nil
}

// safeReturn returns a local path to go back to after login, or the
// account page. Only paths on this server are accepted (no open redirect).
func safeReturn(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		strings.ContainsAny(p, "\r\n\\") {
		return accountPath
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return accountPath
	}
	return p
}

// loginURL is the login page that comes back to the current request.
func loginURL(r *http.Request) string {
	return "/login?" + url.Values{"return_to": {r.URL.RequestURI()}}.Encode()
}

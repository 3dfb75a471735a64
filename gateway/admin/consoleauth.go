package admin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// AccountAuthenticator checks an issuer account for console login. It is
// the hook for role-based login: an implementation answers the account's
// name when the password is right AND the account holds the admin role, and
// ErrNotAdmin (or any error) otherwise. Options.Accounts nil means the
// console accepts the admin token only.
//
// cmd/legant wires the co-resident issuer (oauth.Server.AuthenticateAdmin:
// the admin role, password, no second factor enrolled) when there is one.
type AccountAuthenticator interface {
	AuthenticateAdmin(ctx context.Context, username, password string) (actor string, err error)
}

// Console session lifetime and cookie names.
const (
	consoleSessionTTL  = 8 * time.Hour
	consoleCookie      = "legant_console"
	consoleLoginCookie = "legant_console_login"
	maxConsoleForm     = 64 << 10
)

// consoleSession is what the signed session cookie carries.
type consoleSession struct {
	Actor  string `json:"a"`
	Expiry int64  `json:"e"` // unix seconds
	Nonce  string `json:"n"` // random: binds the CSRF token to this session
}

// consoleKey derives the key that signs console cookies and CSRF tokens
// from the admin token (HMAC with a fixed label), so it is never the token
// itself and every replica sharing the token derives the same key.
func consoleKey(token string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("legant console session key v1"))
	return m.Sum(nil)
}

func (c *console) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return m.Sum(nil)
}

func (c *console) sign(s consoleSession) string {
	b, _ := json.Marshal(s)
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(c.mac("session", p))
}

// session returns the request's valid, unexpired console session.
func (c *console) session(r *http.Request) (consoleSession, bool) {
	var s consoleSession
	ck, err := r.Cookie(consoleCookie)
	if err != nil {
		return s, false
	}
	p, sig, ok := strings.Cut(ck.Value, ".")
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(got, c.mac("session", p)) {
		return s, false
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(b, &s) != nil || s.Nonce == "" {
		return s, false
	}
	return s, c.s.opts.Now().Unix() < s.Expiry
}

// csrfFor is the CSRF token of a session (or, prefixed "login", of a login
// form's nonce).
func (c *console) csrfFor(kind, nonce string) string {
	return base64.RawURLEncoding.EncodeToString(c.mac("csrf", kind, nonce))
}

func (c *console) csrfOK(kind, nonce, got string) bool {
	want := c.csrfFor(kind, nonce)
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

type sessionHandler func(w http.ResponseWriter, r *http.Request, s consoleSession)

// authed serves h to a logged-in browser; a POST must also carry the
// session's CSRF token (form field "csrf"). Others are sent to the login
// page (GET) or refused (403).
func (c *console) authed(h sessionHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.session(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/console/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "log in to the console first", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxConsoleForm)
			if err := r.ParseForm(); err != nil || !c.csrfOK("session", s.Nonce, r.PostForm.Get("csrf")) {
				c.s.log.Warn("console: POST refused: missing or wrong CSRF token", "path", r.URL.Path, "actor", s.Actor)
				http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		h(w, r, s)
	})
}

// authedOrBearer admits a console session or the admin token as a bearer
// token (`legant watch`).
func (c *console) authedOrBearer(h sessionHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			if !c.s.authorized(r) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="legant-admin"`)
				writeError(w, &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Description: "a valid admin token is required"})
				return
			}
			h(w, r, consoleSession{Actor: "admin-token"})
			return
		}
		s, ok := c.session(r)
		if !ok {
			http.Error(w, "log in to the console first", http.StatusUnauthorized)
			return
		}
		h(w, r, s)
	})
}

func randomText() string { return rand.Text() }

func (c *console) serveLoginForm(w http.ResponseWriter, r *http.Request) {
	c.loginForm(w, r, http.StatusOK, "")
}

func (c *console) loginForm(w http.ResponseWriter, r *http.Request, status int, msg string) {
	nonce := randomText()
	http.SetCookie(w, &http.Cookie{Name: consoleLoginCookie, Value: nonce, Path: "/console/login", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	c.render(w, status, "login", page{Title: "Log in", CSRF: c.csrfFor("login", nonce), Error: msg,
		Data: map[string]bool{"Accounts": c.s.opts.Accounts != nil}})
}

// serveLogin checks the login form: its CSRF token (bound to the login
// cookie's nonce), then the admin token (constant time, hashed) or, when
// configured, an issuer account with the admin role.
func (c *console) serveLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxConsoleForm)
	ck, err := r.Cookie(consoleLoginCookie)
	if err != nil || r.ParseForm() != nil || !c.csrfOK("login", ck.Value, r.PostForm.Get("csrf")) {
		c.s.log.Warn("console: login refused: missing or wrong CSRF token", "remote", r.RemoteAddr)
		http.Error(w, "missing or wrong CSRF token: reload the login page", http.StatusForbidden)
		return
	}
	actor := ""
	if tok := r.PostForm.Get("token"); tok != "" {
		got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		if subtle.ConstantTimeCompare(got[:], c.s.tokenHash[:]) == 1 {
			actor = "admin-token"
			if name := strings.TrimSpace(r.PostForm.Get("name")); name != "" && len(name) <= maxActorLen && !strings.ContainsRune(name, 0) {
				actor = name
			}
		}
	} else if c.s.opts.Accounts != nil && r.PostForm.Get("username") != "" {
		if a, err := c.s.opts.Accounts.AuthenticateAdmin(r.Context(), r.PostForm.Get("username"), r.PostForm.Get("password")); err == nil {
			actor = a
		}
	}
	if actor == "" {
		c.s.log.Warn("console: login refused: wrong credentials", "remote", r.RemoteAddr)
		c.loginForm(w, r, http.StatusUnauthorized, "Wrong admin token or account.")
		return
	}
	s := consoleSession{Actor: actor, Expiry: c.s.opts.Now().Add(consoleSessionTTL).Unix(), Nonce: randomText()}
	http.SetCookie(w, &http.Cookie{Name: consoleCookie, Value: c.sign(s), Path: "/console", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: int(consoleSessionTTL / time.Second)})
	http.SetCookie(w, &http.Cookie{Name: consoleLoginCookie, Path: "/console/login", MaxAge: -1})
	c.s.log.Info("console: login", "actor", actor, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/console/decisions", http.StatusSeeOther)
}

func (c *console) serveLogout(w http.ResponseWriter, r *http.Request, _ consoleSession) {
	http.SetCookie(w, &http.Cookie{Name: consoleCookie, Path: "/console", MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// pageFor starts the page of a logged-in view.
func (c *console) pageFor(s consoleSession, title, nav string) page {
	return page{Title: title, Nav: nav, Actor: s.Actor, CSRF: c.csrfFor("session", s.Nonce)}
}

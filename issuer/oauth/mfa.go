package oauth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"html/template"
	"image/png"
	"net/http"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/openlegant/legant/issuer/store"
)

// securityPath is the page where a user enrols a second factor.
const securityPath = "/account/security"

// TOTP parameters (RFC 6238 defaults, what authenticator apps expect).
const (
	totpPeriod = 30
	// TOTPSkew is how many 30-second steps before and after now a code is
	// accepted: clocks of phones drift.
	TOTPSkew = 1
	// mfaTTL is how long a password login waits for its second factor.
	mfaTTL = 5 * time.Minute
	// RecoveryCodes is how many single-use recovery codes enrolment gives.
	RecoveryCodes = 10
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// checkTOTP returns the time step whose code is code (within TOTPSkew steps
// of now), comparing in constant time; ok is false when none matches.
func checkTOTP(secret, code string, now time.Time) (step int64, ok bool) {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0, false
	}
	for d := -TOTPSkew; d <= TOTPSkew; d++ {
		at := now.Add(time.Duration(d*totpPeriod) * time.Second)
		want, err := totp.GenerateCodeCustom(secret, at, totpOpts)
		if err == nil && equalSecret(want, code) {
			return at.Unix() / totpPeriod, true
		}
	}
	return 0, false
}

// verifySecondFactor checks a TOTP code (never twice the same step) or a
// recovery code (spent) of user.
func (s *Server) verifySecondFactor(ctx context.Context, user, code string) (bool, error) {
	t, err := s.opts.Store.GetTOTP(ctx, user)
	if err != nil {
		return false, err
	}
	if step, ok := checkTOTP(string(t.Secret), code, s.now()); ok {
		return s.opts.Store.UseTOTPStep(ctx, user, step)
	}
	norm := normalizeRecovery(code)
	if len(norm) != 16 {
		return false, nil
	}
	return s.opts.Store.UseRecoveryCode(ctx, user, hashSecret(norm))
}

// hasSecondFactor reports whether user has a confirmed TOTP enrolment.
func (s *Server) hasSecondFactor(ctx context.Context, user string) (bool, error) {
	t, err := s.opts.Store.GetTOTP(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !t.Confirmed.IsZero(), nil
}

func normalizeRecovery(code string) string {
	return strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
}

// newRecoveryCodes returns RecoveryCodes codes (80 random bits each, shown
// as xxxx-xxxx-xxxx-xxxx) and their hashes.
func newRecoveryCodes() (codes, hashes []string) {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	for range RecoveryCodes {
		b := make([]byte, 10)
		rand.Read(b)
		c := strings.ToLower(enc.EncodeToString(b))
		codes = append(codes, c[0:4]+"-"+c[4:8]+"-"+c[8:12]+"-"+c[12:16])
		hashes = append(hashes, hashSecret(c))
	}
	return codes, hashes
}

// mfaView is the second-factor form after a password login.
type mfaView struct {
	CSRF     string
	ReturnTo string
	Error    string
}

// mfaPage asks for the code of a login that passed the password.
func (s *Server) mfaPage(w http.ResponseWriter, r *http.Request) {
	ls, sid := s.pendingMFA(r)
	if ls == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "mfa", page{Title: "Second factor", Body: mfaView{CSRF: sessionCSRF(sid),
		ReturnTo: safeReturn(r.URL.Query().Get("return_to"))}})
}

// pendingMFA returns the request's session when it waits for a second
// factor, with its id.
func (s *Server) pendingMFA(r *http.Request) (*store.LoginSession, string) {
	ck, err := r.Cookie(s.cookieName(sessionCookie))
	if err != nil || ck.Value == "" {
		return nil, ""
	}
	ls, err := s.opts.Store.GetLoginSession(r.Context(), hashSecret(ck.Value), s.now())
	if err != nil || ls.Stage != store.StageMFA {
		return nil, ""
	}
	return ls, ck.Value
}

// mfa checks the code; success replaces the pending session by a full one.
func (s *Server) mfa(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	r.ParseForm()
	ls, sid := s.pendingMFA(r)
	if ls == nil || !checkCSRF(r, sessionCSRF(sid)) {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	v := mfaView{CSRF: sessionCSRF(sid), ReturnTo: safeReturn(r.PostForm.Get("return_to"))}
	key, now := ls.User, s.now()
	if !s.factors.allowed(key, now) {
		v.Error = "Too many failed attempts. Try again later."
		s.render(w, http.StatusTooManyRequests, "mfa", page{Title: "Second factor", Body: v})
		return
	}
	ok, err := s.verifySecondFactor(r.Context(), ls.User, r.PostForm.Get("code"))
	if err != nil {
		s.renderError(w, err)
		return
	}
	if !ok {
		s.factors.failed(key, now)
		v.Error = "That code is not valid (or was already used)."
		s.render(w, http.StatusUnauthorized, "mfa", page{Title: "Second factor", Body: v})
		return
	}
	s.factors.succeeded(key)
	if err := s.opts.Store.DeleteLoginSession(r.Context(), ls.IDHash); err != nil {
		s.renderError(w, err)
		return
	}
	if err := s.startSession(w, r, ls.User, store.StageFull, "pwd otp"); err != nil {
		s.renderError(w, err)
		return
	}
	http.Redirect(w, r, v.ReturnTo, http.StatusSeeOther)
}

// securityView is the second-factor page of the account.
type securityView struct {
	CSRF      string
	ReturnTo  string
	Enrolled  bool
	Required  bool         // the session may do nothing else until enrolled
	Secret    string       // during enrolment: the base32 secret
	QR        template.URL // during enrolment: a data: URI of the otpauth QR code (a PNG we made)
	Codes     []string
	CodesLeft int
	Passkeys  int
	WebAuthn  bool // passkeys offered (the issuer is a domain name)
	Error     string
}

func (s *Server) security(w http.ResponseWriter, r *http.Request) {
	l := s.requireLogin(w, r)
	if l == nil {
		return
	}
	v, err := s.securityState(r.Context(), l, r.URL.Query().Get("return_to"))
	if err != nil {
		s.renderError(w, err)
		return
	}
	s.render(w, http.StatusOK, "security", page{Title: "Security", User: l.User, CSRF: l.CSRF, Body: v})
}

func (s *Server) securityState(ctx context.Context, l *login, returnTo string) (securityView, error) {
	v := securityView{CSRF: l.CSRF, ReturnTo: safeReturn(returnTo), Required: l.mustEnrol(), WebAuthn: s.webauthn != nil}
	var err error
	if v.Enrolled, err = s.hasSecondFactor(ctx, l.User); err != nil {
		return v, err
	}
	if v.Enrolled {
		if v.CodesLeft, err = s.opts.Store.RecoveryCodesLeft(ctx, l.User); err != nil {
			return v, err
		}
	}
	pks, err := s.opts.Store.Passkeys(ctx, l.User)
	v.Passkeys = len(pks)
	return v, err
}

// requireLogin returns the request's login or redirects to the login page.
func (s *Server) requireLogin(w http.ResponseWriter, r *http.Request) *login {
	l, err := s.currentLogin(r)
	if err != nil {
		s.renderError(w, err)
		return nil
	}
	if l == nil {
		http.Redirect(w, r, loginURL(r), http.StatusSeeOther)
	}
	return l
}

// securityPost handles the security forms: action=totp-start (a new
// secret), totp-confirm (prove a code: enrolment done, recovery codes
// shown once), totp-remove (needs a current code).
func (s *Server) securityPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	r.ParseForm()
	l, err := s.currentLogin(r)
	if err != nil || l == nil || !checkCSRF(r, l.CSRF) {
		s.renderError(w, &Error{Code: CodeAccessDenied, Description: "log in again", Status: http.StatusForbidden})
		return
	}
	ctx := r.Context()
	v, err := s.securityState(ctx, l, r.PostForm.Get("return_to"))
	if err != nil {
		s.renderError(w, err)
		return
	}
	status := http.StatusOK
	switch r.PostForm.Get("action") {
	case "totp-start":
		if v.Enrolled {
			break
		}
		err = s.startTOTP(ctx, l.User, &v)
	case "totp-confirm":
		status, err = s.confirmTOTP(w, r, l, &v)
	case "totp-remove":
		var ok bool
		if ok, err = s.verifySecondFactor(ctx, l.User, r.PostForm.Get("code")); err == nil && ok {
			err = s.opts.Store.DeleteTOTP(ctx, l.User)
			v.Enrolled = false
		} else if err == nil {
			v.Error, status = "That code is not valid.", http.StatusUnauthorized
		}
	}
	if err != nil {
		s.renderError(w, err)
		return
	}
	s.render(w, status, "security", page{Title: "Security", User: l.User, CSRF: l.CSRF, Body: v})
}

func (s *Server) startTOTP(ctx context.Context, user string, v *securityView) error {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Legant " + s.issuer.Host, AccountName: user,
		Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return err
	}
	if err := s.opts.Store.SetTOTP(ctx, user, []byte(key.Secret())); err != nil {
		return err
	}
	v.Secret = key.Secret()
	if img, err := key.Image(200, 200); err == nil {
		var buf bytes.Buffer
		if png.Encode(&buf, img) == nil {
			v.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()))
		}
	}
	return nil
}

// confirmTOTP proves the first code: the enrolment is confirmed, recovery
// codes are made, and a session limited to enrolment becomes a full one.
func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request, l *login, v *securityView) (int, error) {
	ctx := r.Context()
	t, err := s.opts.Store.GetTOTP(ctx, l.User)
	if err != nil {
		return 0, err
	}
	step, ok := checkTOTP(string(t.Secret), r.PostForm.Get("code"), s.now())
	if ok && t.Confirmed.IsZero() {
		ok, err = s.opts.Store.UseTOTPStep(ctx, l.User, step)
		if err != nil {
			return 0, err
		}
	}
	if !ok || !t.Confirmed.IsZero() {
		v.Secret, v.Error = string(t.Secret), "That code is not valid: check the clock of your device and try the next one."
		return http.StatusBadRequest, nil
	}
	codes, hashes := newRecoveryCodes()
	if err := s.opts.Store.SetRecoveryCodes(ctx, l.User, hashes); err != nil {
		return 0, err
	}
	v.Enrolled, v.Codes, v.CodesLeft, v.Required = true, codes, len(codes), false
	if l.mustEnrol() {
		if err := s.opts.Store.DeleteLoginSession(ctx, l.hash); err != nil {
			return 0, err
		}
		if err := s.startSession(w, r, l.User, store.StageFull, "pwd otp"); err != nil {
			return 0, err
		}
	}
	return http.StatusOK, s.recordLogin(ctx, l.User, "second factor enrolled (totp)")
}

package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/store"
)

// Passkeys (WebAuthn, go-webauthn): a user registers one on
// /account/security, then logs in with it alone (a discoverable
// credential with user verification: possession and PIN or biometric, so a
// second factor in itself). The ceremonies are JSON endpoints driven by
// /oauth2/webauthn.js; their state (the challenge) is stored server-side,
// single use, for ceremonyTTL, keyed by an HttpOnly cookie.
const (
	ceremonyCookie = "legant_webauthn"
	ceremonyTTL    = 5 * time.Minute
)

func newWebAuthn(issuer string, host string) (*webauthn.WebAuthn, error) {
	return webauthn.New(&webauthn.Config{RPID: host, RPDisplayName: "Legant", RPOrigins: []string{issuer}})
}

// passkeyUser adapts a user and their passkeys to go-webauthn.
type passkeyUser struct {
	name  string
	creds []webauthn.Credential
}

// userHandle is the WebAuthn user id of a user name: a hash, so the
// authenticator holds no name and the handle never changes.
func userHandle(name string) []byte {
	sum := sha256.Sum256([]byte("legant webauthn user\x00" + name))
	return sum[:]
}

func (u *passkeyUser) WebAuthnID() []byte                         { return userHandle(u.name) }
func (u *passkeyUser) WebAuthnName() string                       { return u.name }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.name }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (s *Server) passkeyUser(ctx context.Context, name string) (*passkeyUser, error) {
	pks, err := s.opts.Store.Passkeys(ctx, name)
	if err != nil {
		return nil, err
	}
	u := &passkeyUser{name: name}
	for _, p := range pks {
		var c webauthn.Credential
		if err := json.Unmarshal(p.Credential, &c); err != nil {
			return nil, err
		}
		u.creds = append(u.creds, c)
	}
	return u, nil
}

// saveCeremony keeps session data for the finish step.
func (s *Server) saveCeremony(w http.ResponseWriter, r *http.Request, user string, sd *webauthn.SessionData) error {
	b, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	id := authority.NewSecret()
	if err := s.opts.Store.SaveCeremony(r.Context(), hashSecret(id), user, b, s.now().Add(ceremonyTTL)); err != nil {
		return err
	}
	s.setCookie(w, ceremonyCookie, id, int(ceremonyTTL.Seconds()))
	return nil
}

// takeCeremony returns (and spends) the request's ceremony.
func (s *Server) takeCeremony(w http.ResponseWriter, r *http.Request) (string, *webauthn.SessionData, error) {
	ck, err := r.Cookie(s.cookieName(ceremonyCookie))
	if err != nil || ck.Value == "" {
		return "", nil, errNoCeremony
	}
	s.setCookie(w, ceremonyCookie, "", -1)
	user, b, err := s.opts.Store.TakeCeremony(r.Context(), hashSecret(ck.Value), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, errNoCeremony
	}
	if err != nil {
		return "", nil, err
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(b, &sd); err != nil {
		return "", nil, err
	}
	return user, &sd, nil
}

var errNoCeremony = &Error{Code: CodeInvalidRequest, Description: "no passkey ceremony in progress, or it expired: try again", Status: http.StatusBadRequest}

// passkeyRefused is what a failed ceremony answers; the detail is logged.
var passkeyRefused = &Error{Code: CodeAccessDenied, Description: "the passkey was not accepted", Status: http.StatusForbidden}

var errNoPasskeys = &Error{Code: CodeInvalidRequest, Description: "passkeys need the issuer to be a domain name, not an IP address", Status: http.StatusNotFound}

// checkHeaderCSRF compares the X-CSRF-Token header with want.
func checkHeaderCSRF(r *http.Request, want string) bool {
	got := r.Header.Get("X-CSRF-Token")
	return got != "" && want != "" && equalSecret(got, want)
}

// passkeyRegisterBegin answers the options of navigator.credentials.create
// for the logged-in user (a discoverable credential, user verification
// required, existing ones excluded).
func (s *Server) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request) error {
	if s.webauthn == nil {
		return errNoPasskeys
	}
	l, err := s.currentLogin(r)
	if err != nil {
		return err
	}
	if l == nil || !checkHeaderCSRF(r, l.CSRF) {
		return &Error{Code: CodeAccessDenied, Description: "log in again", Status: http.StatusForbidden}
	}
	u, err := s.passkeyUser(r.Context(), l.User)
	if err != nil {
		return err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	opts, sd, err := s.webauthn.BeginRegistration(u, webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{ResidentKey: protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationRequired}), webauthn.WithExclusions(exclude))
	if err != nil {
		return err
	}
	if err := s.saveCeremony(w, r, l.User, sd); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, opts)
	return nil
}

// passkeyRegisterFinish verifies the attestation and stores the passkey.
// A session that may only enrol becomes a full one.
func (s *Server) passkeyRegisterFinish(w http.ResponseWriter, r *http.Request) error {
	if s.webauthn == nil {
		return errNoPasskeys
	}
	l, err := s.currentLogin(r)
	if err != nil {
		return err
	}
	if l == nil || !checkHeaderCSRF(r, l.CSRF) {
		return &Error{Code: CodeAccessDenied, Description: "log in again", Status: http.StatusForbidden}
	}
	user, sd, err := s.takeCeremony(w, r)
	if err != nil {
		return err
	}
	if user != l.User {
		return errNoCeremony
	}
	u, err := s.passkeyUser(r.Context(), l.User)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	cred, err := s.webauthn.FinishRegistration(u, *sd, r)
	if err != nil {
		s.log.Info("passkey registration refused", "user", l.User, "err", err)
		return passkeyRefused
	}
	b, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	if err := s.opts.Store.AddPasskey(r.Context(), store.Passkey{ID: base64.RawURLEncoding.EncodeToString(cred.ID), User: l.User, Credential: b}); err != nil {
		return err
	}
	if l.mustEnrol() {
		if err := s.opts.Store.DeleteLoginSession(r.Context(), l.hash); err != nil {
			return err
		}
		if err := s.startSession(w, r, l.User, store.StageFull, "pwd hwk"); err != nil {
			return err
		}
	}
	if err := s.recordLogin(r.Context(), l.User, "passkey registered"); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"registered": true})
	return nil
}

// passkeyLoginBegin answers the options of navigator.credentials.get for a
// passwordless login (the login form's double-submit CSRF token in the
// X-CSRF-Token header).
func (s *Server) passkeyLoginBegin(w http.ResponseWriter, r *http.Request) error {
	if s.webauthn == nil {
		return errNoPasskeys
	}
	ck, err := r.Cookie(s.cookieName(loginCSRFCookie))
	if err != nil || !checkHeaderCSRF(r, ck.Value) {
		return &Error{Code: CodeAccessDenied, Description: "the login form expired: reload it", Status: http.StatusForbidden}
	}
	opts, sd, err := s.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return err
	}
	if err := s.saveCeremony(w, r, "", sd); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, opts)
	return nil
}

// passkeyLoginFinish verifies the assertion (signature over the challenge,
// origin, RP id, user verification, sign counter) and starts a session.
func (s *Server) passkeyLoginFinish(w http.ResponseWriter, r *http.Request) error {
	if s.webauthn == nil {
		return errNoPasskeys
	}
	ck, err := r.Cookie(s.cookieName(loginCSRFCookie))
	if err != nil || !checkHeaderCSRF(r, ck.Value) {
		return &Error{Code: CodeAccessDenied, Description: "the login form expired: reload it", Status: http.StatusForbidden}
	}
	_, sd, err := s.takeCeremony(w, r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var credID string
	handler := func(rawID, handle []byte) (webauthn.User, error) {
		credID = base64.RawURLEncoding.EncodeToString(rawID)
		p, err := s.opts.Store.GetPasskey(ctx, credID)
		if err != nil {
			return nil, err
		}
		if !equalSecret(string(handle), string(userHandle(p.User))) {
			return nil, errors.New("user handle does not match the credential's user")
		}
		return s.passkeyUser(ctx, p.User)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	wu, cred, err := s.webauthn.FinishPasskeyLogin(handler, *sd, r)
	if err != nil {
		s.log.Info("passkey login refused", "err", err)
		return passkeyRefused
	}
	name := wu.WebAuthnName()
	if u, err := s.opts.Store.GetUser(ctx, name); err != nil || u.Disabled {
		return passkeyRefused
	}
	b, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	if err := s.opts.Store.UsePasskey(ctx, credID, b); err != nil {
		return err
	}
	if err := s.startSession(w, r, name, store.StageFull, "hwk"); err != nil {
		return err
	}
	if err := s.recordLogin(ctx, name, "passkey"); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": safeReturn(r.URL.Query().Get("return_to"))})
	return nil
}

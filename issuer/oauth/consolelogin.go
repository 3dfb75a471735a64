package oauth

import (
	"context"
	"errors"

	"github.com/openlegant/legant/issuer/store"
)

// ErrConsoleLogin is AuthenticateAdmin's one refusal: it never says which
// part failed (unknown account, wrong password, not an admin, second factor).
var ErrConsoleLogin = errors.New("oauth: not an administrator account, or a wrong password")

// AuthenticateAdmin lets an issuer account sign in to the admin console
// (it implements gateway/admin's AccountAuthenticator): the account exists,
// is enabled, holds the admin role, and the password is right. The console
// asks for a password only, so an account with a second factor enrolled —
// or any admin when Options.RequireSecondFactorForAdmins — is refused here
// (fail closed) and signs in with the admin token instead. The answer is
// the actor recorded for what the session does: "user:<name>".
func (s *Server) AuthenticateAdmin(ctx context.Context, username, password string) (string, error) {
	u, err := s.opts.Store.GetUser(ctx, username)
	if err != nil || u.Disabled || u.PasswordHash == NoPassword {
		checkPassword(dummyHash(), password) // the same time whether or not the account exists
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		return "", ErrConsoleLogin
	}
	ok, err := checkPassword(u.PasswordHash, password)
	if err != nil || !ok || !u.Admin || s.opts.RequireSecondFactorForAdmins {
		return "", ErrConsoleLogin
	}
	enrolled, err := s.hasSecondFactor(ctx, username)
	if err != nil && !errors.Is(err, store.ErrNoKeySecret) {
		return "", err
	}
	if enrolled {
		return "", ErrConsoleLogin
	}
	return "user:" + username, nil
}

package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openlegant/legant/authority"
)

// SetAdmin gives user name the admin role (or takes it away) and ends the
// user's sessions, so that the new role applies from the next login.
// ErrNotFound if there is no such user.
func (s *Store) SetAdmin(ctx context.Context, name string, admin bool) error {
	u, err := s.GetUser(ctx, name)
	if err != nil {
		return err
	}
	u.Admin = admin
	return s.UpdateUser(ctx, *u)
}

// Identity links an account at an upstream OpenID provider (issuer,
// subject) to a local user.
type Identity struct {
	Issuer   string
	Subject  string
	User     string
	Email    string
	Created  time.Time // read-only
	LastSeen time.Time // read-only
}

// GetIdentity returns the identity (issuer, subject), or ErrNotFound.
func (s *Store) GetIdentity(ctx context.Context, issuer, subject string) (*Identity, error) {
	var id Identity
	var created, last int64
	err := s.db.QueryRowContext(ctx, `SELECT issuer, subject, username, email, created_ns, last_ns FROM oauth_identities
		WHERE issuer = $1 AND subject = $2`, issuer, subject).Scan(&id.Issuer, &id.Subject, &id.User, &id.Email, &created, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: identity %s at %s", ErrNotFound, subject, issuer)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get identity: %w", err)
	}
	id.Created, id.LastSeen = fromNanos(created), fromNanos(last)
	return &id, nil
}

// LinkIdentity records a sign-in of id: it creates the link, or updates the
// e-mail and last sign-in of an existing one. The user a link names never
// changes (a subject that signed in as alice stays alice).
func (s *Store) LinkIdentity(ctx context.Context, id Identity) error {
	if id.Issuer == "" || id.Subject == "" || id.User == "" {
		return errors.New("store: identity without issuer, subject or user")
	}
	now := s.now().UnixNano()
	_, err := s.db.ExecContext(ctx, `INSERT INTO oauth_identities (issuer, subject, username, email, created_ns, last_ns)
		VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email, last_ns = excluded.last_ns`,
		id.Issuer, id.Subject, id.User, id.Email, now)
	if err != nil {
		return fmt.Errorf("store: link identity: %w", err)
	}
	return nil
}

// TOTP is a user's TOTP enrolment. Secret is the raw shared secret; it is
// stored sealed with the key-encryption secret.
type TOTP struct {
	User      string
	Secret    []byte
	Confirmed time.Time // zero: enrolment started, not proven yet
	LastStep  int64     // the last time step accepted; a step is accepted once
}

func totpAAD(user string) []byte { return []byte("totp:" + user) }

// SetTOTP starts (or restarts) the enrolment of user with secret,
// unconfirmed. It needs the key-encryption secret (ErrNoKeySecret).
func (s *Store) SetTOTP(ctx context.Context, user string, secret []byte) error {
	if s.keys.sealer == nil {
		return ErrNoKeySecret
	}
	sealed := s.keys.sealer.seal(secret, totpAAD(user))
	_, err := s.db.ExecContext(ctx, `INSERT INTO oauth_totp (username, secret, confirmed_ns, last_step) VALUES ($1, $2, 0, 0)
		ON CONFLICT (username) DO UPDATE SET secret = excluded.secret, confirmed_ns = 0, last_step = 0`, user, sealed)
	if err != nil {
		return fmt.Errorf("store: set totp: %w", err)
	}
	return nil
}

// GetTOTP returns user's enrolment, or ErrNotFound.
func (s *Store) GetTOTP(ctx context.Context, user string) (*TOTP, error) {
	if s.keys.sealer == nil {
		return nil, ErrNoKeySecret
	}
	t := TOTP{User: user}
	var sealed []byte
	var confirmed int64
	err := s.db.QueryRowContext(ctx, `SELECT secret, confirmed_ns, last_step FROM oauth_totp WHERE username = $1`, user).
		Scan(&sealed, &confirmed, &t.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: totp of %q", ErrNotFound, user)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get totp: %w", err)
	}
	if t.Secret, err = s.keys.sealer.open(sealed, totpAAD(user)); err != nil {
		return nil, fmt.Errorf("store: totp of %q: %w", user, err)
	}
	t.Confirmed = fromNanos(confirmed)
	return &t, nil
}

// UseTOTPStep records that user presented the code of time step step, and
// confirms the enrolment if it was not yet. It reports false when a code of
// that step or a later one was already accepted (a replay).
func (s *Store) UseTOTPStep(ctx context.Context, user string, step int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE oauth_totp SET last_step = $1,
		confirmed_ns = CASE WHEN confirmed_ns = 0 THEN $2 ELSE confirmed_ns END
		WHERE username = $3 AND last_step < $1`, step, s.now().UnixNano(), user)
	if err != nil {
		return false, fmt.Errorf("store: use totp step: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// DeleteTOTP removes user's TOTP enrolment and recovery codes.
func (s *Store) DeleteTOTP(ctx context.Context, user string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_totp WHERE username = $1`, user); err != nil {
			return fmt.Errorf("store: delete totp: %w", err)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM oauth_recovery_codes WHERE username = $1`, user)
		return err
	})
}

// SetRecoveryCodes replaces user's recovery codes with hashes (of codes the
// user was shown once).
func (s *Store) SetRecoveryCodes(ctx context.Context, user string, hashes []string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_recovery_codes WHERE username = $1`, user); err != nil {
			return fmt.Errorf("store: set recovery codes: %w", err)
		}
		for _, h := range hashes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO oauth_recovery_codes (username, code_hash) VALUES ($1, $2)`, user, h); err != nil {
				return fmt.Errorf("store: set recovery codes: %w", err)
			}
		}
		return nil
	})
}

// UseRecoveryCode spends the unused recovery code of user whose hash is
// hash, and reports whether there was one. A code is used once.
func (s *Store) UseRecoveryCode(ctx context.Context, user, hash string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE oauth_recovery_codes SET used_ns = $1
		WHERE username = $2 AND code_hash = $3 AND used_ns = 0`, s.now().UnixNano(), user, hash)
	if err != nil {
		return false, fmt.Errorf("store: use recovery code: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RecoveryCodesLeft counts user's unused recovery codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, user string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM oauth_recovery_codes WHERE username = $1 AND used_ns = 0`, user).Scan(&n)
	return n, err
}

// Consent is a decision a user asked to remember: the next authorization
// request of the same client for the same resource and scopes is approved
// with the same tools, limits and lifetime, without the page, until the
// user forgets it.
type Consent struct {
	User        string
	ClientID    string
	Resource    string // "" for sign-in only (OpenID Connect)
	Scopes      string // sorted, space separated
	Tools       []string
	Constraints authority.Constraints
	TTL         time.Duration
	CreatedAt   time.Time // read-only
}

// RememberConsent stores c, replacing the one for the same key.
func (s *Store) RememberConsent(ctx context.Context, c Consent) error {
	tools, err := json.Marshal(nonNil(c.Tools))
	if err != nil {
		return err
	}
	cons, err := json.Marshal(c.Constraints)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO oauth_consents (username, client_id, resource, scopes, tools, constraints, ttl_ns, created_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (username, client_id, resource, scopes) DO UPDATE SET
		tools = excluded.tools, constraints = excluded.constraints, ttl_ns = excluded.ttl_ns, created_ns = excluded.created_ns`,
		c.User, c.ClientID, c.Resource, c.Scopes, string(tools), string(cons), int64(c.TTL), s.now().UnixNano())
	if err != nil {
		return fmt.Errorf("store: remember consent: %w", err)
	}
	return nil
}

const consentColumns = `username, client_id, resource, scopes, tools, constraints, ttl_ns, created_ns`

// GetConsent returns the remembered consent of that key, or ErrNotFound.
func (s *Store) GetConsent(ctx context.Context, user, clientID, resource, scopes string) (*Consent, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+consentColumns+` FROM oauth_consents
		WHERE username = $1 AND client_id = $2 AND resource = $3 AND scopes = $4`, user, clientID, resource, scopes)
	c, err := scanConsent(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: consent", ErrNotFound)
	}
	return c, err
}

// ListConsents returns user's remembered consents, newest first.
func (s *Store) ListConsents(ctx context.Context, user string) ([]Consent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+consentColumns+` FROM oauth_consents WHERE username = $1
		ORDER BY created_ns DESC, client_id`, user)
	if err != nil {
		return nil, fmt.Errorf("store: list consents: %w", err)
	}
	defer rows.Close()
	var out []Consent
	for rows.Next() {
		c, err := scanConsent(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

// ForgetConsent deletes a remembered consent; forgetting a missing one is
// not an error. Delegations already approved from it stay until revoked.
func (s *Store) ForgetConsent(ctx context.Context, user, clientID, resource, scopes string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM oauth_consents WHERE username = $1 AND client_id = $2 AND resource = $3 AND scopes = $4`,
		user, clientID, resource, scopes)
	if err != nil {
		return fmt.Errorf("store: forget consent: %w", err)
	}
	return nil
}

func scanConsent(scan func(...any) error) (*Consent, error) {
	var c Consent
	var tools, cons string
	var ttl, created int64
	if err := scan(&c.User, &c.ClientID, &c.Resource, &c.Scopes, &tools, &cons, &ttl, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tools), &c.Tools); err != nil {
		return nil, fmt.Errorf("store: consent tools: %w", err)
	}
	if err := json.Unmarshal([]byte(cons), &c.Constraints); err != nil {
		return nil, fmt.Errorf("store: consent constraints: %w", err)
	}
	c.TTL, c.CreatedAt = time.Duration(ttl), fromNanos(created)
	return &c, nil
}

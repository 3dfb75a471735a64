package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// User is a local account of the authorization server: the person who logs
// in and approves delegations (the "sub" of the tokens).
type User struct {
	Name string
	// PasswordHash is a PHC string (the issuer uses argon2id); the store
	// never sees a password.
	PasswordHash string
	Disabled     bool
	// Admin may see and revoke every user's delegations (the console,
	// kill and revoke-any); an ordinary user only their own.
	Admin bool
	// Email is the user's address ("" unknown), the email claim of ID
	// tokens and userinfo.
	Email     string
	CreatedAt time.Time // read-only
	UpdatedAt time.Time // read-only
}

// CreateUser stores u; ErrExists if the name is taken.
func (s *Store) CreateUser(ctx context.Context, u User) error {
	if u.Name == "" || u.PasswordHash == "" {
		return errors.New("store: user without name or password hash")
	}
	now := s.now().UnixNano()
	res, err := s.db.ExecContext(ctx, `INSERT INTO oauth_users (username, password_hash, created_ns, updated_ns, disabled, is_admin, email)
		VALUES ($1, $2, $3, $3, $4, $5, $6) ON CONFLICT (username) DO NOTHING`, u.Name, u.PasswordHash, now, boolInt(u.Disabled),
		boolInt(u.Admin), u.Email)
	if err != nil {
		return fmt.Errorf("store: create user: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: user %q", ErrExists, u.Name)
	}
	return nil
}

// UpdateUser replaces the password hash, disabled flag, role and e-mail of
// user u.Name; ErrNotFound if there is no such user. It ends the user's
// login sessions (a changed password, role or status takes effect at once).
func (s *Store) UpdateUser(ctx context.Context, u User) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oauth_users SET password_hash = $1, disabled = $2, updated_ns = $3,
			is_admin = $5, email = $6 WHERE username = $4`, u.PasswordHash, boolInt(u.Disabled), s.now().UnixNano(), u.Name,
			boolInt(u.Admin), u.Email)
		if err != nil {
			return fmt.Errorf("store: update user: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: user %q", ErrNotFound, u.Name)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM oauth_login_sessions WHERE username = $1`, u.Name)
		return err
	})
}

// GetUser returns user name, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, name string) (*User, error) {
	var u User
	var created, updated, disabled, admin int64
	err := s.db.QueryRowContext(ctx, `SELECT username, password_hash, created_ns, updated_ns, disabled, is_admin, email
		FROM oauth_users WHERE username = $1`, name).Scan(&u.Name, &u.PasswordHash, &created, &updated, &disabled, &admin, &u.Email)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: user %q", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get user: %w", err)
	}
	u.CreatedAt, u.UpdatedAt, u.Disabled, u.Admin = fromNanos(created), fromNanos(updated), disabled != 0, admin != 0
	return &u, nil
}

// ListUsers returns every user, by name, without password hashes.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT username, created_ns, updated_ns, disabled, is_admin, email FROM oauth_users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var created, updated, disabled, admin int64
		if err := rows.Scan(&u.Name, &created, &updated, &disabled, &admin, &u.Email); err != nil {
			return nil, err
		}
		u.CreatedAt, u.UpdatedAt, u.Disabled, u.Admin = fromNanos(created), fromNanos(updated), disabled != 0, admin != 0
		out = append(out, u)
	}
	return out, rows.Err()
}

// DeleteUser removes user name, its login sessions, upstream identities,
// second factors and remembered consents; ErrNotFound if there
// is no such user. Delegations the user approved stay until revoked.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM oauth_users WHERE username = $1`, name)
		if err != nil {
			return fmt.Errorf("store: delete user: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: user %q", ErrNotFound, name)
		}
		for _, q := range []string{`DELETE FROM oauth_login_sessions WHERE username = $1`,
			`DELETE FROM oauth_identities WHERE username = $1`, `DELETE FROM oauth_totp WHERE username = $1`,
			`DELETE FROM oauth_recovery_codes WHERE username = $1`, `DELETE FROM oauth_consents WHERE username = $1`,
			`DELETE FROM oauth_passkeys WHERE username = $1`} {
			if _, err := tx.ExecContext(ctx, q, name); err != nil {
				return err
			}
		}
		return nil
	})
}

// LoginSession is a browser session of a logged-in user. Only the SHA-256 of
// the session id (the cookie value) is stored.
type LoginSession struct {
	IDHash    string
	User      string
	CreatedAt time.Time // zero: now
	ExpiresAt time.Time
	// Stage is what the session may do: "" (StageFull) everything;
	// StageMFA only present the second factor; StageEnrol only enrol one.
	Stage string
	// AuthTime is when the user authenticated (the auth_time of ID
	// tokens); zero: CreatedAt.
	AuthTime time.Time
	// AMR lists the authentication methods used (RFC 8176: "pwd", "otp",
	// "hwk", "fed"), space separated.
	AMR string
}

// Login session stages.
const (
	StageFull  = ""
	StageMFA   = "mfa"
	StageEnrol = "enrol"
)

// CreateLoginSession stores ls.
func (s *Store) CreateLoginSession(ctx context.Context, ls LoginSession) error {
	if ls.IDHash == "" || ls.User == "" || ls.ExpiresAt.IsZero() {
		return errors.New("store: login session without id, user or expiry")
	}
	if ls.CreatedAt.IsZero() {
		ls.CreatedAt = s.now()
	}
	if ls.AuthTime.IsZero() {
		ls.AuthTime = ls.CreatedAt
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO oauth_login_sessions (id_hash, username, created_ns, expires_ns, stage, auth_ns, amr)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, ls.IDHash, ls.User, ls.CreatedAt.UnixNano(), ls.ExpiresAt.UnixNano(),
		ls.Stage, ls.AuthTime.UnixNano(), ls.AMR)
	if err != nil {
		return fmt.Errorf("store: create login session: %w", err)
	}
	return nil
}

// GetLoginSession returns the live session whose id hashes to idHash, of a
// user who still exists and is not disabled; ErrNotFound otherwise
// (expired sessions are deleted on the way).
func (s *Store) GetLoginSession(ctx context.Context, idHash string, now time.Time) (*LoginSession, error) {
	var ls LoginSession
	var created, expires, auth int64
	err := s.db.QueryRowContext(ctx, `SELECT l.id_hash, l.username, l.created_ns, l.expires_ns, l.stage, l.auth_ns, l.amr
		FROM oauth_login_sessions l JOIN oauth_users u ON u.username = l.username
		WHERE l.id_hash = $1 AND u.disabled = 0`, idHash).Scan(&ls.IDHash, &ls.User, &created, &expires, &ls.Stage, &auth, &ls.AMR)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: login session", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get login session: %w", err)
	}
	ls.CreatedAt, ls.ExpiresAt, ls.AuthTime = fromNanos(created), fromNanos(expires), fromNanos(auth)
	if ls.AuthTime.IsZero() {
		ls.AuthTime = ls.CreatedAt
	}
	if !now.Before(ls.ExpiresAt) {
		_ = s.DeleteLoginSession(ctx, idHash)
		return nil, fmt.Errorf("%w: login session expired", ErrNotFound)
	}
	return &ls, nil
}

// DeleteLoginSession ends a session (logout). Deleting a missing session is
// not an error.
func (s *Store) DeleteLoginSession(ctx context.Context, idHash string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM oauth_login_sessions WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("store: delete login session: %w", err)
	}
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

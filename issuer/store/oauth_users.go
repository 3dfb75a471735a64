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
	CreatedAt    time.Time // read-only
	UpdatedAt    time.Time // read-only
}

// CreateUser stores u; ErrExists if the name is taken.
func (s *Store) CreateUser(ctx context.Context, u User) error {
	if u.Name == "" || u.PasswordHash == "" {
		return errors.New("store: user without name or password hash")
	}
	now := s.now().UnixNano()
	res, err := s.db.ExecContext(ctx, `INSERT INTO oauth_users (username, password_hash, created_ns, updated_ns, disabled)
		VALUES ($1, $2, $3, $3, $4) ON CONFLICT (username) DO NOTHING`, u.Name, u.PasswordHash, now, boolInt(u.Disabled))
	if err != nil {
		return fmt.Errorf("store: create user: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: user %q", ErrExists, u.Name)
	}
	return nil
}

// UpdateUser replaces the password hash and disabled flag of user u.Name;
// ErrNotFound if there is no such user. Disabling a user or changing the
// password ends the user's login sessions.
func (s *Store) UpdateUser(ctx context.Context, u User) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oauth_users SET password_hash = $1, disabled = $2, updated_ns = $3
			WHERE username = $4`, u.PasswordHash, boolInt(u.Disabled), s.now().UnixNano(), u.Name)
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
	var created, updated, disabled int64
	err := s.db.QueryRowContext(ctx, `SELECT username, password_hash, created_ns, updated_ns, disabled
		FROM oauth_users WHERE username = $1`, name).Scan(&u.Name, &u.PasswordHash, &created, &updated, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: user %q", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get user: %w", err)
	}
	u.CreatedAt, u.UpdatedAt, u.Disabled = fromNanos(created), fromNanos(updated), disabled != 0
	return &u, nil
}

// ListUsers returns every user, by name, without password hashes.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT username, created_ns, updated_ns, disabled FROM oauth_users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var created, updated, disabled int64
		if err := rows.Scan(&u.Name, &created, &updated, &disabled); err != nil {
			return nil, err
		}
		u.CreatedAt, u.UpdatedAt, u.Disabled = fromNanos(created), fromNanos(updated), disabled != 0
		out = append(out, u)
	}
	return out, rows.Err()
}

// DeleteUser removes user name and its login sessions; ErrNotFound if there
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
		_, err = tx.ExecContext(ctx, `DELETE FROM oauth_login_sessions WHERE username = $1`, name)
		return err
	})
}

// LoginSession is a browser session of a logged-in user. Only the SHA-256 of
// the session id (the cookie value) is stored.
type LoginSession struct {
	IDHash    string
	User      string
	CreatedAt time.Time // zero: now
	ExpiresAt time.Time
}

// CreateLoginSession stores ls.
func (s *Store) CreateLoginSession(ctx context.Context, ls LoginSession) error {
	if ls.IDHash == "" || ls.User == "" || ls.ExpiresAt.IsZero() {
		return errors.New("store: login session without id, user or expiry")
	}
	if ls.CreatedAt.IsZero() {
		ls.CreatedAt = s.now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO oauth_login_sessions (id_hash, username, created_ns, expires_ns)
		VALUES ($1, $2, $3, $4)`, ls.IDHash, ls.User, ls.CreatedAt.UnixNano(), ls.ExpiresAt.UnixNano())
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
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT l.id_hash, l.username, l.created_ns, l.expires_ns
		FROM oauth_login_sessions l JOIN oauth_users u ON u.username = l.username
		WHERE l.id_hash = $1 AND u.disabled = 0`, idHash).Scan(&ls.IDHash, &ls.User, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: login session", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get login session: %w", err)
	}
	ls.CreatedAt, ls.ExpiresAt = fromNanos(created), fromNanos(expires)
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

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrRefreshReused reports a refresh token presented after it was rotated:
// a sign that it leaked. Its whole family has been revoked by then.
var ErrRefreshReused = errors.New("store: refresh token reused")

// RefreshToken is one refresh token. Every rotation of one grant belongs to
// the same family, named by the grant's delegation id. Only the SHA-256 of
// the token is stored.
type RefreshToken struct {
	Hash         string
	DelegationID string
	ClientID     string
	CreatedAt    time.Time // zero: now
	ExpiresAt    time.Time
	UsedAt       time.Time // read-only: when it was rotated
	RevokedAt    time.Time // read-only
}

// Active reports whether the token can still be exchanged at now.
func (rt *RefreshToken) Active(now time.Time) bool {
	return rt.UsedAt.IsZero() && rt.RevokedAt.IsZero() && now.Before(rt.ExpiresAt)
}

// CreateRefreshToken stores rt.
func (s *Store) CreateRefreshToken(ctx context.Context, rt RefreshToken) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.insertRefreshTx(ctx, tx, rt) })
}

func (s *Store) insertRefreshTx(ctx context.Context, tx *sql.Tx, rt RefreshToken) error {
	if rt.Hash == "" || rt.DelegationID == "" || rt.ExpiresAt.IsZero() {
		return errors.New("store: refresh token without hash, delegation or expiry")
	}
	if rt.CreatedAt.IsZero() {
		rt.CreatedAt = s.now()
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO oauth_refresh_tokens (token_hash, delegation_id, client_id, created_ns, expires_ns)
		VALUES ($1, $2, $3, $4, $5)`, rt.Hash, rt.DelegationID, rt.ClientID, rt.CreatedAt.UnixNano(), rt.ExpiresAt.UnixNano())
	if err != nil {
		return fmt.Errorf("store: create refresh token: %w", err)
	}
	return nil
}

// GetRefreshToken returns the refresh token whose SHA-256 is hash, or
// ErrNotFound.
func (s *Store) GetRefreshToken(ctx context.Context, hash string) (*RefreshToken, error) {
	return getRefresh(ctx, s.db, hash)
}

// RotateRefreshToken exchanges the refresh token whose SHA-256 is oldHash
// for next, in one transaction, and returns the old token. Exactly one
// caller rotates a token. Presenting a token that was already rotated (or
// revoked as part of a reused family) revokes every token of its family and
// returns it with ErrRefreshReused, so that the caller also revokes the grant.
// An unknown or expired token is ErrNotFound.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next RefreshToken, now time.Time) (*RefreshToken, error) {
	var old *RefreshToken
	reused := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oauth_refresh_tokens SET used_ns = $1
			WHERE token_hash = $2 AND used_ns = 0 AND revoked_ns = 0 AND expires_ns > $1`, now.UnixNano(), oldHash)
		if err != nil {
			return fmt.Errorf("store: rotate refresh token: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			if old, err = getRefresh(ctx, tx, oldHash); err != nil {
				return err
			}
			next.DelegationID, next.ClientID = old.DelegationID, old.ClientID
			return s.insertRefreshTx(ctx, tx, next)
		}
		if old, err = getRefresh(ctx, tx, oldHash); err != nil {
			return err
		}
		if old.UsedAt.IsZero() && old.RevokedAt.IsZero() {
			return fmt.Errorf("%w: refresh token expired", ErrNotFound)
		}
		reused = true
		_, err = tx.ExecContext(ctx, `UPDATE oauth_refresh_tokens SET revoked_ns = $1 WHERE delegation_id = $2 AND revoked_ns = 0`,
			now.UnixNano(), old.DelegationID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if reused {
		return old, fmt.Errorf("%w (family %s)", ErrRefreshReused, old.DelegationID)
	}
	return old, nil
}

// rowQuerier is a *sql.DB or a *sql.Tx.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func getRefresh(ctx context.Context, q rowQuerier, hash string) (*RefreshToken, error) {
	var rt RefreshToken
	var created, expires, used, revoked int64
	err := q.QueryRowContext(ctx, `SELECT token_hash, delegation_id, client_id, created_ns, expires_ns, used_ns, revoked_ns
		FROM oauth_refresh_tokens WHERE token_hash = $1`, hash).
		Scan(&rt.Hash, &rt.DelegationID, &rt.ClientID, &created, &expires, &used, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: refresh token", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get refresh token: %w", err)
	}
	rt.CreatedAt, rt.ExpiresAt = fromNanos(created), fromNanos(expires)
	rt.UsedAt, rt.RevokedAt = fromNanos(used), fromNanos(revoked)
	return &rt, nil
}

// RevokeRefreshFamily revokes every refresh token of grant delegationID and
// returns how many were still live.
func (s *Store) RevokeRefreshFamily(ctx context.Context, delegationID string, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE oauth_refresh_tokens SET revoked_ns = $1 WHERE delegation_id = $2 AND revoked_ns = 0`,
		now.UnixNano(), delegationID)
	if err != nil {
		return 0, fmt.Errorf("store: revoke refresh tokens: %w", err)
	}
	return res.RowsAffected()
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrCodeUsed reports an authorization code presented a second time.
var ErrCodeUsed = errors.New("store: authorization code already used")

// AuthCode is an OAuth authorization code: what the user approved, bound to
// the client, its redirect URI and PKCE challenge. Only the SHA-256 of the
// code is stored.
type AuthCode struct {
	Hash         string
	ClientID     string
	User         string
	RedirectURI  string
	Challenge    string // PKCE S256 code_challenge
	Resource     string // RFC 8707 resource (the token's audience)
	DelegationID string // the grant the code redeems; "" for a sign-in only (OpenID Connect) code
	// OpenID Connect: the nonce of the request, its OIDC scopes ("openid
	// email profile"; "" without openid) and when the user authenticated.
	Nonce      string
	OIDCScopes string
	AuthTime   time.Time
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsedAt     time.Time // read-only; zero until redeemed
}

// CreateAuthCode stores c.
func (s *Store) CreateAuthCode(ctx context.Context, c AuthCode) error {
	if c.Hash == "" || c.ClientID == "" || (c.DelegationID == "" && c.OIDCScopes == "") || c.ExpiresAt.IsZero() {
		return errors.New("store: authorization code without hash, client, delegation (or openid) or expiry")
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO oauth_codes (code_hash, client_id, username, redirect_uri,
		code_challenge, resource, delegation_id, created_ns, expires_ns, nonce, oidc_scopes, auth_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		c.Hash, c.ClientID, c.User, c.RedirectURI, c.Challenge, c.Resource, c.DelegationID,
		c.CreatedAt.UnixNano(), c.ExpiresAt.UnixNano(), c.Nonce, c.OIDCScopes, toNanos(c.AuthTime))
	if err != nil {
		return fmt.Errorf("store: create authorization code: %w", err)
	}
	return nil
}

// RedeemAuthCode marks the code whose SHA-256 is hash as used, at now, and
// returns it: exactly one caller ever redeems a code. A code redeemed before
// is returned with ErrCodeUsed, so that the caller can revoke what was issued
// from it; an unknown code is ErrNotFound. Expiry is the caller's to check.
func (s *Store) RedeemAuthCode(ctx context.Context, hash string, now time.Time) (*AuthCode, error) {
	var c *AuthCode
	var first bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oauth_codes SET used_ns = $1 WHERE code_hash = $2 AND used_ns = 0`,
			now.UnixNano(), hash)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		first = n == 1
		c, err = getAuthCode(ctx, tx, hash)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !first {
		return c, fmt.Errorf("%w (delegation %s)", ErrCodeUsed, c.DelegationID)
	}
	return c, nil
}

func getAuthCode(ctx context.Context, tx *sql.Tx, hash string) (*AuthCode, error) {
	var c AuthCode
	var created, expires, used, auth int64
	err := tx.QueryRowContext(ctx, `SELECT code_hash, client_id, username, redirect_uri, code_challenge, resource,
		delegation_id, created_ns, expires_ns, used_ns, nonce, oidc_scopes, auth_ns FROM oauth_codes WHERE code_hash = $1`, hash).
		Scan(&c.Hash, &c.ClientID, &c.User, &c.RedirectURI, &c.Challenge, &c.Resource, &c.DelegationID,
			&created, &expires, &used, &c.Nonce, &c.OIDCScopes, &auth)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: authorization code", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get authorization code: %w", err)
	}
	c.CreatedAt, c.ExpiresAt, c.UsedAt, c.AuthTime = fromNanos(created), fromNanos(expires), fromNanos(used), fromNanos(auth)
	return &c, nil
}

// PruneAuthCodes deletes codes that expired before cutoff (redeemed or not)
// and returns how many. A code pruned can no longer be detected as replayed,
// so keep cutoff well after the codes' lifetime.
func (s *Store) PruneAuthCodes(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM oauth_codes WHERE expires_ns < $1`, cutoff.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("store: prune authorization codes: %w", err)
	}
	return res.RowsAffected()
}

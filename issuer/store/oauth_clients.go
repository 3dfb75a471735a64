package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// OAuthClient is an OAuth client registered with the issuer's authorization
// server (RFC 7591 dynamic registration). Clients identified by a Client ID
// Metadata Document are not stored: their metadata is fetched.
type OAuthClient struct {
	ID string
	// SecretHash is the hex SHA-256 of the client secret; "" for a public
	// client. The secret itself is never stored.
	SecretHash   string
	Name         string
	URI          string // client_uri
	LogoURI      string
	RedirectURIs []string
	GrantTypes   []string
	AuthMethod   string // token_endpoint_auth_method
	Scope        string
	// Metadata is the registration as accepted, returned on reads (JSON).
	Metadata  json.RawMessage
	CreatedAt time.Time // zero: now
}

// CreateOAuthClient stores c; ErrExists if the id is taken.
func (s *Store) CreateOAuthClient(ctx context.Context, c OAuthClient) error {
	if c.ID == "" || c.AuthMethod == "" {
		return errors.New("store: oauth client without id or auth method")
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now()
	}
	uris, err := json.Marshal(nonNil(c.RedirectURIs))
	if err != nil {
		return err
	}
	grants, err := json.Marshal(nonNil(c.GrantTypes))
	if err != nil {
		return err
	}
	md := c.Metadata
	if len(md) == 0 {
		md = json.RawMessage("{}")
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO oauth_clients (client_id, secret_hash, name, client_uri, logo_uri,
		redirect_uris, grant_types, auth_method, scope, metadata, created_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (client_id) DO NOTHING`,
		c.ID, c.SecretHash, c.Name, c.URI, c.LogoURI, string(uris), string(grants), c.AuthMethod, c.Scope,
		string(md), c.CreatedAt.UnixNano())
	if err != nil {
		return fmt.Errorf("store: create oauth client: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: oauth client %q", ErrExists, c.ID)
	}
	return nil
}

// GetOAuthClient returns client id, or ErrNotFound.
func (s *Store) GetOAuthClient(ctx context.Context, id string) (*OAuthClient, error) {
	var c OAuthClient
	var uris, grants, md string
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT client_id, secret_hash, name, client_uri, logo_uri, redirect_uris,
		grant_types, auth_method, scope, metadata, created_ns FROM oauth_clients WHERE client_id = $1`, id).
		Scan(&c.ID, &c.SecretHash, &c.Name, &c.URI, &c.LogoURI, &uris, &grants, &c.AuthMethod, &c.Scope, &md, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: oauth client %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get oauth client: %w", err)
	}
	if err := json.Unmarshal([]byte(uris), &c.RedirectURIs); err != nil {
		return nil, fmt.Errorf("store: oauth client %s redirect uris: %w", id, err)
	}
	if err := json.Unmarshal([]byte(grants), &c.GrantTypes); err != nil {
		return nil, fmt.Errorf("store: oauth client %s grant types: %w", id, err)
	}
	c.Metadata = json.RawMessage(md)
	c.CreatedAt = fromNanos(created)
	return &c, nil
}

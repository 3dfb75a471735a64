package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Connection is a user's OAuth tokens for one upstream (the token vault of
// registry auth kind oauth). AccessToken and RefreshToken are secrets: the
// store keeps them sealed with the key-encryption secret, and String never
// shows them.
type Connection struct {
	User     string
	Upstream string // the registry slug
	// AccessToken is sent to the upstream; RefreshToken ("" when none) renews it.
	AccessToken  string
	RefreshToken string
	TokenType    string    // "Bearer" ("" means Bearer)
	Scope        string    // what the upstream's AS granted, space separated
	Issuer       string    // the upstream's authorization server (RFC 8414 issuer)
	ClientID     string    // the client the gateway was at that server
	ExpiresAt    time.Time // zero: unknown (never refreshed ahead of use)
	Created      time.Time
	Updated      time.Time
}

// String shows what a log may: never a token.
func (c Connection) String() string {
	return fmt.Sprintf("connection %s/%s (issuer %s, scope %q, expires %s)", c.User, c.Upstream, c.Issuer, c.Scope, c.ExpiresAt.Format(time.RFC3339))
}

// sealedTokens is what the tokens column holds once opened.
type sealedTokens struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token,omitempty"`
	Type    string `json:"token_type,omitempty"`
}

// connectionAAD binds a sealed row to its user and upstream: tokens copied
// onto another row do not open.
func connectionAAD(user, upstream string) []byte {
	return fmt.Appendf(nil, "upstream-connection:%d:%s:%s", len(user), user, upstream)
}

// PutConnection stores (or replaces, as after a refresh with rotation) the
// tokens of c.User for c.Upstream. It needs the key-encryption secret
// (ErrNoKeySecret): tokens are never stored in the clear.
func (s *Store) PutConnection(ctx context.Context, c Connection) error {
	if s.keys.sealer == nil {
		return ErrNoKeySecret
	}
	if c.User == "" || c.Upstream == "" || c.AccessToken == "" {
		return errors.New("store: a connection needs a user, an upstream and an access token")
	}
	plain, err := json.Marshal(sealedTokens{Access: c.AccessToken, Refresh: c.RefreshToken, Type: c.TokenType})
	if err != nil {
		return err
	}
	sealed := s.keys.sealer.seal(plain, connectionAAD(c.User, c.Upstream))
	now := s.now().UnixNano()
	_, err = s.db.ExecContext(ctx, `INSERT INTO upstream_connections
		(username, upstream, tokens, scope, issuer, client_id, expires_ns, created_ns, updated_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
		ON CONFLICT (username, upstream) DO UPDATE SET tokens = excluded.tokens, scope = excluded.scope,
			issuer = excluded.issuer, client_id = excluded.client_id, expires_ns = excluded.expires_ns,
			updated_ns = excluded.updated_ns`,
		c.User, c.Upstream, sealed, c.Scope, c.Issuer, c.ClientID, toNanos(c.ExpiresAt), now)
	if err != nil {
		return fmt.Errorf("store: put connection: %w", err)
	}
	return nil
}

// GetConnection returns user's connection to upstream, or ErrNotFound.
func (s *Store) GetConnection(ctx context.Context, user, upstream string) (*Connection, error) {
	if s.keys.sealer == nil {
		return nil, ErrNoKeySecret
	}
	rows, err := s.db.QueryContext(ctx, `SELECT username, upstream, tokens, scope, issuer, client_id, expires_ns, created_ns, updated_ns
		FROM upstream_connections WHERE username = $1 AND upstream = $2`, user, upstream)
	if err != nil {
		return nil, fmt.Errorf("store: get connection: %w", err)
	}
	cs, err := s.scanConnections(rows, true)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("%w: connection of %q to %q", ErrNotFound, user, upstream)
	}
	return &cs[0], nil
}

// ListConnections returns user's connections (every user's for ""),
// ordered by user and upstream, without their tokens.
func (s *Store) ListConnections(ctx context.Context, user string) ([]Connection, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT username, upstream, tokens, scope, issuer, client_id, expires_ns, created_ns, updated_ns
		FROM upstream_connections WHERE $1 = '' OR username = $1 ORDER BY username, upstream`, user)
	if err != nil {
		return nil, fmt.Errorf("store: list connections: %w", err)
	}
	return s.scanConnections(rows, false)
}

// DeleteConnection removes user's connection to upstream ("" for all of the
// user's), and the record of the delegations that used it, and reports how
// many connections were removed.
func (s *Store) DeleteConnection(ctx context.Context, user, upstream string) (int64, error) {
	if user == "" {
		return 0, errors.New("store: delete connection: no user")
	}
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM upstream_connections WHERE username = $1 AND ($2 = '' OR upstream = $2)`, user, upstream)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		_, err = tx.ExecContext(ctx, `DELETE FROM upstream_connection_uses WHERE username = $1 AND ($2 = '' OR upstream = $2)`, user, upstream)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete connection: %w", err)
	}
	return n, nil
}

// RecordConnectionUse notes that a call under delegation (whose agent chain
// is agents) used user's connection to upstream; recording it again is a
// no-op. Revoking that delegation (or an ancestor), or one of its agents,
// deletes the connection (deleteConnectionsUsedTx).
func (s *Store) RecordConnectionUse(ctx context.Context, user, upstream, delegation string, agents []string) error {
	if user == "" || upstream == "" || delegation == "" {
		return errors.New("store: a connection use needs a user, an upstream and a delegation")
	}
	a, err := json.Marshal(nonNil(agents))
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO upstream_connection_uses (username, upstream, delegation_id, agents, created_ns)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username, upstream, delegation_id) DO NOTHING`,
		user, upstream, delegation, string(a), s.now().UnixNano())
	if err != nil {
		return fmt.Errorf("store: record connection use: %w", err)
	}
	return nil
}

// deleteConnectionsUsedTx deletes the connections used under the revoked
// delegations (ids) or by the revoked agent ("" for none), with their use
// records: the user connects again, through a delegation that stands.
func deleteConnectionsUsedTx(ctx context.Context, tx *sql.Tx, ids []string, agent string) error {
	type pair struct{ user, upstream string }
	var doomed []pair
	for _, id := range ids {
		rows, err := tx.QueryContext(ctx, `SELECT username, upstream FROM upstream_connection_uses WHERE delegation_id = $1`, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var p pair
			if err := rows.Scan(&p.user, &p.upstream); err != nil {
				rows.Close()
				return err
			}
			doomed = append(doomed, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	if agent != "" {
		rows, err := tx.QueryContext(ctx, `SELECT username, upstream, agents FROM upstream_connection_uses`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var p pair
			var raw string
			var agents []string
			if err := rows.Scan(&p.user, &p.upstream, &raw); err != nil {
				rows.Close()
				return err
			}
			if json.Unmarshal([]byte(raw), &agents) == nil && slices.Contains(agents, agent) {
				doomed = append(doomed, p)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for _, p := range doomed {
		if _, err := tx.ExecContext(ctx, `DELETE FROM upstream_connections WHERE username = $1 AND upstream = $2`, p.user, p.upstream); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM upstream_connection_uses WHERE username = $1 AND upstream = $2`, p.user, p.upstream); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) scanConnections(rows *sql.Rows, open bool) ([]Connection, error) {
	defer rows.Close()
	var out []Connection
	for rows.Next() {
		var c Connection
		var sealed []byte
		var exp, created, updated int64
		if err := rows.Scan(&c.User, &c.Upstream, &sealed, &c.Scope, &c.Issuer, &c.ClientID, &exp, &created, &updated); err != nil {
			return nil, fmt.Errorf("store: scan connection: %w", err)
		}
		c.ExpiresAt, c.Created, c.Updated = fromNanos(exp), fromNanos(created), fromNanos(updated)
		if open {
			plain, err := s.keys.sealer.open(sealed, connectionAAD(c.User, c.Upstream))
			if err != nil {
				return nil, fmt.Errorf("store: connection of %q to %q: %w", c.User, c.Upstream, err)
			}
			var t sealedTokens
			if err := json.Unmarshal(plain, &t); err != nil {
				return nil, fmt.Errorf("store: connection of %q to %q: corrupt tokens", c.User, c.Upstream)
			}
			c.AccessToken, c.RefreshToken, c.TokenType = t.Access, t.Refresh, t.Type
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ConnectTicketKey is the HMAC key with which gateways sign the tickets of
// their connect URLs: random, created on first use, kept sealed in the
// store so that every replica on the store shares it. It needs the
// key-encryption secret (ErrNoKeySecret).
func (s *Store) ConnectTicketKey(ctx context.Context) ([]byte, error) {
	if s.keys.sealer == nil {
		return nil, ErrNoKeySecret
	}
	const aad = "connect_ticket_key"
	v, err := s.ensureMeta(ctx, aad, func() (string, error) {
		k := make([]byte, 32)
		rand.Read(k)
		return base64.StdEncoding.EncodeToString(s.keys.sealer.seal(k, []byte(aad))), nil
	})
	if err != nil {
		return nil, err
	}
	sealed, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("store: corrupt %s: %w", aad, err)
	}
	key, err := s.keys.sealer.open(sealed, []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", aad, err)
	}
	return key, nil
}

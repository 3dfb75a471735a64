package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The upstream connect flow's state (gateway/connect.go), kept in the store
// so that every replica sees it: pending authorizations (the state of a
// redirect to an upstream's authorization server, with its PKCE verifier)
// and the gateway's dynamic client registrations there. Secrets are sealed
// with the key-encryption secret; states and registration keys are stored
// as SHA-256 hashes only.

// PendingConnect is an authorization the gateway sent to an upstream's
// authorization server and is waiting for on its callback. Verifier is a
// secret (sealed at rest).
type PendingConnect struct {
	State       string // the random state: the handle, stored hashed
	User        string
	Upstream    string
	Verifier    string // the PKCE code verifier
	Server      string // the gateway's view of the server and its client (JSON, no secret)
	Scope       string // requested, space separated
	Elicitation string // URL-mode elicitation to complete, and its session ("" none)
	Session     string
	ExpiresAt   time.Time
}

// ClientRegistration is the gateway's RFC 7591 registration at an
// upstream's authorization server. ClientSecret is a secret (sealed at
// rest), "" for a public client.
type ClientRegistration struct {
	Upstream     string
	Issuer       string
	ClientID     string
	ClientSecret string
	AuthMethod   string // token_endpoint_auth_method
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// pendingAAD binds a sealed verifier to every column of its row: a row
// whose server (where the code and verifier go), user or scope was changed
// in the database does not open.
func pendingAAD(stateHash string, p PendingConnect) []byte {
	b, _ := json.Marshal([]any{"connect-pending", stateHash, p.User, p.Upstream, p.Server, p.Scope, p.Elicitation, p.Session, p.ExpiresAt.UnixNano()})
	return b
}

// registrationAAD binds a sealed client secret to its row.
func registrationAAD(keyHash string, r ClientRegistration) []byte {
	b, _ := json.Marshal([]any{"client-registration", keyHash, r.Upstream, r.Issuer, r.ClientID, r.AuthMethod})
	return b
}

// PutPendingConnect stores p, and drops the pending authorizations that
// expired. It needs the key-encryption secret (ErrNoKeySecret).
func (s *Store) PutPendingConnect(ctx context.Context, p PendingConnect) error {
	if s.keys.sealer == nil {
		return ErrNoKeySecret
	}
	if p.State == "" || p.User == "" || p.Upstream == "" || p.Verifier == "" || p.ExpiresAt.IsZero() {
		return errors.New("store: a pending connect needs a state, a user, an upstream, a verifier and an expiry")
	}
	now := s.now()
	if _, err := s.db.ExecContext(ctx, `DELETE FROM upstream_connect_pending WHERE expires_ns < $1`, now.UnixNano()); err != nil {
		return fmt.Errorf("store: put pending connect: %w", err)
	}
	h := hashHex(p.State)
	sealed := s.keys.sealer.seal([]byte(p.Verifier), pendingAAD(h, p))
	_, err := s.db.ExecContext(ctx, `INSERT INTO upstream_connect_pending
		(state_hash, username, upstream, verifier, server, scope, elicitation, session_id, expires_ns, created_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		h, p.User, p.Upstream, sealed, p.Server, p.Scope, p.Elicitation, p.Session, p.ExpiresAt.UnixNano(), now.UnixNano())
	if err != nil {
		return fmt.Errorf("store: put pending connect: %w", err)
	}
	return nil
}

// TakePendingConnect removes the pending authorization of state and
// returns it: single use, whichever replica asks first. An unknown state or
// one that expired gives ErrNotFound.
func (s *Store) TakePendingConnect(ctx context.Context, state string) (*PendingConnect, error) {
	if s.keys.sealer == nil {
		return nil, ErrNoKeySecret
	}
	h := hashHex(state)
	p := PendingConnect{State: state}
	var sealed []byte
	var exp int64
	err := s.db.QueryRowContext(ctx, `DELETE FROM upstream_connect_pending WHERE state_hash = $1
		RETURNING username, upstream, verifier, server, scope, elicitation, session_id, expires_ns`, h).
		Scan(&p.User, &p.Upstream, &sealed, &p.Server, &p.Scope, &p.Elicitation, &p.Session, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: pending connect", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: take pending connect: %w", err)
	}
	p.ExpiresAt = time.Unix(0, exp)
	if !s.now().Before(p.ExpiresAt) {
		return nil, fmt.Errorf("%w: pending connect (expired)", ErrNotFound)
	}
	v, err := s.keys.sealer.open(sealed, pendingAAD(h, p))
	if err != nil {
		return nil, fmt.Errorf("store: pending connect: %w", err)
	}
	p.Verifier = string(v)
	return &p, nil
}

// ClientRegistration returns the registration stored under key, or
// ErrNotFound.
func (s *Store) ClientRegistration(ctx context.Context, key string) (*ClientRegistration, error) {
	if s.keys.sealer == nil {
		return nil, ErrNoKeySecret
	}
	h := hashHex(key)
	var r ClientRegistration
	var sealed []byte
	err := s.db.QueryRowContext(ctx, `SELECT upstream, issuer, client_id, secret, auth_method
		FROM upstream_client_registrations WHERE key_hash = $1`, h).Scan(&r.Upstream, &r.Issuer, &r.ClientID, &sealed, &r.AuthMethod)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: client registration", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: client registration: %w", err)
	}
	secret, err := s.keys.sealer.open(sealed, registrationAAD(h, r))
	if err != nil {
		return nil, fmt.Errorf("store: client registration: %w", err)
	}
	r.ClientSecret = string(secret)
	return &r, nil
}

// PutClientRegistration stores r under key unless a registration is there
// already, and returns the one kept: the first stored wins, so replicas
// that registered at the same time all use one.
func (s *Store) PutClientRegistration(ctx context.Context, key string, r ClientRegistration) (*ClientRegistration, error) {
	if s.keys.sealer == nil {
		return nil, ErrNoKeySecret
	}
	if key == "" || strings.TrimSpace(r.ClientID) == "" {
		return nil, errors.New("store: a client registration needs a key and a client id")
	}
	h := hashHex(key)
	sealed := s.keys.sealer.seal([]byte(r.ClientSecret), registrationAAD(h, r))
	_, err := s.db.ExecContext(ctx, `INSERT INTO upstream_client_registrations
		(key_hash, upstream, issuer, client_id, secret, auth_method, created_ns) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (key_hash) DO NOTHING`, h, r.Upstream, r.Issuer, r.ClientID, sealed, r.AuthMethod, s.now().UnixNano())
	if err != nil {
		return nil, fmt.Errorf("store: put client registration: %w", err)
	}
	return s.ClientRegistration(ctx, key)
}

// DeleteClientRegistration deletes the registration under key if its
// client is clientID (the server refused it: the next connect registers
// anew; a registration stored meanwhile by another replica stays).
func (s *Store) DeleteClientRegistration(ctx context.Context, key, clientID string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM upstream_client_registrations WHERE key_hash = $1 AND client_id = $2`,
		hashHex(key), clientID); err != nil {
		return fmt.Errorf("store: delete client registration: %w", err)
	}
	return nil
}

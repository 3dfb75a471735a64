package gateway

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ConnectState keeps the state of the connect flow (connect.go) where
// every replica sees it: the pending authorizations (state → PKCE verifier,
// user, upstream, scopes, the server and client used) and the gateway's
// RFC 7591 client registrations at upstreams' authorization servers. A
// callback may then land on another replica than the connect page, a
// restart loses no flow in progress, and replicas share one registration
// per server.
//
// A Vault that also implements ConnectState is used for it (cmd/legant's,
// on the store: verifiers and client secrets sealed with the key-encryption
// secret, states stored hashed). Without one the state lives in this
// process. Implementations must be safe for concurrent use.
type ConnectState interface {
	// PutPending stores p until p.ExpiresAt.
	PutPending(ctx context.Context, p PendingConnect) error
	// TakePending removes and returns the pending authorization of state:
	// single use across replicas. ErrNoPending when it is unknown, was
	// taken already or expired.
	TakePending(ctx context.Context, state string) (*PendingConnect, error)
	// Registration returns the client registration stored under key, or
	// ErrNoRegistration.
	Registration(ctx context.Context, key string) (*ClientRegistration, error)
	// SaveRegistration stores r under key unless one is there already, and
	// returns the one kept (the first stored wins).
	SaveRegistration(ctx context.Context, key string, r ClientRegistration) (*ClientRegistration, error)
	// DropRegistration deletes the registration under key if its client
	// is clientID (the server refused that client; a newer one stays).
	DropRegistration(ctx context.Context, key, clientID string) error
}

// PendingConnect is an authorization sent to an upstream's authorization
// server and not yet returned. Verifier is a secret.
type PendingConnect struct {
	State       string
	User        string
	Upstream    string
	Verifier    string   // PKCE code verifier
	Server      string   // the server and the client used (JSON, no secret)
	Scopes      []string // requested
	Elicitation string   // URL-mode elicitation to complete, and its session
	Session     string
	ExpiresAt   time.Time
}

// ClientRegistration is the gateway's client registered (RFC 7591) at an
// upstream's authorization server. ClientSecret is a secret ("" for a
// public client).
type ClientRegistration struct {
	Upstream     string
	Issuer       string
	ClientID     string
	ClientSecret string
	AuthMethod   string // token_endpoint_auth_method
}

var (
	// ErrNoPending is what ConnectState.TakePending returns for a state
	// that is unknown, used or expired.
	ErrNoPending = errors.New("gateway: no such pending authorization")
	// ErrNoRegistration is what ConnectState.Registration returns for a
	// key with no registration.
	ErrNoRegistration = errors.New("gateway: no client registration")
)

// memConnectState is ConnectState in this process only (a gateway whose
// Vault keeps no connect state).
type memConnectState struct {
	now     func() time.Time
	mu      sync.Mutex
	pending map[string]PendingConnect
	regs    map[string]ClientRegistration
}

func newMemConnectState(now func() time.Time) *memConnectState {
	return &memConnectState{now: now, pending: map[string]PendingConnect{}, regs: map[string]ClientRegistration{}}
}

func (m *memConnectState) PutPending(_ context.Context, p PendingConnect) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, q := range m.pending {
		if !now.Before(q.ExpiresAt) {
			delete(m.pending, k)
		}
	}
	if len(m.pending) >= maxPending {
		return errors.New("too many pending authorizations")
	}
	m.pending[p.State] = p
	return nil
}

func (m *memConnectState) TakePending(_ context.Context, state string) (*PendingConnect, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pending[state]
	delete(m.pending, state)
	if !ok || !m.now().Before(p.ExpiresAt) {
		return nil, ErrNoPending
	}
	return &p, nil
}

func (m *memConnectState) Registration(_ context.Context, key string) (*ClientRegistration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.regs[key]
	if !ok {
		return nil, ErrNoRegistration
	}
	return &r, nil
}

func (m *memConnectState) SaveRegistration(_ context.Context, key string, r ClientRegistration) (*ClientRegistration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.regs[key]; ok {
		return &old, nil
	}
	m.regs[key] = r
	return &r, nil
}

func (m *memConnectState) DropRegistration(_ context.Context, key, clientID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.regs[key]; ok && r.ClientID == clientID {
		delete(m.regs, key)
	}
	return nil
}

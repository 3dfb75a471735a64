package admin

import (
	"context"
	"errors"
	"strings"

	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/issuer/store"
)

// Vault adapts the store to the gateway's Vault of upstream tokens (table
// upstream_connections, tokens sealed with the key-encryption secret) and to
// its ConnectState (the connect flow's pending authorizations and DCR
// registrations, shared by every replica).
type Vault struct{ Store *store.Store }

var _ gateway.Vault = Vault{}

func (v Vault) Token(ctx context.Context, user, upstream string) (*gateway.UpstreamToken, error) {
	c, err := v.Store.GetConnection(ctx, user, upstream)
	if errors.Is(err, store.ErrNotFound) {
		return nil, gateway.ErrNoConnection
	}
	if err != nil {
		return nil, err
	}
	return &gateway.UpstreamToken{User: c.User, Upstream: c.Upstream, AccessToken: c.AccessToken, RefreshToken: c.RefreshToken,
		TokenType: c.TokenType, Scope: c.Scope, Issuer: c.Issuer, ClientID: c.ClientID, ExpiresAt: c.ExpiresAt}, nil
}

func (v Vault) SaveToken(ctx context.Context, t gateway.UpstreamToken) error {
	return v.Store.PutConnection(ctx, store.Connection{User: t.User, Upstream: t.Upstream, AccessToken: t.AccessToken,
		RefreshToken: t.RefreshToken, TokenType: t.TokenType, Scope: t.Scope, Issuer: t.Issuer, ClientID: t.ClientID, ExpiresAt: t.ExpiresAt})
}

func (v Vault) DropToken(ctx context.Context, user, upstream string) error {
	_, err := v.Store.DeleteConnection(ctx, user, upstream)
	return err
}

func (v Vault) Used(ctx context.Context, user, upstream, delegation string, agents []string) error {
	return v.Store.RecordConnectionUse(ctx, user, upstream, delegation, agents)
}

var _ gateway.ConnectState = Vault{}

func (v Vault) PutPending(ctx context.Context, p gateway.PendingConnect) error {
	return v.Store.PutPendingConnect(ctx, store.PendingConnect{State: p.State, User: p.User, Upstream: p.Upstream,
		Verifier: p.Verifier, Server: p.Server, Scope: strings.Join(p.Scopes, " "), Elicitation: p.Elicitation,
		Session: p.Session, ExpiresAt: p.ExpiresAt})
}

func (v Vault) TakePending(ctx context.Context, state string) (*gateway.PendingConnect, error) {
	p, err := v.Store.TakePendingConnect(ctx, state)
	if errors.Is(err, store.ErrNotFound) {
		return nil, gateway.ErrNoPending
	}
	if err != nil {
		return nil, err
	}
	return &gateway.PendingConnect{State: p.State, User: p.User, Upstream: p.Upstream, Verifier: p.Verifier, Server: p.Server,
		Scopes: strings.Fields(p.Scope), Elicitation: p.Elicitation, Session: p.Session, ExpiresAt: p.ExpiresAt}, nil
}

func (v Vault) Registration(ctx context.Context, key string) (*gateway.ClientRegistration, error) {
	r, err := v.Store.ClientRegistration(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, gateway.ErrNoRegistration
	}
	if err != nil {
		return nil, err
	}
	return &gateway.ClientRegistration{Upstream: r.Upstream, Issuer: r.Issuer, ClientID: r.ClientID,
		ClientSecret: r.ClientSecret, AuthMethod: r.AuthMethod}, nil
}

func (v Vault) SaveRegistration(ctx context.Context, key string, r gateway.ClientRegistration) (*gateway.ClientRegistration, error) {
	kept, err := v.Store.PutClientRegistration(ctx, key, store.ClientRegistration{Upstream: r.Upstream, Issuer: r.Issuer,
		ClientID: r.ClientID, ClientSecret: r.ClientSecret, AuthMethod: r.AuthMethod})
	if err != nil {
		return nil, err
	}
	return &gateway.ClientRegistration{Upstream: kept.Upstream, Issuer: kept.Issuer, ClientID: kept.ClientID,
		ClientSecret: kept.ClientSecret, AuthMethod: kept.AuthMethod}, nil
}

func (v Vault) DropRegistration(ctx context.Context, key, clientID string) error {
	return v.Store.DeleteClientRegistration(ctx, key, clientID)
}

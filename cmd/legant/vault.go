package main

import (
	"context"
	"errors"
	"strings"

	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/issuer/store"
)

// connectionVault is the gateway's Vault of upstream tokens on the store
// (table upstream_connections, tokens sealed with the key-encryption secret).
type connectionVault struct{ st *store.Store }

var _ gateway.Vault = connectionVault{}

func (v connectionVault) Token(ctx context.Context, user, upstream string) (*gateway.UpstreamToken, error) {
	c, err := v.st.GetConnection(ctx, user, upstream)
	if errors.Is(err, store.ErrNotFound) {
		return nil, gateway.ErrNoConnection
	}
	if err != nil {
		return nil, err
	}
	return &gateway.UpstreamToken{User: c.User, Upstream: c.Upstream, AccessToken: c.AccessToken, RefreshToken: c.RefreshToken,
		TokenType: c.TokenType, Scope: c.Scope, Issuer: c.Issuer, ClientID: c.ClientID, ExpiresAt: c.ExpiresAt}, nil
}

func (v connectionVault) SaveToken(ctx context.Context, t gateway.UpstreamToken) error {
	return v.st.PutConnection(ctx, store.Connection{User: t.User, Upstream: t.Upstream, AccessToken: t.AccessToken,
		RefreshToken: t.RefreshToken, TokenType: t.TokenType, Scope: t.Scope, Issuer: t.Issuer, ClientID: t.ClientID, ExpiresAt: t.ExpiresAt})
}

func (v connectionVault) DropToken(ctx context.Context, user, upstream string) error {
	_, err := v.st.DeleteConnection(ctx, user, upstream)
	return err
}

func (v connectionVault) Used(ctx context.Context, user, upstream, delegation string, agents []string) error {
	return v.st.RecordConnectionUse(ctx, user, upstream, delegation, agents)
}

// The connect flow's state on the store (gateway.ConnectState): pending
// authorizations and DCR registrations shared by every replica.
var _ gateway.ConnectState = connectionVault{}

func (v connectionVault) PutPending(ctx context.Context, p gateway.PendingConnect) error {
	return v.st.PutPendingConnect(ctx, store.PendingConnect{State: p.State, User: p.User, Upstream: p.Upstream,
		Verifier: p.Verifier, Server: p.Server, Scope: strings.Join(p.Scopes, " "), Elicitation: p.Elicitation,
		Session: p.Session, ExpiresAt: p.ExpiresAt})
}

func (v connectionVault) TakePending(ctx context.Context, state string) (*gateway.PendingConnect, error) {
	p, err := v.st.TakePendingConnect(ctx, state)
	if errors.Is(err, store.ErrNotFound) {
		return nil, gateway.ErrNoPending
	}
	if err != nil {
		return nil, err
	}
	return &gateway.PendingConnect{State: p.State, User: p.User, Upstream: p.Upstream, Verifier: p.Verifier, Server: p.Server,
		Scopes: strings.Fields(p.Scope), Elicitation: p.Elicitation, Session: p.Session, ExpiresAt: p.ExpiresAt}, nil
}

func (v connectionVault) Registration(ctx context.Context, key string) (*gateway.ClientRegistration, error) {
	r, err := v.st.ClientRegistration(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, gateway.ErrNoRegistration
	}
	if err != nil {
		return nil, err
	}
	return &gateway.ClientRegistration{Upstream: r.Upstream, Issuer: r.Issuer, ClientID: r.ClientID,
		ClientSecret: r.ClientSecret, AuthMethod: r.AuthMethod}, nil
}

func (v connectionVault) SaveRegistration(ctx context.Context, key string, r gateway.ClientRegistration) (*gateway.ClientRegistration, error) {
	kept, err := v.st.PutClientRegistration(ctx, key, store.ClientRegistration{Upstream: r.Upstream, Issuer: r.Issuer,
		ClientID: r.ClientID, ClientSecret: r.ClientSecret, AuthMethod: r.AuthMethod})
	if err != nil {
		return nil, err
	}
	return &gateway.ClientRegistration{Upstream: kept.Upstream, Issuer: kept.Issuer, ClientID: kept.ClientID,
		ClientSecret: kept.ClientSecret, AuthMethod: kept.AuthMethod}, nil
}

func (v connectionVault) DropRegistration(ctx context.Context, key, clientID string) error {
	return v.st.DeleteClientRegistration(ctx, key, clientID)
}

package main

import (
	"context"
	"errors"

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

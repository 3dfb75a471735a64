package demo

import (
	"context"
	"errors"

	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/issuer/store"
)

// vault is the gateway's store of the users' upstream tokens (registry auth
// kind oauth) on the demo's store, as `legant gateway` wires it
// (cmd/legant/vault.go): table upstream_connections, sealed at rest.
type vault struct{ st *store.Store }

var _ gateway.Vault = vault{}

func (v vault) Token(ctx context.Context, user, upstream string) (*gateway.UpstreamToken, error) {
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

func (v vault) SaveToken(ctx context.Context, t gateway.UpstreamToken) error {
	return v.st.PutConnection(ctx, store.Connection{User: t.User, Upstream: t.Upstream, AccessToken: t.AccessToken,
		RefreshToken: t.RefreshToken, TokenType: t.TokenType, Scope: t.Scope, Issuer: t.Issuer, ClientID: t.ClientID, ExpiresAt: t.ExpiresAt})
}

func (v vault) DropToken(ctx context.Context, user, upstream string) error {
	_, err := v.st.DeleteConnection(ctx, user, upstream)
	return err
}

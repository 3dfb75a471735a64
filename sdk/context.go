package sdk

import (
	"context"

	"github.com/openlegant/legant/authority"
)

type claimsKey struct{}

// ContextWithClaims returns a copy of ctx carrying verified claims. The
// middleware and the guards call it; handlers read the claims with ClaimsFrom.
func ContextWithClaims(ctx context.Context, c *authority.Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFrom returns the verified claims the middleware or a guard put in
// ctx, and whether there were any.
func ClaimsFrom(ctx context.Context) (*authority.Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*authority.Claims)
	return c, ok && c != nil
}

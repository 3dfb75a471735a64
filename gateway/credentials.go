package gateway

// Credentials: how the gateway authenticates to an upstream, per the
// registry's auth section (upstreams.Auth). The caller's token is never
// forwarded. Every kind is used only on the path of a request that passed
// decide: forward.go calls setCredential while building the upstream request.

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/openlegant/legant/authority/audit"

	"github.com/openlegant/legant/upstreams"
)

// errSecretUnresolved refuses to reach a static upstream whose secret was
// not read (a registry loaded without upstreams.Options.ResolveSecrets):
// sending an empty credential would fail open on a permissive upstream.
var errSecretUnresolved = errors.New("gateway: the upstream's secret is not resolved (load the registry with ResolveSecrets)")

// setCredential puts on req the credential the registry says the upstream
// takes. Errors never carry a secret.
func (g *Gateway) setCredential(ctx context.Context, ex *exchange, req *http.Request) error {
	up := ex.up
	if up.Transport == upstreams.TransportVirtual {
		return g.virtualCredential(ex, req) // virtual.go
	}
	switch up.Auth.Kind {
	case upstreams.AuthStatic:
		return staticCredential(up, req)
	case upstreams.AuthOAuth:
		return g.oauthCredential(ctx, ex, req)
	case upstreams.AuthExchange:
		return g.exchangeCredential(ctx, ex, req) // tokenexchange.go
	case upstreams.AuthLegant, "":
		if up.DownstreamDPoP {
			tok, err := g.minter.token(ex.claims, up, g.now())
			if err != nil {
				return err
			}
			return g.minter.dpop.setDPoP(req, tok, g.now()) // downstream_dpop.go
		}
		bearer, err := g.minter.bearer(ex.claims, up, g.now())
		if err != nil {
			return err
		}
		req.Header["Authorization"] = []string{bearer}
		return nil
	}
	return fmt.Errorf("gateway: upstream %s: auth kind %q is not supported", up.Slug, up.Auth.Kind)
}

// staticCredential sets the secret header; a stdio upstream got its secret
// environment when its child started (bridges.go), so only its presence is
// checked here, before the child starts.
func staticCredential(up *upstreams.Upstream, req *http.Request) error {
	if h := up.Auth.Header; h != nil {
		if h.Value.Reveal() == "" {
			return errSecretUnresolved
		}
		req.Header.Set(h.Name, h.HeaderValue())
		return nil
	}
	for _, s := range up.Auth.Env {
		if s.Reveal() == "" {
			return errSecretUnresolved
		}
	}
	return nil
}

// childEnv is the environment of a stdio upstream's child: the registry's
// env plus its secret env (their names never overlap: the registry refuses it).
func childEnv(up *upstreams.Upstream) map[string]string {
	if len(up.Auth.Env) == 0 {
		return up.Env
	}
	env := make(map[string]string, len(up.Env)+len(up.Auth.Env))
	for k, v := range up.Env {
		env[k] = v
	}
	for k, s := range up.Auth.Env {
		env[k] = s.Reveal()
	}
	return env
}

// auditCredential is the constraint name under which the allow record of a
// call to an upstream with its own credential (auth kind static, oauth or exchange)
// names the kind, never the value: Constraint "upstream_credential", Value
// the kind. The default kind (legant) leaves both empty.
const auditCredential = "upstream_credential"

// withCredential marks an allow record with the upstream's credential kind.
func withCredential(ev audit.Event, up *upstreams.Upstream) audit.Event {
	if k := up.Auth.Kind; k != "" && k != upstreams.AuthLegant && ev.Constraint == "" {
		ev.Constraint, ev.Value = auditCredential, string(k)
	}
	return ev
}

// errOAuthUnavailable refuses an oauth upstream when the gateway has no
// connection vault (Options.Connections).
var errOAuthUnavailable = errors.New("gateway: the upstream needs per-user OAuth and no connection vault is configured")

// connectionMissing reports, while a request is decided and before its
// allow record is written, that the caller's user has no connection to the
// request's oauth upstream: it is then refused and recorded as refused
// (connection_required), never recorded as allowed and failed afterwards. The
// token read is kept on ex for the forward (oauthCredential). Other errors
// are left to the forward path, which fails closed.
func (g *Gateway) connectionMissing(ctx context.Context, ex *exchange) *connectionRequiredError {
	v := g.opts.Connections
	if ex.up.Auth.Kind != upstreams.AuthOAuth || v == nil || ex.req == nil {
		return nil
	}
	sctx, cancel := g.storeContext(ctx)
	defer cancel()
	tok, err := v.Token(sctx, ex.claims.Subject, ex.up.Slug)
	if errors.Is(err, ErrNoConnection) {
		return &connectionRequiredError{user: ex.claims.Subject, upstream: ex.up.Slug}
	}
	if err == nil {
		ex.oauthToken = tok
	}
	return nil
}

// Command dpop-conformance-client is the MCP client that
// scripts/dpop-conformance.sh hands to the conformance suite's `client`
// command for its DPoP scenarios (auth/dpop, auth/dpop-nonce; SEP-1932,
// RFC 9449). It is what docs/AUTHORIZATION.md tells client authors to build:
// go-sdk's OAuth client (auth.AuthorizationCodeHandler: resource and
// authorization server discovery, dynamic registration, PKCE) with
// sdk/dpopclient underneath.
//
//   - Token endpoint: the handler's HTTP client is a dpopclient.Transport
//     without a token, so the code exchange carries a proof of the client's
//     key (the token comes back bound to it, token_type DPoP) and a
//     use_dpop_nonce refusal is retried with the server's nonce.
//   - MCP requests: go-sdk writes "Authorization: Bearer <token>"; for a
//     token issued as DPoP, dpopScheme moves it to the DPoP scheme with a
//     fresh proof (htm, htu, ath) per request through a second
//     dpopclient.Transport, which also answers the resource server's
//     use_dpop_nonce challenge.
//
// The authorization step has no browser: the suite's authorization server
// redirects at once, so the code is read from the Location of the redirect.
//
// Usage (by the suite): dpop-conformance-client <server URL>
// It connects, lists the tools, and exits 0; errors go to stderr, exit 1.
// With DPOP_CONFORMANCE_BEARER=1 it is the same client without DPoP (plain
// bearer tokens): the negative control the script runs to show the
// scenarios can fail.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/openlegant/legant/sdk/dpopclient"
)

// redirectURL is registered and requested but never served: the code is
// read from the authorization server's redirect.
const redirectURL = "http://127.0.0.1:1/callback"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: dpop-conformance-client <server URL>")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := run(ctx, os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "dpop-conformance-client:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, serverURL string) error {
	// ES256: the algorithm the suite's authorization server advertises.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	bound := &dpopTokens{}
	asClient := &http.Client{Transport: &dpopclient.Transport{Key: key}}
	var mcpTransport http.RoundTripper = &dpopScheme{bound: bound, dpop: &dpopclient.Transport{Key: key, Token: tokenFromContext}}
	if os.Getenv("DPOP_CONFORMANCE_BEARER") == "1" {
		asClient, mcpTransport = http.DefaultClient, http.DefaultTransport
	}
	handler, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{
				ClientName:              "legant-dpop-conformance-client",
				RedirectURIs:            []string{redirectURL},
				GrantTypes:              []string{"authorization_code", "refresh_token"},
				ResponseTypes:           []string{"code"},
				TokenEndpointAuthMethod: "none",
			},
		},
		AuthorizationCodeFetcher: fetchCode,
		// Discovery, registration and the token endpoint: proofs without
		// a token (RFC 9449 §5), nonce retry (§8).
		Client:         asClient,
		NewTokenSource: bound.tokenSource,
	})
	if err != nil {
		return err
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "legant-dpop-conformance-client", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:     serverURL,
		HTTPClient:   &http.Client{Transport: mcpTransport},
		OAuthHandler: handler,
		MaxRetries:   -1,
	}, nil)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cs.Close()
	if _, err := cs.ListTools(ctx, nil); err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	return nil
}

// fetchCode follows the authorization URL one step: the suite's server
// answers with a redirect to redirectURL carrying code, state and iss.
func fetchCode(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args.URL, nil)
	if err != nil {
		return nil, err
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("authorization endpoint answered %s without a redirect", resp.Status)
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return nil, fmt.Errorf("authorization refused: %s", e)
	}
	if !strings.HasPrefix(loc.String(), redirectURL) {
		return nil, fmt.Errorf("redirected to %s, not the registered redirect URI", loc.Redacted())
	}
	return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
}

// dpopTokens remembers which access tokens were issued as DPoP-bound
// (token_type DPoP): only those move to the DPoP scheme.
type dpopTokens struct {
	mu   sync.Mutex
	dpop map[string]bool
}

func (d *dpopTokens) tokenSource(ctx context.Context, cfg *oauth2.Config, tok *oauth2.Token) (oauth2.TokenSource, error) {
	return recording{d: d, ts: cfg.TokenSource(ctx, tok)}, nil
}

func (d *dpopTokens) isDPoP(tok string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dpop[tok]
}

type recording struct {
	d  *dpopTokens
	ts oauth2.TokenSource
}

func (r recording) Token() (*oauth2.Token, error) {
	tok, err := r.ts.Token()
	if err == nil && strings.EqualFold(tok.TokenType, "DPoP") {
		r.d.mu.Lock()
		if r.d.dpop == nil {
			r.d.dpop = map[string]bool{}
		}
		r.d.dpop[tok.AccessToken] = true
		r.d.mu.Unlock()
	}
	return tok, err
}

type tokenKey struct{}

func tokenFromContext(ctx context.Context) (string, error) {
	if tok, ok := ctx.Value(tokenKey{}).(string); ok {
		return tok, nil
	}
	return "", errors.New("no access token in the request context")
}

// dpopScheme sends a request whose bearer token was issued as DPoP through
// the dpopclient.Transport (DPoP scheme, fresh proof, nonce retry); every
// other request as it is.
type dpopScheme struct {
	bound *dpopTokens
	dpop  *dpopclient.Transport
}

func (t *dpopScheme) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok || !t.bound.isDPoP(tok) {
		return http.DefaultTransport.RoundTrip(req)
	}
	out := req.Clone(context.WithValue(req.Context(), tokenKey{}, tok))
	out.Header.Del("Authorization")
	return t.dpop.RoundTrip(out)
}

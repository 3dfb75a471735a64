package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/openlegant/legant/upstreams"
)

// TestConnectTicket: a ticket names one user and one upstream, expires after
// ConnectTicketTTL, and any change to it (or another key) voids it.
func TestConnectTicket(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newConnector([]byte("0123456789abcdef0123456789abcdef"), nil, func() time.Time { return now })
	tk := c.ticket("alice", "hosted")
	if u, err := c.checkTicket(tk, "hosted"); err != nil || u != "alice" {
		t.Fatalf("valid ticket = %q, %v", u, err)
	}
	p, sig, _ := strings.Cut(tk, ".")
	other := newConnector([]byte("another key, 32 bytes long......"), nil, c.now)
	for name, bad := range map[string]struct{ ticket, upstream string }{
		"other upstream": {tk, "other"},
		"tampered":       {p + "x." + sig, "hosted"},
		"no signature":   {p, "hosted"},
		"other key":      {other.ticket("alice", "hosted"), "hosted"},
		"empty":          {"", "hosted"},
	} {
		if u, err := c.checkTicket(bad.ticket, bad.upstream); err == nil {
			t.Errorf("%s: accepted for %q", name, u)
		}
	}
	now = now.Add(ConnectTicketTTL + time.Second)
	if _, err := c.checkTicket(tk, "hosted"); err == nil {
		t.Error("an expired ticket was accepted")
	}
}

// TestConnectClientIdentity: the client the gateway is at an upstream's
// authorization server, in the MCP spec's priority order — the registry's
// pre-registered client, else the gateway's Client ID Metadata Document
// where the server takes one (and the gateway has one), else DCR — and
// how its token requests authenticate.
func TestConnectClientIdentity(t *testing.T) {
	c := newConnector(nil, nil, time.Now)
	meta := func(cimd bool, methods ...string) *upstreamServer {
		return &upstreamServer{meta: &oauthex.AuthServerMeta{Issuer: "https://as.example", ClientIDMetadataDocumentSupported: cimd,
			AuthorizationEndpoint: "https://as.example/authorize", TokenEndpoint: "https://as.example/token",
			TokenEndpointAuthMethodsSupported: methods}}
	}
	pre := &upstreams.Upstream{Slug: "s", URL: "https://mcp.example/mcp",
		Auth: upstreams.Auth{Kind: upstreams.AuthOAuth, OAuth: &upstreams.OAuthClient{ClientID: "pre"}}}
	doc := "https://gw.example/client-metadata.json"
	for _, tc := range []struct {
		name     string
		up       *upstreams.Upstream
		s        *upstreamServer
		cimd     string
		identity string
		id       string
		style    oauth2.AuthStyle
	}{
		{"pre-registered wins over a document", pre, meta(true), doc, "preregistered", "pre", oauth2.AuthStyleInParams},
		{"document where the server takes one", &upstreams.Upstream{Slug: "s", URL: pre.URL, Auth: upstreams.Auth{Kind: upstreams.AuthOAuth, OAuth: &upstreams.OAuthClient{}}}, meta(true), doc, "cimd", doc, oauth2.AuthStyleInParams},
	} {
		if err := c.register(context.Background(), tc.up, tc.s, "https://gw.example/connect/callback", tc.cimd); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.s.identity != tc.identity || tc.s.config.ClientID != tc.id || tc.s.config.Endpoint.AuthStyle != tc.style || tc.s.config.ClientSecret != "" {
			t.Errorf("%s: identity %q id %q style %v", tc.name, tc.s.identity, tc.s.config.ClientID, tc.s.config.Endpoint.AuthStyle)
		}
	}
	// No document (an http gateway) and no registration endpoint: refused,
	// naming what to set.
	if err := c.register(context.Background(), &upstreams.Upstream{Slug: "s", URL: pre.URL, Auth: upstreams.Auth{Kind: upstreams.AuthOAuth, OAuth: &upstreams.OAuthClient{}}}, meta(true), "http://gw/connect/callback", ""); err == nil ||
		!strings.Contains(err.Error(), "auth.client") {
		t.Errorf("no way to be a client: %v", err)
	}
	for methods, want := range map[string]string{"": "none", "none client_secret_basic": "none",
		"client_secret_basic": "client_secret_basic", "client_secret_post": "client_secret_post"} {
		if got := dcrMethod(strings.Fields(methods)); got != want {
			t.Errorf("dcrMethod(%q) = %q, want %q", methods, got, want)
		}
	}
	if secretStyle(nil) != oauth2.AuthStyleInHeader || secretStyle([]string{"client_secret_post"}) != oauth2.AuthStyleInParams ||
		methodStyle("client_secret_basic") != oauth2.AuthStyleInHeader || methodStyle("none") != oauth2.AuthStyleInParams {
		t.Error("token endpoint auth styles")
	}
	if applicationType("http://127.0.0.1:8080/connect/callback") != "native" || applicationType("https://gw.example/connect/callback") != "web" {
		t.Error("application_type")
	}
}

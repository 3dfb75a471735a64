package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/upstreams"
)

// The hosted tracker's own account for alice, and its password (she types
// it at the tracker's login page, never at Legant).
const (
	hostedUser     = "asmith"
	hostedPassword = "correct horse battery staple"
)

// hosted is a hosted MCP server behind its own OAuth, as a SaaS tool is: a
// go-sdk server behind go-sdk's auth.RequireBearerToken, whose
// authorization server is a second, unrelated Legant issuer (its own store,
// keys and users) on the same origin. Nothing in it knows about the gateway.
type hosted struct {
	base     string // the origin: the authorization server's issuer
	resource string // the MCP endpoint, base + /mcp/tracker
	keys     *authority.KeySet
	st       *store.Store
	srv      *http.Server
	dir      string

	mu       sync.Mutex
	accepted []seen
}

// seen is a request the tracker accepted: the bearer token it was sent and
// what it says.
type seen struct {
	token   string
	subject string
	issuer  string
}

func startHosted(ctx context.Context) (_ *hosted, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hosted{base: "http://" + ln.Addr().String()}
	h.resource = h.base + "/mcp/tracker"
	defer func() {
		if err != nil {
			ln.Close()
			h.close()
		}
	}()
	if h.dir, err = os.MkdirTemp("", "legant-demo-tracker-"); err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	if h.st, err = store.Open(ctx, store.Options{DataDir: h.dir, KeyEncryptionSecret: secret, Issuer: h.base, PollInterval: -1}); err != nil {
		return nil, err
	}
	// The tracker's authorization server knows one resource, its MCP
	// endpoint, and the scope its tool needs.
	reg, err := upstreams.Parse("tracker.yaml", []byte("version: 1\nupstreams:\n  - slug: tracker\n    url: http://127.0.0.1:9/unused\n"+
		"    tools:\n      list_issues: {scope: tracker:read}\n"), upstreams.Options{PublicURL: h.base})
	if err != nil {
		return nil, err
	}
	key, err := authority.GenerateEd25519Key("tracker-k1")
	if err != nil {
		return nil, err
	}
	h.keys = authority.NewKeySet()
	h.keys.Add(key, time.Time{})
	as, err := oauth.New(oauth.Options{Issuer: h.base, Store: h.st, Keys: h.keys, Registry: func() *upstreams.Registry { return reg }})
	if err != nil {
		return nil, err
	}
	hash, err := oauth.HashPassword(hostedPassword)
	if err != nil {
		return nil, err
	}
	if err := h.st.CreateUser(ctx, store.User{Name: hostedUser, PasswordHash: hash}); err != nil {
		return nil, err
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "tracker", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "list_issues", Description: "List the caller's open issues"},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			who := req.Extra.TokenInfo.UserID
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{
				Text: fmt.Sprintf("3 open issues assigned to %s: TRK-7, TRK-9, TRK-12", who)}}}, nil, nil
		})
	mux := http.NewServeMux()
	for _, p := range oauth.Paths {
		mux.Handle(p, as)
	}
	mcpH := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	mux.Handle("/mcp/tracker", auth.RequireBearerToken(h.verify, &auth.RequireBearerTokenOptions{
		ResourceMetadataURL: h.base + "/.well-known/oauth-protected-resource/mcp/tracker"})(mcpH))
	mux.Handle("GET /.well-known/oauth-protected-resource/mcp/tracker", auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource: h.resource, AuthorizationServers: []string{h.base}, ScopesSupported: []string{"tracker:read"}}))
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go h.srv.Serve(ln)
	return h, nil
}

// verify accepts only the tracker's own tokens for its own endpoint.
func (h *hosted) verify(_ context.Context, tok string, _ *http.Request) (*auth.TokenInfo, error) {
	c, err := authority.Verify(tok, h.keys, authority.VerifyOptions{Issuer: h.base, Audience: h.resource, RequireActor: true}, time.Now())
	if err != nil {
		return nil, errors.Join(auth.ErrInvalidToken, err)
	}
	h.mu.Lock()
	h.accepted = append(h.accepted, seen{token: tok, subject: c.Subject, issuer: c.Issuer})
	h.mu.Unlock()
	return &auth.TokenInfo{Scopes: c.Scopes, Expiration: c.ExpiresAt, UserID: c.Subject}, nil
}

// seen returns the requests the tracker accepted, in order.
func (h *hosted) seen() []seen {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]seen(nil), h.accepted...)
}

func (h *hosted) close() {
	if h.srv != nil {
		h.srv.Close()
	}
	if h.st != nil {
		h.st.Close()
	}
	if h.dir != "" {
		os.RemoveAll(h.dir)
	}
}

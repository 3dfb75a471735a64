package main

// `legant demo --federation`: the virtual-server example
// (examples/federation/legant.yaml) with its two demo expenses servers, zero
// config, as `legant demo` does for one.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/examples/expenses"
	"github.com/openlegant/legant/examples/federation"
	"github.com/openlegant/legant/issuer/keydir"
)

// runFederationDemo starts the two members, writes the example registry
// pointing at them, and serves the gateway.
func runFederationDemo(ctx context.Context, cfg serveConfig, out, errOut io.Writer) error {
	for _, addr := range []string{cfg.listen, cfg.adminListen} {
		if addr == "" {
			continue
		}
		probe, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("demo: cannot listen on %s (is another demo running? stop it, or pass --listen/--admin-listen and --data-dir): %w", addr, err)
		}
		probe.Close()
	}
	var urls []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		upstream := &http.Server{Handler: expenses.Handler(&expenses.Ledger{}, false), ReadHeaderTimeout: 10 * time.Second}
		served := make(chan struct{})
		go func() { defer close(served); upstream.Serve(ln) }()
		defer func() { upstream.Close(); <-served }()
		urls = append(urls, "http://"+ln.Addr().String()+"/mcp")
	}
	dir := filepath.Join(cfg.store.dataDir, "demo")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	cfg.upstreams = filepath.Join(dir, "legant.yaml")
	if err := os.WriteFile(cfg.upstreams, []byte(federation.RegistryFor(urls[0], urls[1])), 0o600); err != nil {
		return err
	}
	cfg.ready = func(addr string) {
		base := "http://" + addr
		tokenFile := filepath.Join(dir, "token")
		if err := writeFederationToken(cfg, base, tokenFile); err != nil {
			fmt.Fprintln(errOut, "legant: demo token:", err)
			return
		}
		ep := base + "/mcp/" + federation.Slug
		fmt.Fprintf(out, `
Legant federation demo is running: two expenses servers (team, travel) behind one slug.

  MCP endpoint  %[1]s
  token         %[2]s  (alice → agent:demo-agent: every registered tool, a budget of 500 USD across both servers, 8h)
  registry      %[3]s
  tools         team__list_expenses team__submit_expense travel.list_expenses travel.submit_expense

MCP client config (Claude Code):
  claude mcp add --transport http legant-federation %[1]s --header "Authorization: Bearer $(cat %[2]s)"

Audit trail:  legant audit tail --data-dir %[4]s      Stop: Ctrl-C
`, ep, tokenFile, cfg.upstreams, cfg.store.dataDir)
	}
	return serve(ctx, cfg, errOut)
}

// writeFederationToken mints the federation demo's delegation: the
// registered tools, one budget spanning both members.
func writeFederationToken(cfg serveConfig, base, path string) error {
	ks, err := keydir.Load(demoKeysDir(cfg))
	if err != nil {
		return err
	}
	key, err := ks.Signer()
	if err != nil {
		return err
	}
	c := authority.Unrestricted()
	c.Tools = authority.Only(federation.Tools...)
	c.Budget = &authority.Money{Value: authority.MustDecimal("500"), Currency: "USD"}
	now := time.Now()
	tok, err := authority.Sign(key, &authority.Claims{
		Issuer: issuerOr(cfg.store.issuer, base), Subject: "alice", Audience: []string{base + "/mcp/" + federation.Slug},
		IssuedAt: now, ExpiresAt: now.Add(8 * time.Hour), ID: authority.NewID(), ClientID: "legant-demo",
		Scopes: []string{"expenses:read", "expenses:write"}, Actor: &authority.Actor{Subject: "demo-agent"},
		DelegationID: "demo-" + authority.NewID(), Constraints: c,
	})
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(tok+"\n"), 0o600)
}

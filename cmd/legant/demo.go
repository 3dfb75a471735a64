package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/examples/expenses"
	"github.com/openlegant/legant/issuer/keydir"
)

func newDemoCmd() *cobra.Command {
	var cfg serveConfig
	var federated bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the gateway in front of the demo expenses upstream (zero config)",
		Long: `Start the demo: an expenses MCP server on a loopback port, the gateway in
front of it at /mcp/expenses with the embedded store, and a delegation token
("alice lets demo-agent submit travel or meal expenses up to 500 USD") written
to <data-dir>/demo/token. Prints commands to try it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg.logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			if federated {
				return runFederationDemo(ctx, cfg, cmd.OutOrStdout(), cmd.ErrOrStderr()) // demo_federation.go
			}
			return runDemo(ctx, cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:8080", "address of the gateway")
	fs.StringVar(&cfg.adminListen, "admin-listen", "127.0.0.1:8081", "address of the admin API (legant sessions, legant kill)")
	fs.BoolVar(&federated, "federation", false, "serve examples/federation/legant.yaml: two demo expenses servers behind one slug (a virtual server)")
	cfg.store.registerAs(fs, issuerFlagDemo)
	return cmd
}

// runDemo starts the demo upstream, writes its registry, and serves the gateway.
func runDemo(ctx context.Context, cfg serveConfig, out, errOut io.Writer) error {
	// A second demo whose port is taken must fail before it rewrites the
	// running demo's registry: check the listeners before touching anything.
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	upstream := &http.Server{Handler: expenses.Handler(&expenses.Ledger{}, false), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() { defer close(served); upstream.Serve(ln) }()
	defer func() { upstream.Close(); <-served }()

	dir := filepath.Join(cfg.store.dataDir, "demo")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	cfg.upstreams = filepath.Join(dir, "legant.yaml")
	if err := os.WriteFile(cfg.upstreams, []byte(demoRegistry("http://"+ln.Addr().String()+"/mcp")), 0o600); err != nil {
		return err
	}
	cfg.ready = func(addr string) {
		base := "http://" + addr
		tokenFile := filepath.Join(dir, "token")
		if err := writeDemoToken(cfg, base, tokenFile); err != nil {
			fmt.Fprintln(errOut, "legant: demo token:", err)
			return
		}
		printDemo(out, demoPaths{base: base, tokenFile: tokenFile, dataDir: cfg.store.dataDir, keysDir: demoKeysDir(cfg), admin: cfg.adminListen})
	}
	return serve(ctx, cfg, errOut)
}

func demoRegistry(url string) string {
	return fmt.Sprintf(`# Written by legant demo: the demo expenses server behind the gateway.
version: 1
upstreams:
  - slug: expenses
    transport: streamable-http
    url: %s
    tools:
      list_expenses:
        scope: expenses:read
      submit_expense:
        scope: expenses:write
        amount: {pointer: /amount, currency: USD}
        category: /category
        mutating: true
      delete_all:
        scope: expenses:admin
        mutating: true
`, url)
}

// writeDemoToken mints the demo delegation with the issuer key the gateway trusts.
func writeDemoToken(cfg serveConfig, base, path string) error {
	ks, err := keydir.Load(demoKeysDir(cfg))
	if err != nil {
		return err
	}
	key, err := ks.Signer()
	if err != nil {
		return err
	}
	c := authority.Unrestricted()
	c.Tools = authority.Only("list_expenses", "submit_expense")
	c.Categories = authority.Only("travel", "meals")
	c.MaxAmount = &authority.Money{Value: authority.MustDecimal("500"), Currency: "USD"}
	now := time.Now()
	tok, err := authority.Sign(key, &authority.Claims{
		Issuer: issuerOr(cfg.store.issuer, base), Subject: "alice", Audience: []string{base + "/mcp/expenses"},
		IssuedAt: now, ExpiresAt: now.Add(8 * time.Hour), ID: authority.NewID(), ClientID: "legant-demo",
		Scopes: []string{"expenses:read", "expenses:write"}, Actor: &authority.Actor{Subject: "demo-agent"},
		DelegationID: "demo-" + authority.NewID(), Constraints: c,
	})
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(tok+"\n"), 0o600)
}

func demoKeysDir(cfg serveConfig) string {
	if cfg.keysDir != "" {
		return cfg.keysDir
	}
	return filepath.Join(cfg.store.dataDir, "keys")
}

// demoPaths are what the printed follow-up commands point at.
type demoPaths struct {
	base, tokenFile, dataDir, keysDir string
	admin                             string // admin listener address; "" = disabled
}

func printDemo(out io.Writer, p demoPaths) {
	ep := p.base + "/mcp/expenses"
	fmt.Fprintf(out, `
Legant demo is running.

  MCP endpoint  %[1]s
  token         %[2]s  (alice → agent:demo-agent: travel or meals, ≤ 500 USD, 8h)
  provenance    legant show --keys %[3]s "$(cat %[2]s)"

Try it (each call is authorized by the gateway before it reaches the server):

  TOKEN=$(cat %[2]s)
  H='-H Content-Type:application/json -H Accept:application/json,text/event-stream -H Mcp-Protocol-Version:2025-06-18'
  SID=$(curl -si $H -H "Authorization: Bearer $TOKEN" %[1]s \
    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}' \
    | tr -d '\r' | awk -F': ' 'tolower($1)=="mcp-session-id"{print $2}')
  call() { curl -s $H -H "Authorization: Bearer $TOKEN" -H "Mcp-Session-Id: $SID" %[1]s -d "$1"; echo; }
  call '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  call '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'                       # delete_all is not listed
  call '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"submit_expense","arguments":{"amount":120,"category":"Travel"}}}'
  call '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"submit_expense","arguments":{"amount":700,"category":"travel"}}}'  # denied: max_amount
  call '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"delete_all","arguments":{}}}'   # denied: not allowed

MCP client config (Claude Code):
  claude mcp add --transport http legant-demo %[1]s --header "Authorization: Bearer $(cat %[2]s)"

`, ep, p.tokenFile, p.keysDir)
	if p.admin != "" {
		adm := fmt.Sprintf("--admin http://%s --admin-token-file %s", p.admin, filepath.Join(p.dataDir, "admin-token"))
		fmt.Fprintf(out, `
Sessions and the kill switch (admin API on %[1]s):
  legant sessions %[2]s
  legant kill %[2]s --session "$SID" --reason "demo: stop this agent"   # its next call fails, its token is revoked
`, p.admin, adm)
	}
	fmt.Fprintf(out, "\nAudit trail:  legant audit tail --data-dir %s      Stop: Ctrl-C\n", p.dataDir)
}

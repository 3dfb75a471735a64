package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func newGatewayCmd() *cobra.Command {
	var cfg serveConfig
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Serve the MCP authorization gateway at /mcp/<slug> for every upstream in the registry",
		Long: `Serve the MCP authorization gateway. Every upstream of the registry (see
docs/UPSTREAMS.md) is served at /mcp/<slug>; callers present delegation tokens
signed by the issuer's keys (--keys), and every tools/call is authorized before
it reaches the upstream. Also served: RFC 9728 metadata per slug, the issuer's
JWKS (/.well-known/jwks.json), the gateway's own JWKS for downstream tokens
(/gateway/jwks.json) and the signed revocation feed (/.well-known/revoked).`,
		Example: `  legant gateway --upstreams legant.yaml --listen 127.0.0.1:8080
  legant gateway --upstreams legant.yaml --database-url postgres://… --public-url https://gw.example`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var err error
			if cfg.logger, err = cfg.ops.logger(cmd.ErrOrStderr()); err != nil {
				return err
			}
			return serve(ctx, cfg, cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVarP(&cfg.upstreams, "upstreams", "f", "legant.yaml", "upstream registry (YAML), reloaded on change")
	fs.StringVar(&cfg.publicURL, "public-url", "", "external base URL of the gateway (default http://<listen address>)")
	fs.StringVar(&cfg.keysDir, "keys", "", "issuer key directory whose tokens are trusted (default <data-dir>/keys, created if missing)")
	fs.StringVar(&cfg.adminListen, "admin-listen", "127.0.0.1:8081", `address of the admin API (sessions, kill); "" disables it`)
	fs.StringVar(&cfg.adminTokenFile, "admin-token-file", "", "admin API token, generated on first start (default <data-dir>/admin-token)")
	cfg.store.registerAs(fs, issuerFlagGateway)
	cfg.ops.register(fs)
	return cmd
}

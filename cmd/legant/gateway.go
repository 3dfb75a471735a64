package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func newGatewayCmd() *cobra.Command {
	var cfg serveConfig
	var startProfile func() (func(), error)
	var startMemProfile func() func()
	auditJournal := true
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
			ctx, stop := drainOnSignal(cmd.Context(), cmd.ErrOrStderr())
			defer stop()
			stopProfile, err := startProfile()
			if err != nil {
				return err
			}
			defer stopProfile()
			defer startMemProfile()()
			if cfg.logger, err = cfg.ops.logger(cmd.ErrOrStderr()); err != nil {
				return err
			}
			cfg.store.noAuditJournal = !auditJournal
			return serve(ctx, cfg, cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVarP(&cfg.upstreams, "upstreams", "f", "legant.yaml", "upstream registry (YAML), reloaded on change")
	fs.StringVar(&cfg.publicURL, "public-url", "", "external base URL of the gateway (default http://<listen address>)")
	fs.StringVar(&cfg.keysDir, "keys", "", "issuer key directory whose tokens are trusted (default <data-dir>/keys, created if missing)")
	fs.StringVar(&cfg.adminListen, "admin-listen", "127.0.0.1:8081", `address of the admin API (sessions, kill); "" disables it`)
	fs.DurationVar(&cfg.drainTimeout, "drain-timeout", defaultDrainTimeout, "on SIGTERM/SIGINT, how long calls in flight may finish before they are cut (a second signal exits at once)")
	fs.StringVar(&cfg.adminTokenFile, "admin-token-file", "", "admin API token, generated on first start (default <data-dir>/admin-token)")
	cfg.store.registerAs(fs, issuerFlagGateway)
	fs.BoolVar(&auditJournal, "audit-journal", true,
		"embedded SQLite store: make audit events durable in an append-only journal beside the database (one write and one fdatasync per group commit; the chain is written behind it); false commits every audit batch to SQLite on the request path")
	cfg.limits.registerLimits(fs)
	cfg.identity.register(fs)
	cfg.ops.register(fs)
	startProfile = registerCPUProfile(fs)
	startMemProfile = registerMemProfile(fs)
	return cmd
}

// drainOnSignal returns a context that ends at the first SIGTERM or SIGINT
// (the gateway then drains); a second signal exits the process at once,
// with status 1. stop releases the signals and the goroutine watching them.
func drainOnSignal(parent context.Context, errOut io.Writer) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		select {
		case <-sigs:
			fmt.Fprintln(errOut, "legant: second signal: exiting without draining")
			os.Exit(1)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/openlegant/legant/cmd/legant/internal/bench"
)

func newBenchCmd() *cobra.Command {
	var o bench.Options
	var noChild bool
	var jsonOut string
	var checkRatio float64
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the gateway against a direct call and a bare reverse proxy, in one run",
		Long: `Run the performance harness (docs/PERFORMANCE.md). On loopback it starts fast MCP
upstreams, a bare httputil.ReverseProxy, the gateway in this process and the gateway as a
child process (this binary's "gateway" command, with its SQLite store; PostgreSQL too
with --database-url) compared with the bare proxy as a child process too ("bench-proxy"), drives them alternately with MCP clients at several concurrencies,
and prints throughput and latency with the gateway ÷ proxy ratios, CPU and allocations
per call, and the RSS of idle sessions. The default run takes about seven
minutes (eight with --database-url); --quick under a minute.`,
		Example: `  legant bench --quick
  legant bench --rounds 7 --phase 1s --concurrency 1,16,64 --sessions 10000
  legant bench --database-url postgres://postgres@127.0.0.1:5432/legant_bench?sslmode=disable`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if !noChild && o.LegantBinary == "" {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("locate the legant binary (or use --no-child): %w", err)
				}
				o.LegantBinary = exe
			}
			if noChild {
				o.LegantBinary = ""
			}
			for i, c := range o.SessionsClients {
				switch strings.ToLower(c) {
				case "http1", "http/1.1":
					o.SessionsClients[i] = bench.ProtoHTTP1
				case "h2c":
					o.SessionsClients[i] = bench.ProtoH2C
				default:
					return fmt.Errorf("--sessions-clients %q: want http1 or h2c", c)
				}
			}
			o.Command = "legant " + strings.Join(os.Args[1:], " ")
			o.Progress = cmd.ErrOrStderr()
			o.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			rep, err := bench.Run(ctx, o)
			if err != nil {
				return err
			}
			if jsonOut != "" {
				b, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					return err
				}
				if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
					return err
				}
			}
			if err := rep.WriteText(cmd.OutOrStdout()); err != nil {
				return err
			}
			if checkRatio > 0 {
				return rep.CheckRatio(checkRatio, bench.GoalConcurrency)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.Quick, "quick", false, "short run (under a minute): fewer rounds, shorter phases, fewer sessions")
	fs.IntVar(&o.Rounds, "rounds", 0, "rounds per workload and concurrency (default 7, quick 3)")
	fs.DurationVar(&o.Phase, "phase", 0, "one target's share of a round (default 1s, quick 200ms)")
	fs.DurationVar(&o.Warmup, "warmup", 0, "per target before the rounds (default phase/5)")
	fs.IntSliceVar(&o.Concurrency, "concurrency", nil, "virtual clients per target (default 1,16,64; quick 1,16)")
	fs.IntVar(&o.ListConcurrency, "list-concurrency", 0, "virtual clients for the tools/list workload (default 1)")
	fs.IntVar(&o.Sessions, "sessions", 0, "idle sessions with a GET stream to open (default 10000, quick 1000; -1 skips)")
	fs.BoolVar(&o.SessionsHTTP1, "sessions-http1", false, "idle sessions: the child reaches its upstream over HTTP/1.1 (a connection per GET stream) instead of h2c")
	fs.StringSliceVar(&o.SessionsClients, "sessions-clients", nil, "idle sessions: the protocols their clients speak to the gateway, one measurement each: http1, h2c (default both)")
	fs.StringVar(&o.DatabaseURL, "database-url", "", "also measure a child gateway on this PostgreSQL database (in a schema the run creates and drops)")
	fs.StringVar(&o.LegantBinary, "legant", "", "legant binary for the child gateways (default: this executable)")
	fs.BoolVar(&noChild, "no-child", false, "measure only in-process targets (no child gateway, no idle sessions)")
	fs.BoolVar(&o.NoJournal, "no-journal", false, "also measure the SQLite child gateway with --audit-journal=false (each audit batch a SQLite transaction on the request path), beside the default")
	fs.BoolVar(&o.AsyncAudit, "async-audit", false, "also measure each child gateway with --audit-mode async (the allow record queued, not awaited), beside the durable one")
	fs.StringSliceVar(&o.Workloads, "workloads", nil, "run only these workloads: "+strings.Join(bench.WorkloadNames(), ", ")+" (default all)")
	fs.StringVar(&o.ProfileDir, "profile-dir", "", "child gateways and the child proxy write CPU profiles here (<target>.pprof; idle sessions: sessions-h2c.pprof, sessions-http1.pprof and the bare proxy's proxy-sessions-*.pprof, heap profiles with the sessions open, *.heap, and the Go runtime's figures, *.heap.json, which the report reads; go tool pprof)")
	fs.StringVar(&jsonOut, "json", "", "also write the report as JSON to this file")
	fs.Float64Var(&checkRatio, "check-ratio", 0, "exit non-zero when a gateway's throughput ÷ its baseline proxy (tools/call, c=16, median of rounds) is below this")
	return cmd
}

// newBenchProxyCmd is the bare reverse proxy `legant bench` runs as a child
// process, the baseline of the child gateways. Hidden: it is a measuring
// instrument, not a product.
func newBenchProxyCmd() *cobra.Command {
	var listen, upstream string
	var h2c bool
	var startProfile func() (func(), error)
	var startMemProfile func() func()
	cmd := &cobra.Command{
		Use:    "bench-proxy --listen ADDR --upstream URL [--h2c]",
		Short:  "Serve a bare httputil.ReverseProxy to URL (the baseline of legant bench)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			stopProfile, err := startProfile()
			if err != nil {
				return err
			}
			defer stopProfile()
			defer startMemProfile()()
			return bench.ServeBareProxy(ctx, listen, upstream, h2c)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address to serve on")
	cmd.Flags().StringVar(&upstream, "upstream", "", "base URL of the upstream (required)")
	cmd.Flags().BoolVar(&h2c, "h2c", false, "reach the upstream over HTTP/2 cleartext (prior knowledge), as a gateway does an upstream marked h2c: true")
	startProfile = registerCPUProfile(cmd.Flags())
	startMemProfile = registerMemProfile(cmd.Flags())
	return cmd
}

// Package bench is Legant's performance harness: it measures the gateway
// against a direct call to the same upstream and against a bare
// httputil.ReverseProxy, in the same run, and reports ratios, because the
// machines it runs on are shared and noisy.
//
// A run starts, on loopback only: fast go-sdk MCP upstreams (a stateful and a
// stateless one serving a trivial "echo" tool, and a 200-tool catalog), a bare
// reverse proxy in front of them, the gateway in this process (gateway.New, no
// store, in-memory ledger) and, when Options.LegantBinary is set, the gateway
// as a child process (`legant gateway` with its real store: SQLite in a
// temporary directory, or PostgreSQL with Options.DatabaseURL), so that its CPU
// and RSS are its own. Virtual clients speak MCP over raw net/http with
// keep-alive (initialize, notifications/initialized, then tools/call in a
// loop) and every response is checked to be a result, not an error.
//
// Targets are driven alternately (A B C A B C …) for Options.Rounds rounds of
// Options.Phase each, at every concurrency of Options.Concurrency; latencies go
// to a log-linear histogram (Histogram) whose relative error is below 1%.
// A last phase opens Options.Sessions idle sessions, each with an open GET SSE
// stream, against a fresh child gateway and reports its RSS per session.
//
// What it does not own: the gateway's code (package gateway), the wiring of
// `legant gateway` (cmd/legant, used as is through the child process), and
// assertions: the report states targets and whether they were met; it never
// fails a run on a number.
//
// Example:
//
//	rep, err := bench.Run(ctx, bench.Options{
//		LegantBinary: "/usr/local/bin/legant", // "" = no child-process targets
//		Quick:        true,
//	})
//	if err != nil { … }
//	rep.WriteText(os.Stdout)
//
// Run is not safe to call concurrently with itself in one process (it raises
// RLIMIT_NOFILE and measures process-wide CPU); everything it starts stops
// before it returns.
package bench

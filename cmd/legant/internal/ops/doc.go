// Package ops is what an operator watches a running legant with: Prometheus
// metrics (metrics.go), OpenTelemetry traces (tracing.go), both fed by a
// gateway.Observer and a gateway.Recorder wrapper (observer.go), and the
// /healthz and /readyz probes (health.go).
//
// It sits beside cmd/legant, which wires it: the gateway declares the hooks
// (gateway/observe.go) and never imports Prometheus or OpenTelemetry; the
// issuer and store are reached only through the funcs cmd passes in.
//
//	o, err := ops.New(ctx, ops.Options{Registry: watcher.Current, Stats: gw.Stats})
//	gateway.New(gateway.Options{Observer: o.Observer(), Recorder: o.Recorder(st.Audit()), …})
//	mux.Handle("GET /metrics", o.MetricsHandler())
package ops

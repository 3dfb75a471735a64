package ops

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/upstreams"
)

// Options configure New. Every nil func leaves out what it feeds.
type Options struct {
	// Registry bounds the upstream and tool label values to what it lists.
	Registry func() *upstreams.Registry
	// Stats feeds the gateway gauges (in-flight calls, sessions, audit queue,
	// verification cache). It may be set after New with SetStats.
	Stats func() gateway.Stats
	// Revocations reports the revocation set: its size, whether it is kept
	// current and how long ago it last was.
	Revocations func() (size int, live bool, staleness time.Duration)
	// AuditWrites reports the audit log's durable writes by this process so
	// far (group commits: SQLite journal appends, PostgreSQL transactions)
	// and the events they carried.
	AuditWrites func() (commits, events int64)
	// Logger receives what the probes find not ready; nil = slog.Default().
	Logger *slog.Logger
	// ServiceVersion is the service.version of trace resources.
	ServiceVersion string
}

// Ops holds a process's metrics and tracer. Safe for concurrent use.
type Ops struct {
	opts    Options
	metrics *metrics
	labels  labels
	tracing *tracing
	stats   func() gateway.Stats
}

// New returns the metrics and, when the OTEL_EXPORTER_OTLP_* environment
// asks for it, a tracer exporting over OTLP/HTTP. Shutdown flushes it.
func New(ctx context.Context, opts Options) (*Ops, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	o := &Ops{opts: opts, labels: labels{registry: opts.Registry}}
	// Stats is read through o so that it can be bound after the gateway exists.
	statsOpts := opts
	statsOpts.Stats = func() gateway.Stats {
		if o.stats == nil {
			return gateway.Stats{AuditHealthy: true}
		}
		return o.stats()
	}
	o.stats = opts.Stats
	o.metrics = newMetrics(statsOpts)
	t, err := newTracing(ctx, opts.ServiceVersion)
	if err != nil {
		return nil, err
	}
	o.tracing = t
	return o, nil
}

// SetStats binds the gateway whose figures the gauges report. Call it once,
// before serving.
func (o *Ops) SetStats(f func() gateway.Stats) { o.stats = f }

// TracingEnabled reports whether spans are exported.
func (o *Ops) TracingEnabled() bool { return o.tracing.enabled() }

// MetricsHandler serves the Prometheus text exposition.
func (o *Ops) MetricsHandler() http.Handler { return o.metrics.handler() }

// KeyChange counts a key directory change picked up while running:
// "added", "retired" or "error".
func (o *Ops) KeyChange(change string, n int) {
	o.metrics.keyChanges.WithLabelValues(change).Add(float64(n))
}

// Shutdown flushes and stops the trace exporter.
func (o *Ops) Shutdown(ctx context.Context) error { return o.tracing.shutdown(ctx) }

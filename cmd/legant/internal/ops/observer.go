package ops

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/gateway"
)

// Span attribute keys: the MCP and GenAI semantic conventions, plus
// legant's own.
const (
	attrMCPMethod   = attribute.Key("mcp.method.name")
	attrToolName    = attribute.Key("gen_ai.tool.name")
	attrSessionHash = attribute.Key("mcp.session.id.sha256") // never the id itself
	attrUpstream    = attribute.Key("legant.upstream")
	attrHTTPMethod  = attribute.Key("http.request.method")
	attrHTTPStatus  = attribute.Key("http.response.status_code")
	attrBatchSize   = attribute.Key("legant.audit.batch_size")
	attrServerAddr  = attribute.Key("server.address")
)

// Observer returns the gateway hooks feeding o's metrics and spans.
func (o *Ops) Observer() gateway.Observer { return observer{o} }

type observer struct{ o *Ops }

var _ gateway.Observer = observer{}

// KeepsHeaders implements gateway.HeaderKeeper: only tracing adds headers
// (the trace context) to upstream requests.
func (ob observer) KeepsHeaders() bool { return !ob.o.tracing.enabled() }

// request is the observed state of one request, carried in its context.
type request struct {
	start    time.Time
	upstream string // label value
	span     trace.Span

	mu      sync.Mutex
	method  string // label value of the first method; "" until seen
	tool    string
	forward bool // the first upstream request was observed
}

type requestKey struct{}

func requestFrom(ctx context.Context) *request {
	r, _ := ctx.Value(requestKey{}).(*request)
	return r
}

func (ob observer) Request(r *http.Request, upstream string) (context.Context, func()) {
	o := ob.o
	req := &request{start: time.Now(), upstream: o.labels.upstream(upstream)}
	ctx := r.Context()
	if o.tracing.enabled() {
		ctx = o.tracing.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	ctx, req.span = o.tracing.tracer.Start(ctx, "mcp "+req.upstream, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attrUpstream.String(req.upstream), attrHTTPMethod.String(r.Method)))
	ctx = context.WithValue(ctx, requestKey{}, req)
	return ctx, func() {
		req.mu.Lock()
		m, tool := req.method, req.tool
		req.mu.Unlock()
		if m == "" {
			m = "none" // GET stream, DELETE, or refused before a method was read
		}
		d := time.Since(req.start)
		o.metrics.requestDuration.WithLabelValues(req.upstream, m).Observe(seconds(d))
		o.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "request", slog.String("upstream", req.upstream),
			slog.String("http_method", r.Method), slog.String("mcp_method", m), slog.String("tool", tool),
			slog.Duration("duration", d), slog.String("trace_id", req.span.SpanContext().TraceID().String()))
		name := m
		if tool != "" {
			name += " " + tool
		}
		req.span.SetName(name) // MCP convention: "{mcp.method.name} {target}"
		req.span.End()
	}
}

func (ob observer) Method(ctx context.Context, m string) {
	req := requestFrom(ctx)
	if req == nil {
		return
	}
	req.mu.Lock()
	first := req.method == ""
	if first {
		req.method = method(m)
	}
	req.mu.Unlock()
	if first {
		req.span.SetAttributes(attrMCPMethod.String(method(m)))
	}
}

func (ob observer) Call(ctx context.Context, tool, session string) func() {
	req := requestFrom(ctx)
	if tool == "" {
		tool = labelOther
	}
	attrs := []attribute.KeyValue{attrToolName.String(tool)}
	if session != "" {
		attrs = append(attrs, attrSessionHash.String(session))
	}
	if req != nil {
		req.mu.Lock()
		if req.tool == "" {
			req.tool = tool
		}
		req.mu.Unlock()
		req.span.SetAttributes(attrs...)
	}
	_, span := ob.o.tracing.tracer.Start(ctx, "authorize", trace.WithAttributes(attrs...))
	return func() { span.End() }
}

func (ob observer) Upstream(r *http.Request) func(int, error) {
	o := ob.o
	ctx := r.Context()
	up := labelUnknown
	if req := requestFrom(ctx); req != nil {
		up = req.upstream
		req.mu.Lock()
		first := !req.forward
		req.forward = true
		req.mu.Unlock()
		if first {
			o.metrics.gatewayAdded.WithLabelValues(up).Observe(seconds(time.Since(req.start)))
		}
	}
	ctx, span := o.tracing.tracer.Start(ctx, "upstream "+up, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attrUpstream.String(up), attrHTTPMethod.String(r.Method), attrServerAddr.String(r.URL.Hostname())))
	if o.tracing.enabled() {
		o.tracing.prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
	}
	start := time.Now()
	return func(status int, err error) {
		o.metrics.upstreamLatency.WithLabelValues(up).Observe(seconds(time.Since(start)))
		switch {
		case err != nil && errors.Is(err, context.Canceled):
			// the client left, or a kill cut the call: not the upstream's fault
		case err != nil:
			o.metrics.upstreamErrors.WithLabelValues(up, "transport").Inc()
			span.SetStatus(codes.Error, "no response")
		case status >= 500:
			o.metrics.upstreamErrors.WithLabelValues(up, "status_5xx").Inc()
			span.SetStatus(codes.Error, http.StatusText(status))
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			o.metrics.upstreamErrors.WithLabelValues(up, "refused").Inc()
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		if status != 0 {
			span.SetAttributes(attrHTTPStatus.Int(status))
		}
		span.End()
	}
}

// Recorder wraps next: each batch appended is timed and traced, and its
// events counted (decisions, kills) once it is durable.
func (o *Ops) Recorder(next gateway.Recorder) gateway.Recorder { return recorder{o: o, next: next} }

type recorder struct {
	o    *Ops
	next gateway.Recorder
}

func (r recorder) Record(ctx context.Context, events []audit.Event) error {
	ctx, span := r.o.tracing.tracer.Start(ctx, "audit append", trace.WithAttributes(attrBatchSize.Int(len(events))))
	defer span.End()
	start := time.Now()
	err := r.next.Record(ctx, events)
	m := r.o.metrics
	m.auditAppend.Observe(seconds(time.Since(start)))
	if err != nil {
		m.auditAppendErrs.Inc()
		span.SetStatus(codes.Error, "append failed")
		return err
	}
	for _, ev := range events {
		m.auditEvents.WithLabelValues(string(ev.Kind)).Inc()
		switch ev.Kind {
		case audit.KindAllow, audit.KindDeny, audit.KindEdge401, audit.KindEdge403:
			up := r.o.labels.upstream(ev.Upstream)
			decision := string(ev.Kind)
			tool := r.o.labels.tool(ev.Upstream, ev.Tool)
			m.decisions.WithLabelValues(up, tool, decision, reason(ev.Reason)).Inc()
			// Allows are every call (the audit log and the metrics hold
			// them): debug. Refusals are what an operator looks for: info.
			level := slog.LevelInfo
			if ev.Kind == audit.KindAllow {
				level = slog.LevelDebug
			}
			if !r.o.opts.Logger.Enabled(ctx, level) {
				continue
			}
			r.o.opts.Logger.LogAttrs(ctx, level, "decision", slog.String("decision", decision),
				slog.String("upstream", up), slog.String("tool", tool), slog.String("reason", reason(ev.Reason)),
				slog.String("user", ev.User), slog.String("client", ev.Client), slog.String("jti", ev.TokenID))
		case audit.KindKill:
			m.kills.Inc()
		}
	}
	return nil
}

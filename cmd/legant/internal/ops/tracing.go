package ops

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracerName is the instrumentation scope of legant's spans.
const tracerName = "github.com/openlegant/legant/gateway"

// tracing is the tracer and W3C trace-context propagator; with tracing off
// the tracer is a no-op and nothing is extracted or injected.
type tracing struct {
	provider *sdktrace.TracerProvider // nil when off
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
}

// tracingRequested reports whether the standard environment asks for OTLP
// traces: an OTLP endpoint is set, OTEL_SDK_DISABLED is not "true" and
// OTEL_TRACES_EXPORTER is unset or "otlp".
func tracingRequested() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	if e := os.Getenv("OTEL_TRACES_EXPORTER"); e != "" && e != "otlp" {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

func newTracing(ctx context.Context, version string) (*tracing, error) {
	if !tracingRequested() {
		return &tracing{tracer: noop.NewTracerProvider().Tracer(tracerName)}, nil
	}
	// The exporter reads OTEL_EXPORTER_OTLP_{,TRACES_}{ENDPOINT,HEADERS,TIMEOUT,…} itself.
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName("legant"), semconv.ServiceVersion(version)))
	if err != nil {
		res = resource.Default() // conflicting schema URLs: keep the SDK's own
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &tracing{provider: tp, tracer: tp.Tracer(tracerName), prop: propagation.TraceContext{}}, nil
}

func (t *tracing) enabled() bool { return t.provider != nil }

func (t *tracing) shutdown(ctx context.Context) error {
	if t.provider == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

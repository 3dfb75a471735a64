package ops

import (
	"net/http"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/upstreams"
)

// Label values standing for values outside a bounded set.
const (
	labelOther   = "_other"   // a tool or method not in the known set
	labelUnknown = "_unknown" // an upstream slug not in the registry
)

// metrics are the Prometheus collectors of one process, on a registry of
// their own. Safe for concurrent use.
type metrics struct {
	reg *prometheus.Registry

	decisions       *prometheus.CounterVec   // upstream, tool, decision, reason
	auditEvents     *prometheus.CounterVec   // kind
	kills           prometheus.Counter       //
	requestDuration *prometheus.HistogramVec // upstream, mcp_method
	gatewayAdded    *prometheus.HistogramVec // upstream
	upstreamLatency *prometheus.HistogramVec // upstream
	upstreamErrors  *prometheus.CounterVec   // upstream, kind
	auditAppend     prometheus.Histogram     //
	auditAppendErrs prometheus.Counter       //
	keyChanges      *prometheus.CounterVec   // change
}

// latencyBuckets span 0.5 ms to 10 s: the gateway adds well under a
// millisecond, upstreams take up to seconds.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics(opts Options) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := factory{m.reg}
	m.decisions = f.counterVec("legant_decisions_total",
		"Gateway decisions (audit events of kind allow, deny, edge_401, edge_403) by upstream, tool, decision and reason.",
		"upstream", "tool", "decision", "reason")
	m.auditEvents = f.counterVec("legant_audit_events_total", "Audit events the gateway recorded, by kind.", "kind")
	m.kills = f.counter("legant_kills_total", "Sessions killed (kill audit events).")
	m.requestDuration = f.histogramVec("legant_request_duration_seconds",
		"Duration of requests to /mcp/<slug>, until the gateway has answered (streams: until they end), by upstream and MCP method.",
		"upstream", "mcp_method")
	m.gatewayAdded = f.histogramVec("legant_gateway_added_seconds",
		"Time from a request's arrival to its upstream request being sent (authentication, policy, ledger, token minting).", "upstream")
	m.upstreamLatency = f.histogramVec("legant_upstream_duration_seconds",
		"Time from sending a request to an HTTP upstream to its response headers.", "upstream")
	m.upstreamErrors = f.counterVec("legant_upstream_errors_total",
		"Requests to upstreams that failed: kind transport (no response), status_5xx, refused (401/403).", "upstream", "kind")
	m.auditAppend = f.histogram("legant_audit_append_seconds", "Duration of one batch append to the audit log.")
	m.auditAppendErrs = f.counter("legant_audit_append_errors_total", "Audit batch appends that failed (retried until durable).")
	m.keyChanges = f.counterVec("legant_key_changes_total", "Key directory changes picked up while running: change added, retired or error.", "change")

	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if opts.Stats != nil {
		stats := opts.Stats
		gauge := func(name, help string, v func(gateway.Stats) float64) {
			m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
				func() float64 { return v(stats()) }))
		}
		counter := func(name, help string, v func(gateway.Stats) float64) {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
				func() float64 { return v(stats()) }))
		}
		gauge("legant_inflight_calls", "Upstream requests in progress.", func(s gateway.Stats) float64 { return float64(s.InFlight) })
		gauge("legant_sessions", "Live gateway sessions held by this process.", func(s gateway.Stats) float64 { return float64(s.Sessions) })
		gauge("legant_audit_queue_depth", "Audit events queued, not yet appended.", func(s gateway.Stats) float64 { return float64(s.AuditQueue) })
		gauge("legant_audit_queue_capacity", "Capacity of the audit queue.", func(s gateway.Stats) float64 { return float64(s.AuditQueueSize) })
		counter("legant_token_verify_cache_hits_total", "Inbound tokens answered from the verification cache.",
			func(s gateway.Stats) float64 { return float64(s.VerifyCacheHits) })
		counter("legant_token_verify_misses_total", "Inbound tokens verified by signature (cache misses).",
			func(s gateway.Stats) float64 { return float64(s.VerifyMisses) })
	}
	if opts.AuditWrites != nil {
		writes := opts.AuditWrites
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "legant_audit_commits_total",
			Help: "Durable writes of the audit log by this process: group commits (SQLite: journal appends; PostgreSQL: transactions). " +
				"legant_audit_committed_events_total ÷ this is the events per commit."},
			func() float64 { c, _ := writes(); return float64(c) }))
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "legant_audit_committed_events_total",
			Help: "Audit events this process's durable writes of the audit log carried."},
			func() float64 { _, e := writes(); return float64(e) }))
	}
	if opts.Revocations != nil {
		revs := opts.Revocations
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "legant_revocations",
			Help: "Entries of the in-memory revocation set (tokens, delegations, agents, users)."},
			func() float64 { n, _, _ := revs(); return float64(n) }))
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "legant_revocation_staleness_seconds",
			Help: "How long ago the revocation set was last known current (0 while the PostgreSQL listener is up)."},
			func() float64 { _, _, stale := revs(); return stale.Seconds() }))
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "legant_revocation_live",
			Help: "1 while the revocation set is being kept current (LISTEN up, or last SQLite poll succeeded)."},
			func() float64 {
				if _, live, _ := revs(); live {
					return 1
				}
				return 0
			}))
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// factory creates collectors and registers them.
type factory struct{ reg *prometheus.Registry }

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) histogramVec(name, help string, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: latencyBuckets}, labels)
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogram(name, help string) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: latencyBuckets})
	f.reg.MustRegister(h)
	return h
}

// labels bounds label values to the registry: upstream slugs and tool
// names it lists, known MCP methods, reason codes of the audit vocabulary.
type labels struct {
	registry func() *upstreams.Registry // nil: every slug and tool is "_other"
}

func (l labels) upstream(slug string) string {
	if slug == "" || l.registry == nil {
		return labelUnknown
	}
	if reg := l.registry(); reg != nil {
		if _, ok := reg.Lookup(slug); ok {
			return slug
		}
	}
	return labelUnknown
}

func (l labels) tool(slug, tool string) string {
	if tool == "" || slug == "" || l.registry == nil {
		return labelOther
	}
	if reg := l.registry(); reg != nil {
		if up, ok := reg.Lookup(slug); ok {
			if _, ok := up.Tool(tool); ok {
				return tool
			}
		}
	}
	return labelOther
}

// mcpMethods are the MCP methods used as label values; others are "_other".
var mcpMethods = map[string]bool{
	"initialize": true, "ping": true, "tools/list": true, "tools/call": true,
	"resources/list": true, "resources/read": true, "resources/templates/list": true,
	"resources/subscribe": true, "resources/unsubscribe": true, "prompts/list": true, "prompts/get": true,
	"completion/complete": true, "logging/setLevel": true, "notifications/initialized": true,
	"notifications/cancelled": true, "notifications/progress": true, "notifications/roots/list_changed": true,
}

func method(m string) string {
	if mcpMethods[m] {
		return m
	}
	return labelOther
}

// reasonPattern is the shape of the audit vocabulary's reason codes
// ("budget_exceeded", "expired"); free text is counted as "_other".
var reasonPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

func reason(r string) string {
	switch {
	case r == "":
		return "none"
	case reasonPattern.MatchString(r):
		return r
	}
	return labelOther
}

func seconds(d time.Duration) float64 { return d.Seconds() }

package bench

import (
	"slices"
	"time"
)

// Workload names in reports.
const (
	WorkloadCallStateful  = "tools/call echo, stateful upstream"
	WorkloadCallStateless = "tools/call echo, stateless upstream"
	// WorkloadCallBudget: each call carries an amount the gateway reserves
	// on the token's budget before forwarding and settles after the answer
	// (two ledger writes per call).
	WorkloadCallBudget = "tools/call echo with a budget, stateful upstream"
	WorkloadList       = "tools/list 200 tools, token allows 20"
)

// Report is the result of a run. Every number of a workload comes from the
// same run, its targets measured alternately.
type Report struct {
	Date          time.Time
	Took          time.Duration
	Machine       Machine
	Command       string   // how the run was started, to repeat it
	ChildCommands []string // the child gateways' command lines
	Rounds        int
	Phase         time.Duration
	Targets       []TargetInfo
	Rows          []Row
	Ratios        []Ratio
	ChildMemory   []ChildMemory
	Sessions      []*Sessions // one per client protocol measured; none when not measured
	Goals         []Goal
	// Flush is the disk's durable-write probe, taken before the load when
	// child gateways are measured (nil otherwise): its best case; what a
	// durable call waits for is each child's own appends (DurableBounds).
	Flush *Flush `json:",omitempty"`
}

// TargetInfo names and describes a target.
type TargetInfo struct {
	Name  string
	About string
}

// Row is one target at one concurrency of one workload, over every round.
type Row struct {
	Workload    string
	Concurrency int
	Target      string
	Calls       uint64 // successful calls
	Errors      uint64
	FirstError  string `json:",omitempty"`
	PerSecond   float64
	P50         time.Duration
	P90         time.Duration
	P99         time.Duration
	Max         time.Duration
	// CPUPerCall is this process's CPU time per call: the load generator, the
	// upstream and, for in-process targets, the proxy or gateway.
	CPUPerCall time.Duration
	// ChildCPUPerCall is the child gateway's own CPU time per call (0 for
	// in-process targets).
	ChildCPUPerCall time.Duration
	// DBCPUPerCall is the CPU per call of the PostgreSQL server's processes
	// (every backend on the machine, read from /proc) while a target with a
	// PostgreSQL store ran; 0 for the others.
	DBCPUPerCall time.Duration `json:",omitempty"`
	// AllocsPerCall is this process's heap allocations per call.
	AllocsPerCall float64
	// RoundPerSecond, RoundP50, RoundP99 and RoundAllocs are per round, in order.
	RoundPerSecond []float64
	RoundP50       []time.Duration
	RoundP99       []time.Duration
	RoundAllocs    []float64
	Tools          int `json:",omitempty"` // tools in the last list result (tools/list)
	// AuditAppends and AuditAppendMean are the child gateway's own audit
	// appends during its phases and how long one took on average
	// (legant_audit_append_seconds, read before and after each phase);
	// zero for the other targets. With durable audit each call waits for
	// its allow record's append.
	AuditAppends    uint64        `json:",omitempty"`
	AuditAppendMean time.Duration `json:",omitempty"`
	// AuditEventsPerCommit is the events the child's durable writes of the
	// audit log carried each during its phases (legant_audit_commits_total
	// and legant_audit_committed_events_total): how well its appends were
	// group-committed. Zero when the child does not export them.
	AuditEventsPerCommit float64 `json:",omitempty"`
}

// Ratio compares a gateway with the bare proxy on one workload and concurrency.
type Ratio struct {
	Workload    string
	Concurrency int
	Gateway     string
	Baseline    string  // the proxy it is compared with: TargetProxyChild for a child gateway when measured, else TargetProxy
	Throughput  float64 // gateway ÷ proxy calls per second, over all rounds
	// RoundMedian, RoundMin and RoundMax are of the per-round ratios: each
	// compares two phases adjacent in time, so the median shrugs off a burst
	// of load from elsewhere that hit one phase only.
	RoundMedian float64
	RoundMin    float64
	RoundMax    float64
	AddedP50    time.Duration // gateway − proxy, over all rounds
	AddedP99    time.Duration
	// MedianAddedP50 and MedianAddedP99 are the medians of the per-round
	// differences (gateway − proxy of the same round).
	MedianAddedP50 time.Duration
	MedianAddedP99 time.Duration
	// AddedCPU is the gateway's CPU per call beyond the proxy's: this
	// process's difference for the in-process gateway; for a child, the
	// child's own CPU (plus its PostgreSQL server's) per call minus the
	// baseline's, plus the harness's difference.
	AddedCPU time.Duration
	// CPURatio is a child gateway's CPU per call (with its PostgreSQL
	// server's) ÷ the child proxy's; 0 when there is no child proxy.
	CPURatio    float64 `json:",omitempty"`
	AddedAllocs float64 // in-process gateway only: allocations per call beyond the proxy's
}

// ChildMemory is a child gateway's memory after the load phases.
type ChildMemory struct {
	Target string
	Memory
}

// Sessions is the idle-session memory measurement: through a child gateway
// (IdleRun) and, as its baseline, through the bare proxy child (Proxy).
type Sessions struct {
	Requested int
	NoFile    uint64   // RLIMIT_NOFILE in force
	Upstream  string   // how the child reaches the upstream: "h2c" or "HTTP/1.1"
	Client    string   // how the clients reach the child: "h2c" or "HTTP/1.1"
	IdleRun            // the child gateway's
	Proxy     *IdleRun `json:",omitempty"` // the bare proxy child's, with the same clients and a fresh upstream
}

// IdleRun is one child's idle sessions.
type IdleRun struct {
	Opened     int     // sessions with an open GET SSE stream at the measurement
	FirstError string  `json:",omitempty"`
	Before     Memory  // the fresh child, warmed up, before opening
	After      Memory  // with every session open
	PerSession float64 // (After.RSS − Before.RSS) ÷ Opened, bytes
	OpenTook   time.Duration
	// OpenCPU is the child's CPU time while the sessions opened, HarnessCPU
	// this process's (the clients and the upstream).
	OpenCPU, HarnessCPU time.Duration
	ChildFDs            int // the child's open descriptors with every session open
	// RuntimeBefore and RuntimeAfter are the child's runtime memory figures
	// before opening and with every session open (after a collection each;
	// only with --profile-dir, which has the child write them).
	RuntimeBefore, RuntimeAfter *RuntimeMem `json:",omitempty"`
}

// RuntimeMem is a child's Go runtime memory figures (runtime.MemStats),
// written by its --memprofile handler beside the heap profile.
type RuntimeMem struct {
	Goroutines uint64
	HeapAlloc  uint64 // live heap objects, bytes
	HeapInuse  uint64 // heap spans in use, bytes
	StackInuse uint64 // goroutine stacks, bytes
	Sys        uint64 // obtained from the OS, bytes
}

// Goal is a performance target and whether this run met it. Goals are
// reported, never asserted.
type Goal struct {
	Name     string
	Measured string
	Target   string
	Met      bool
}

// rowAcc accumulates the phases of one row.
type rowAcc struct {
	hist     Histogram
	errors   uint64
	firstErr error
	elapsed  time.Duration
	cpu      time.Duration
	child    time.Duration
	db       time.Duration
	mallocs  uint64
	rounds   []float64
	p50s     []time.Duration
	p99s     []time.Duration
	allocs   []float64
	checked  int
	// The child gateway's audit figures during the phases (auditAppends).
	audit auditFigures
}

func (a *rowAcc) add(ph *Phase) {
	a.hist.Merge(&ph.Hist)
	a.errors += ph.Errors
	if a.firstErr == nil {
		a.firstErr = ph.FirstErr
	}
	a.elapsed += ph.Elapsed
	a.cpu += ph.CPU
	a.child += ph.ChildCPU
	a.db += ph.DBCPU
	a.mallocs += ph.Mallocs
	a.rounds = append(a.rounds, perSecond(ph.Calls, ph.Elapsed))
	a.p50s = append(a.p50s, ph.Hist.Quantile(0.50))
	a.p99s = append(a.p99s, ph.Hist.Quantile(0.99))
	a.allocs = append(a.allocs, perCall(float64(ph.Mallocs), ph.Calls))
	a.checked = ph.Checked
}

func (a *rowAcc) row(workload string, conc int, tgt string) Row {
	n := a.hist.Count()
	r := Row{Workload: workload, Concurrency: conc, Target: tgt, Calls: n, Errors: a.errors,
		PerSecond: perSecond(n, a.elapsed),
		P50:       a.hist.Quantile(0.50), P90: a.hist.Quantile(0.90), P99: a.hist.Quantile(0.99), Max: a.hist.Max(),
		CPUPerCall: durPerCall(a.cpu, n), ChildCPUPerCall: durPerCall(a.child, n), DBCPUPerCall: durPerCall(a.db, n),
		AllocsPerCall: perCall(float64(a.mallocs), n), RoundPerSecond: a.rounds, RoundP50: a.p50s, RoundP99: a.p99s,
		RoundAllocs: a.allocs,
		Tools:       a.checked}
	if a.audit.appends > 0 {
		r.AuditAppends = uint64(a.audit.appends)
		r.AuditAppendMean = time.Duration(a.audit.appendSeconds / a.audit.appends * float64(time.Second))
	}
	if a.audit.commits > 0 {
		r.AuditEventsPerCommit = a.audit.committed / a.audit.commits
	}
	if a.firstErr != nil {
		r.FirstError = a.firstErr.Error()
	}
	return r
}

func perSecond(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func perCall(x float64, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return x / float64(n)
}

func durPerCall(d time.Duration, n uint64) time.Duration {
	if n == 0 {
		return 0
	}
	return d / time.Duration(n)
}

// ratios compares every gateway row with the proxy row of its workload and
// concurrency.
func ratios(rows []Row) []Ratio {
	type key struct {
		w string
		c int
	}
	proxy, childProxy := map[key]Row{}, map[key]Row{}
	for _, r := range rows {
		switch r.Target {
		case TargetProxy:
			proxy[key{r.Workload, r.Concurrency}] = r
		case TargetProxyChild:
			childProxy[key{r.Workload, r.Concurrency}] = r
		}
	}
	var out []Ratio
	for _, g := range rows {
		if !isGatewayName(g.Target) {
			continue
		}
		// Like with like: a child gateway against the child proxy (both
		// separate processes), the in-process gateway against the
		// in-process proxy.
		k := key{g.Workload, g.Concurrency}
		p, ok := proxy[k]
		if cp, cok := childProxy[k]; cok && g.Target != TargetGateway {
			p, ok = cp, true
		}
		if !ok || p.PerSecond == 0 {
			continue
		}
		out = append(out, compare(g, p))
	}
	return out
}

func compare(g, p Row) Ratio {
	r := Ratio{Workload: g.Workload, Concurrency: g.Concurrency, Gateway: g.Target, Baseline: p.Target,
		Throughput: g.PerSecond / p.PerSecond, AddedP50: g.P50 - p.P50, AddedP99: g.P99 - p.P99,
		AddedCPU: g.CPUPerCall + g.ChildCPUPerCall + g.DBCPUPerCall - p.CPUPerCall - p.ChildCPUPerCall}
	if p.Target == TargetProxyChild && p.ChildCPUPerCall > 0 {
		r.CPURatio = float64(g.ChildCPUPerCall+g.DBCPUPerCall) / float64(p.ChildCPUPerCall)
	}
	if g.Target == TargetGateway {
		r.AddedAllocs = g.AllocsPerCall - p.AllocsPerCall
	}
	var per []float64
	for i := range min(len(g.RoundPerSecond), len(p.RoundPerSecond)) {
		if p.RoundPerSecond[i] > 0 {
			per = append(per, g.RoundPerSecond[i]/p.RoundPerSecond[i])
		}
	}
	if len(per) > 0 {
		r.RoundMedian = median(per)
		r.RoundMin, r.RoundMax = slices.Min(per), slices.Max(per)
	}
	r.MedianAddedP50 = medianDiff(g.RoundP50, p.RoundP50)
	r.MedianAddedP99 = medianDiff(g.RoundP99, p.RoundP99)
	return r
}

// median returns the median of xs (not empty); xs is reordered.
func median[T float64 | time.Duration](xs []T) T {
	slices.Sort(xs)
	m := xs[len(xs)/2]
	if len(xs)%2 == 0 {
		m = (xs[len(xs)/2-1] + m) / 2
	}
	return m
}

// medianDiff returns the median of a[i] − b[i], or 0 without rounds.
func medianDiff(a, b []time.Duration) time.Duration {
	var d []time.Duration
	for i := range min(len(a), len(b)) {
		d = append(d, a[i]-b[i])
	}
	if len(d) == 0 {
		return 0
	}
	return median(d)
}

func isGatewayName(name string) bool {
	return name == TargetGateway || len(name) > len(TargetGateway) && name[:len(TargetGateway)+1] == TargetGateway+"+"
}

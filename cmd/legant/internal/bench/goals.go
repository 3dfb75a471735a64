package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The targets the gateway is held to (reported, not asserted).
const (
	// GoalConcurrency is where make bench-check holds the ratio, and where
	// the allocation goal is judged.
	GoalConcurrency = 16
	// GoalThroughputRatio is gateway ÷ bare proxy at each concurrency of
	// GoalRatioConcurrency measured, judged on the median of the per-round
	// ratios.
	GoalThroughputRatio = 0.85
	GoalSessionBytes    = 16 << 10 // RSS per idle session
	GoalSessions        = 10_000
	// GoalSessionsOpen bounds how long opening GoalSessions sessions (each
	// with its GET stream) may take; judged only on a run that opened that
	// many.
	GoalSessionsOpen = 10 * time.Second
	// GoalAllocGrowth bounds how much the gateway's allocations per call may
	// grow from the first round to the last (as a fraction).
	GoalAllocGrowth = 0.10
	// GoalCPURatio bounds a child gateway's CPU per call (with its
	// PostgreSQL server's) ÷ the child proxy's.
	GoalCPURatio = 1.5
)

// GoalRatioConcurrency are the concurrencies at which throughput and CPU
// are judged (issue #22: c = 1, 16 and 64).
var GoalRatioConcurrency = []int{1, 16, 64}

// GoalAddedP99 is gateway − bare proxy p99 by concurrency, judged on the
// median of the per-round differences: 1 ms at c=1, 2 ms at c=16 (issue #22).
var GoalAddedP99 = map[int]time.Duration{1: time.Millisecond, 16: 2 * time.Millisecond}

// goals evaluates the targets on a finished report.
func goals(rep *Report, concurrency []int) []Goal {
	c := GoalConcurrency
	if !slices.Contains(concurrency, c) {
		c = slices.Max(concurrency)
	}
	var out []Goal
	for _, r := range rep.Ratios {
		if r.Workload != WorkloadCallStateful || isAsyncName(r.Gateway) {
			continue
		}
		if slices.Contains(GoalRatioConcurrency, r.Concurrency) {
			out = append(out, Goal{
				Name:     fmt.Sprintf("%s throughput ÷ proxy, c=%d", r.Gateway, r.Concurrency),
				Measured: fmt.Sprintf("median %.2f (rounds %.2f–%.2f, all %.2f)", r.RoundMedian, r.RoundMin, r.RoundMax, r.Throughput),
				Target:   fmt.Sprintf("≥ %.2f", GoalThroughputRatio), Met: r.RoundMedian >= GoalThroughputRatio})
			if r.CPURatio > 0 {
				out = append(out, Goal{
					Name:     fmt.Sprintf("%s CPU per call ÷ child proxy, c=%d", r.Gateway, r.Concurrency),
					Measured: fmt.Sprintf("%.2f", r.CPURatio),
					Target:   fmt.Sprintf("≤ %.2f", GoalCPURatio), Met: r.CPURatio <= GoalCPURatio})
			}
		}
		if limit, ok := GoalAddedP99[r.Concurrency]; ok {
			out = append(out, Goal{
				Name:     fmt.Sprintf("%s p99 added, c=%d", r.Gateway, r.Concurrency),
				Measured: fmt.Sprintf("median %s (all rounds %s)", fmtSigned(r.MedianAddedP99), fmtSigned(r.AddedP99)),
				Target:   "≤ " + fmtDur(limit), Met: r.MedianAddedP99 <= limit})
		}
	}
	if g, ok := allocGoal(rep.Rows, c); ok {
		out = append(out, g)
	}
	for _, s := range rep.Sessions {
		if s.Opened == 0 {
			continue
		}
		var rss, took string // the bare proxy's, beside
		if p := s.Proxy; p != nil && p.Opened > 0 {
			rss = fmt.Sprintf(" (bare proxy %s)", fmtBytes(p.PerSession))
			took = fmt.Sprintf(" (bare proxy %s)", p.OpenTook.Round(10*time.Millisecond))
		}
		out = append(out, Goal{
			Name:     fmt.Sprintf("RSS per idle session (%d sessions with a GET stream, clients %s, upstream %s)", s.Opened, s.Client, s.Upstream),
			Measured: fmtBytes(s.PerSession) + rss, Target: fmt.Sprintf("≤ %s at %d sessions", fmtBytes(GoalSessionBytes), GoalSessions),
			Met: s.PerSession <= GoalSessionBytes})
		if s.Opened >= GoalSessions {
			out = append(out, Goal{
				Name:     fmt.Sprintf("%d sessions opened (clients %s, upstream %s)", s.Opened, s.Client, s.Upstream),
				Measured: s.OpenTook.Round(10*time.Millisecond).String() + took, Target: "≤ " + GoalSessionsOpen.String(),
				Met: s.OpenTook <= GoalSessionsOpen})
		}
	}
	return out
}

// allocGoal checks that the in-process gateway's allocations per call do not
// grow from round to round.
func allocGoal(rows []Row, c int) (Goal, bool) {
	for _, r := range rows {
		if r.Workload != WorkloadCallStateful || r.Concurrency != c || r.Target != TargetGateway || len(r.RoundAllocs) == 0 {
			continue
		}
		first, last := r.RoundAllocs[0], r.RoundAllocs[len(r.RoundAllocs)-1]
		return Goal{
			Name:     fmt.Sprintf("allocations per call, first → last round (process-wide, c=%d)", c),
			Measured: fmt.Sprintf("%.0f → %.0f", first, last),
			Target:   fmt.Sprintf("no growth beyond %.0f%%", GoalAllocGrowth*100),
			Met:      last <= first*(1+GoalAllocGrowth)}, true
	}
	return Goal{}, false
}

// isAsyncName reports whether a target is a child gateway measured with
// --audit-mode async (Options.AsyncAudit) or without the audit journal
// (Options.NoJournal): shown beside the default ones, never judged by the
// goals.
func isAsyncName(name string) bool {
	return strings.HasSuffix(name, "+"+auditAsync) || strings.HasSuffix(name, "+"+auditNoJournal)
}

// CheckRatio returns an error naming every gateway whose throughput ÷ its
// baseline proxy (the median of the per-round ratios, tools/call on a
// stateful session) is below min at concurrency c: `legant bench
// --check-ratio`, which `make bench-check` runs in CI. It judges a ratio
// measured in one run, never a wall-clock figure.
func (rep *Report) CheckRatio(min float64, c int) error {
	var low []string
	found := false
	for _, r := range rep.Ratios {
		if r.Workload != WorkloadCallStateful || r.Concurrency != c || isAsyncName(r.Gateway) {
			continue
		}
		found = true
		if r.RoundMedian < min {
			low = append(low, fmt.Sprintf("%s ÷ %s = %.2f", r.Gateway, r.Baseline, r.RoundMedian))
		}
	}
	switch {
	case !found:
		return fmt.Errorf("no gateway ratio measured at c=%d", c)
	case len(low) > 0:
		return fmt.Errorf("throughput below %.2f of the bare proxy at c=%d: %s", min, c, strings.Join(low, "; "))
	}
	return nil
}

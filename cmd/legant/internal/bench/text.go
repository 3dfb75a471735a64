package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the report as the tables docs/PERFORMANCE.md shows.
func (rep *Report) WriteText(w io.Writer) error {
	b := &strings.Builder{}
	rep.writeHeader(b)
	rep.writeRows(b)
	rep.writeRatios(b)
	rep.writeMemory(b)
	rep.writeGoals(b)
	_, err := io.WriteString(w, b.String())
	return err
}

func (rep *Report) writeHeader(b *strings.Builder) {
	m := rep.Machine
	fmt.Fprintf(b, "Legant performance harness, %s (took %s)\n", rep.Date.UTC().Format("2006-01-02 15:04 MST"), rep.Took.Round(time.Second))
	fmt.Fprintf(b, "machine: %s, %d cores (runtime.NumCPU %d, GOMAXPROCS %d), %s/%s, kernel %s, load average at start %s\n",
		m.Model, m.Cores, m.NumCPU, m.GOMAXPROCS, m.OS, m.Arch, m.Kernel, m.LoadAvg)
	fmt.Fprintf(b, "go: %s\n", m.GoVersion)
	if f := rep.Flush; f != nil {
		fmt.Fprintf(b, "disk: a 4 KiB write + fdatasync in %s (where the child gateways' stores are): p50 %s, p90 %s (%d writes back to back, before the load: the disk's best case), %s of CPU each\n",
			f.Dir, fmtDur(f.P50), fmtDur(f.P90), f.Writes, fmtDur(f.CPU))
		if d := f.Device; d != nil {
			b.WriteString("disk device: " + d.describe() + "\n")
		}
	}
	if rep.Command != "" {
		fmt.Fprintf(b, "command: %s\n", rep.Command)
	}
	for _, c := range rep.ChildCommands {
		fmt.Fprintf(b, "child: %s\n", c)
	}
	fmt.Fprintf(b, "method: %d rounds × %s per target, targets alternated (A B C …, start rotated each round), loopback only\n",
		rep.Rounds, rep.Phase)
	b.WriteString("targets:\n")
	for _, t := range rep.Targets {
		fmt.Fprintf(b, "  %-16s %s\n", t.Name, t.About)
	}
	b.WriteString("cpu/call: this process (load generator + upstream + in-process proxy or gateway); child cpu/call: the child process alone (proxy or gateway); db cpu/call: every postgres process of the machine\n")
}

func (rep *Report) writeRows(b *strings.Builder) {
	last := ""
	var tw *tabwriter.Writer
	for _, r := range rep.Rows {
		if r.Workload != last {
			if tw != nil {
				tw.Flush()
			}
			last = r.Workload
			fmt.Fprintf(b, "\n%s\n", r.Workload)
			tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "conc\ttarget\tcalls\terrors\tcalls/s\tp50\tp90\tp99\tmax\tcpu/call\tchild cpu/call\tdb cpu/call\tallocs/call\t")
		}
		child := "-"
		if r.ChildCPUPerCall > 0 {
			child = fmtDur(r.ChildCPUPerCall)
		}
		db := "-"
		if r.DBCPUPerCall > 0 {
			db = fmtDur(r.DBCPUPerCall)
		}
		target := r.Target
		if r.Tools > 0 {
			target = fmt.Sprintf("%s (%d tools)", r.Target, r.Tools)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t\n", r.Concurrency, target, r.Calls, r.Errors,
			r.PerSecond, fmtDur(r.P50), fmtDur(r.P90), fmtDur(r.P99), fmtDur(r.Max), fmtDur(r.CPUPerCall), child, db, r.AllocsPerCall)
	}
	if tw != nil {
		tw.Flush()
	}
	for _, r := range rep.Rows {
		if r.FirstError != "" {
			fmt.Fprintf(b, "first error, %s c=%d %s: %s\n", r.Workload, r.Concurrency, r.Target, r.FirstError)
		}
	}
}

func (rep *Report) writeRatios(b *strings.Builder) {
	if len(rep.Ratios) == 0 {
		return
	}
	b.WriteString("\ngateway vs bare proxy, same run (÷ proxy, +p50, +p99: over every round; median: of the per-round comparisons, each between adjacent phases)\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tconc\tgateway\tbaseline\t÷ proxy\tmedian\trounds\t+p50\tmedian\t+p99\tmedian\t+cpu/call\tcpu ×\t+allocs/call\t")
	for _, r := range rep.Ratios {
		allocs := "-"
		if r.Gateway == TargetGateway {
			allocs = fmt.Sprintf("%+.0f", r.AddedAllocs)
		}
		cpuX := "-"
		if r.CPURatio > 0 {
			cpuX = fmt.Sprintf("%.2f", r.CPURatio)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.2f\t%.2f\t%.2f–%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", shortWorkload(r.Workload), r.Concurrency, r.Gateway,
			r.Baseline, r.Throughput, r.RoundMedian, r.RoundMin, r.RoundMax, fmtSigned(r.AddedP50), fmtSigned(r.MedianAddedP50),
			fmtSigned(r.AddedP99), fmtSigned(r.MedianAddedP99), fmtSigned(r.AddedCPU), cpuX, allocs)
	}
	tw.Flush()
	rep.writeAuditAppends(b)
	rep.writeDurableBounds(b)
}

// writeAuditAppends gives each child gateway's own audit appends over its
// phases: how many per call (with durable audit one allow record per call;
// async, the queue's batches), how long one took, and how many events each
// of its durable writes carried (group commit; "-" when it does not say).
func (rep *Report) writeAuditAppends(b *strings.Builder) {
	var tw *tabwriter.Writer
	for _, r := range rep.Rows {
		if r.AuditAppends == 0 || r.Calls == 0 {
			continue
		}
		if tw == nil {
			b.WriteString("\nchild gateways' own audit appends over their phases (legant_audit_append_seconds)\n")
			tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "workload\tconc\ttarget\tappends/call\tmean append\tevents/commit\t")
		}
		perCommit := "-"
		if r.AuditEventsPerCommit > 0 {
			perCommit = fmt.Sprintf("%.2f", r.AuditEventsPerCommit)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.2f\t%s\t%s\t\n", shortWorkload(r.Workload), r.Concurrency, r.Target,
			float64(r.AuditAppends)/float64(r.Calls), fmtDur(r.AuditAppendMean), perCommit)
	}
	if tw != nil {
		tw.Flush()
	}
}

// writeDurableBounds says how far their own audit appends bound the child
// gateways with durable audit at c=1.
func (rep *Report) writeDurableBounds(b *strings.Builder) {
	bounds := rep.DurableBounds()
	if len(bounds) == 0 {
		return
	}
	b.WriteString("durable audit at c=1: each call waits for its allow record's append (the child's own legant_audit_append_seconds, mean over its phases), so however little else it adds a child gateway reaches at most\n")
	for _, d := range bounds {
		fmt.Fprintf(b, "  %s %s: append %s, at most %.2f of proxy+child\n", d.Gateway, shortWorkload(d.Workload), fmtDur(d.AppendMean), d.Bound)
	}
}

func (rep *Report) writeMemory(b *strings.Builder) {
	if len(rep.ChildMemory) > 0 {
		b.WriteString("\nchild gateway memory after the load phases\n")
		for _, m := range rep.ChildMemory {
			fmt.Fprintf(b, "  %-16s RSS %s, peak %s\n", m.Target, fmtBytes(float64(m.RSS)), fmtBytes(float64(m.Peak)))
		}
	}
	for _, s := range rep.Sessions {
		fmt.Fprintf(b, "\nidle sessions (fresh children, each in front of an upstream of its own; each session: initialize, notifications/initialized, open GET SSE stream)\n")
		fmt.Fprintf(b, "  clients → child: %s; child → upstream: %s; RLIMIT_NOFILE %d\n", s.Client, s.Upstream, s.NoFile)
		writeIdleRun(b, "`legant gateway` (SQLite store)", s.Requested, &s.IdleRun)
		if s.Proxy != nil {
			writeIdleRun(b, "bare proxy (`legant bench-proxy`)", s.Requested, s.Proxy)
			if s.Proxy.Opened > 0 && s.Proxy.PerSession > 0 && s.Proxy.OpenTook > 0 {
				fmt.Fprintf(b, "  gateway ÷ bare proxy: RSS per session %.2f×, time to open %.2f×", s.PerSession/s.Proxy.PerSession,
					s.OpenTook.Seconds()/s.Proxy.OpenTook.Seconds())
				if s.Proxy.OpenCPU > 0 {
					fmt.Fprintf(b, ", CPU per session %.2f×", s.OpenCPU.Seconds()/float64(s.Opened)/(s.Proxy.OpenCPU.Seconds()/float64(s.Proxy.Opened)))
				}
				b.WriteByte('\n')
			}
		}
	}
}

// writeIdleRun writes one child's idle sessions.
func writeIdleRun(b *strings.Builder, child string, requested int, r *IdleRun) {
	fmt.Fprintf(b, "  %s: opened %d of %d in %s", child, r.Opened, requested, r.OpenTook.Round(time.Millisecond))
	if r.Opened > 0 {
		fmt.Fprintf(b, ", its CPU %s per session (clients and upstream %s)", fmtDur(r.OpenCPU/time.Duration(r.Opened)),
			fmtDur(r.HarnessCPU/time.Duration(r.Opened)))
	}
	if r.FirstError != "" {
		fmt.Fprintf(b, " (stopped at: %s)", r.FirstError)
	}
	fmt.Fprintf(b, "\n    RSS before %s, after %s (peak %s): %s per session; the child holds %d descriptors\n", fmtBytes(float64(r.Before.RSS)),
		fmtBytes(float64(r.After.RSS)), fmtBytes(float64(r.After.Peak)), fmtBytes(r.PerSession), r.ChildFDs)
	if a, z := r.RuntimeBefore, r.RuntimeAfter; a != nil && z != nil && r.Opened > 0 {
		per := func(after, before uint64) string {
			return fmtBytes((float64(after) - float64(before)) / float64(r.Opened))
		}
		fmt.Fprintf(b, "    per session, Go runtime after a collection: live heap %s, heap spans %s, stacks %s, %.1f goroutines\n",
			per(z.HeapAlloc, a.HeapAlloc), per(z.HeapInuse, a.HeapInuse), per(z.StackInuse, a.StackInuse),
			(float64(z.Goroutines)-float64(a.Goroutines))/float64(r.Opened))
	}
}

func (rep *Report) writeGoals(b *strings.Builder) {
	if len(rep.Goals) == 0 {
		return
	}
	b.WriteString("\ntargets (reported, not asserted)\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "goal\tmeasured\ttarget\tmet\t")
	for _, g := range rep.Goals {
		met := "no"
		if g.Met {
			met = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", g.Name, g.Measured, g.Target, met)
	}
	tw.Flush()
}

func shortWorkload(w string) string {
	switch w {
	case WorkloadCallStateful:
		return "call/stateful"
	case WorkloadCallStateless:
		return "call/stateless"
	case WorkloadCallBudget:
		return "call/budget"
	case WorkloadList:
		return "list 200→20"
	}
	return w
}

// fmtDur prints a duration in µs or ms with three significant figures.
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < 10*time.Microsecond && d > -10*time.Microsecond:
		return fmt.Sprintf("%.2fµs", float64(d)/1e3)
	case d < time.Millisecond && d > -time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	case d < time.Second && d > -time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func fmtSigned(d time.Duration) string {
	if d >= 0 {
		return "+" + fmtDur(d)
	}
	return fmtDur(d)
}

func fmtBytes(n float64) string {
	switch {
	case n >= 1<<30 || n <= -(1<<30):
		return fmt.Sprintf("%.2f GiB", n/(1<<30))
	case n >= 1<<20 || n <= -(1<<20):
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10 || n <= -(1<<10):
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}

package bench

import (
	"context"
	"fmt"
	"strings"
)

// WorkloadNames are the workloads' short names, as Options.Workloads and
// the ratio table take them.
func WorkloadNames() []string {
	var names []string
	for _, wl := range workloads() {
		names = append(names, wl.short())
	}
	return names
}

// selectWorkloads returns the workloads named (short names), in the run's
// order; none named means all of them.
func selectWorkloads(names []string) ([]namedWorkload, error) {
	all := workloads()
	if len(names) == 0 {
		return all, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		known := false
		for _, wl := range all {
			if wl.short() == n {
				known = true
			}
		}
		if !known {
			return nil, fmt.Errorf("unknown workload %q (known: %s)", n, strings.Join(WorkloadNames(), ", "))
		}
		want[n] = true
	}
	var out []namedWorkload
	for _, wl := range all {
		if want[wl.short()] {
			out = append(out, wl)
		}
	}
	return out, nil
}

func (wl namedWorkload) short() string {
	if wl.name == WorkloadList {
		return "list"
	}
	return shortWorkload(wl.name)
}

// namedWorkload is a workload with its report name.
type namedWorkload struct {
	name string
	Workload
}

// workloads are what every run measures, in order.
func workloads() []namedWorkload {
	return []namedWorkload{
		{WorkloadCallStateful, Workload{Slug: SlugEcho, Method: "tools/call", Params: EchoParams}},
		{WorkloadCallStateless, Workload{Slug: SlugEchoStateless, Method: "tools/call", Params: EchoParams}},
		{WorkloadCallBudget, Workload{Slug: SlugEchoBudget, Method: "tools/call", Params: EchoBudgetParams}},
		{WorkloadList, Workload{Slug: SlugCatalog, Method: "tools/list", Params: "{}",
			Check: CountTools}},
	}
}

// runCell measures every target at concurrency c on one workload: clients
// initialized once, a warm-up, then o.Rounds rounds in which each target runs
// one phase in turn, the first target rotating from round to round. A child
// gateway's audit appends are read before and after each of its phases
// (outside the phase: the reads' CPU is not the calls').
func runCell(ctx context.Context, o Options, targets []*target, wl namedWorkload, c int) ([]Row, error) {
	pools := make([]*Pool, len(targets))
	defer func() {
		for _, p := range pools {
			if p != nil {
				p.Close(ctx)
			}
		}
	}()
	for i, t := range targets {
		p, err := NewPoolCPU(ctx, t.client, t.endpoint(wl.Slug), t.tokens[wl.Slug], c, t.childCPU(), t.dbCPU())
		if err != nil {
			return nil, fmt.Errorf("%s, %s: %w", wl.name, t.name, err)
		}
		pools[i] = p
		p.Run(ctx, wl.Workload, Stop{Duration: o.Warmup})
	}
	accs := make([]rowAcc, len(targets))
	for r := range o.Rounds {
		for k := range targets {
			i := (r + k) % len(targets)
			gw := targets[i].child
			if gw != nil && gw.proxy {
				gw = nil
			}
			var before auditFigures
			if gw != nil {
				var err error
				if before, err = gw.auditAppends(ctx); err != nil {
					return nil, fmt.Errorf("%s: %w", targets[i].name, err)
				}
			}
			accs[i].add(pools[i].Run(ctx, wl.Workload, Stop{Duration: o.Phase}))
			if gw != nil {
				after, err := gw.auditAppends(ctx)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", targets[i].name, err)
				}
				accs[i].audit.appendSeconds += after.appendSeconds - before.appendSeconds
				accs[i].audit.appends += after.appends - before.appends
				accs[i].audit.commits += after.commits - before.commits
				accs[i].audit.committed += after.committed - before.committed
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	rows := make([]Row, len(targets))
	var line strings.Builder
	for i, t := range targets {
		rows[i] = accs[i].row(wl.name, c, t.name)
		fmt.Fprintf(&line, " %s %.0f/s p99 %s;", t.name, rows[i].PerSecond, fmtDur(rows[i].P99))
	}
	o.logf("%s, c=%d:%s", wl.name, c, line.String())
	return rows, nil
}

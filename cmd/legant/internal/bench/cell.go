package bench

import (
	"context"
	"fmt"
	"strings"
)

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
// one phase in turn, the first target rotating from round to round.
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
			accs[i].add(pools[i].Run(ctx, wl.Workload, Stop{Duration: o.Phase}))
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

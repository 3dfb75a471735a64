package bench

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
)

// testTargets starts the bench upstreams and the in-process targets (direct,
// proxy, gateway) with their tokens.
func testTargets(t *testing.T) []*target {
	t.Helper()
	targets, _ := testTargetsKey(t)
	return targets
}

// testTargetsKey is testTargets, with the issuer key that signed the tokens.
func testTargetsKey(t *testing.T) ([]*target, *authority.Key) {
	t.Helper()
	up, err := listen(UpstreamHandler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.close)
	key, err := authority.GenerateEd25519Key("issuer-test")
	if err != nil {
		t.Fatal(err)
	}
	keys := authority.NewKeySet()
	keys.Add(key, time.Time{})
	proxy, err := newProxy(up.url, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.close)
	gw, err := newInProcessGateway(up.url, keys, 8, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.close)
	targets := []*target{newDirect(up.url, 8), proxy, gw}
	for _, tg := range targets {
		if err := tg.mintTokens(key, gw.base, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	return targets, key
}

func testPool(t *testing.T, tg *target, slug string, n int) *Pool {
	t.Helper()
	p, err := NewPool(context.Background(), tg.client, tg.endpoint(slug), tg.tokens[slug], n, nil)
	if err != nil {
		t.Fatalf("%s /%s: %v", tg.name, slug, err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// TestPoolRunsExactCallBudget: with a call budget, every target answers every
// call with a result, and each is counted once.
func TestPoolRunsExactCallBudget(t *testing.T) {
	for _, tg := range testTargets(t) {
		for _, wl := range workloads() {
			t.Run(tg.name+"/"+wl.Slug, func(t *testing.T) {
				p := testPool(t, tg, wl.Slug, 4)
				ph := p.Run(context.Background(), wl.Workload, Stop{Calls: 60})
				if ph.FirstErr != nil {
					t.Fatalf("first error: %v", ph.FirstErr)
				}
				if ph.Calls != 60 || ph.Errors != 0 || ph.Hist.Count() != 60 {
					t.Fatalf("calls %d errors %d histogram %d, want 60, 0, 60", ph.Calls, ph.Errors, ph.Hist.Count())
				}
				if ph.Elapsed <= 0 || ph.Mallocs == 0 || ph.Hist.Quantile(0.5) <= 0 {
					t.Fatalf("elapsed %v mallocs %d p50 %v: want all positive", ph.Elapsed, ph.Mallocs, ph.Hist.Quantile(0.5))
				}
			})
		}
	}
}

// TestPoolSeesTheFilteredCatalog: the gateway lists the 20 tools the token
// allows; direct and proxy the whole catalog.
func TestPoolSeesTheFilteredCatalog(t *testing.T) {
	want := map[string]int{TargetDirect: CatalogTools, TargetProxy: CatalogTools, TargetGateway: CatalogAllowed}
	list := workloads()[3]
	if list.name != WorkloadList {
		t.Fatalf("workloads()[3] is %q", list.name)
	}
	for _, tg := range testTargets(t) {
		ph := testPool(t, tg, SlugCatalog, 1).Run(context.Background(), list.Workload, Stop{Calls: 3})
		if ph.Errors != 0 || ph.Checked != want[tg.name] {
			t.Errorf("%s: %d tools, %d errors (%v); want %d tools", tg.name, ph.Checked, ph.Errors, ph.FirstErr, want[tg.name])
		}
	}
}

// TestPoolCountsFailures: a call the gateway denies and one the upstream
// refuses are errors, not results, and are not in the latency histogram.
func TestPoolCountsFailures(t *testing.T) {
	targets := testTargets(t)
	bad := Workload{Slug: SlugEcho, Method: "tools/call", Params: `{"name":"nope","arguments":{}}`}
	for _, tg := range []*target{targets[0], targets[2]} {
		ph := testPool(t, tg, SlugEcho, 2).Run(context.Background(), bad, Stop{Calls: 10})
		var re *RPCError
		if ph.Calls != 0 || ph.Errors != 10 || !errors.As(ph.FirstErr, &re) {
			t.Errorf("%s: calls %d errors %d first %v; want 0, 10 and a JSON-RPC error", tg.name, ph.Calls, ph.Errors, ph.FirstErr)
		}
	}
}

// TestBudgetWorkloadIsMetered: the budgeted workload's calls go through the
// ledger — with a budget of 3 USD instead of the bench's, a gateway allows
// three calls of 1 USD and refuses the rest (budget), while the proxy, which
// knows no budgets, forwards all five.
func TestBudgetWorkloadIsMetered(t *testing.T) {
	targets, key := testTargetsKey(t)
	wl := workloads()[2]
	if wl.name != WorkloadCallBudget {
		t.Fatalf("workloads()[2] is %q", wl.name)
	}
	gw, proxy := targets[2], targets[1]
	tok, err := Token(key, TokenOptions{Audience: audience(gw.base, SlugEchoBudget),
		Budget: &authority.Money{Value: authority.MustDecimal("3"), Currency: "USD"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPool(context.Background(), gw.client, gw.endpoint(SlugEchoBudget), tok, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	ph := p.Run(context.Background(), wl.Workload, Stop{Calls: 5})
	var re *RPCError
	if ph.Calls != 3 || ph.Errors != 2 || !errors.As(ph.FirstErr, &re) || !strings.Contains(re.Error(), "budget") {
		t.Fatalf("gateway: %d calls, %d errors (%v); want 3 allowed, 2 refused for the budget", ph.Calls, ph.Errors, ph.FirstErr)
	}
	if ph := testPool(t, proxy, SlugEchoBudget, 1).Run(context.Background(), wl.Workload, Stop{Calls: 5}); ph.Calls != 5 || ph.Errors != 0 {
		t.Fatalf("proxy: %d calls, %d errors (%v); want 5, 0", ph.Calls, ph.Errors, ph.FirstErr)
	}
}

func TestNewPoolRefusedByGateway(t *testing.T) {
	gw := testTargets(t)[2]
	// The catalog token's audience is not the echo upstream's.
	_, err := NewPool(context.Background(), gw.client, gw.endpoint(SlugEcho), gw.tokens[SlugCatalog], 2, nil)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want an HTTP 401", err)
	}
}

func TestRatiosAndGoals(t *testing.T) {
	row := func(target string, conc int, perSec float64, rounds []float64, p99 time.Duration) Row {
		return Row{Workload: WorkloadCallStateful, Concurrency: conc, Target: target, PerSecond: perSec,
			RoundPerSecond: rounds, P50: p99 / 2, P99: p99, RoundAllocs: []float64{100, 104},
			RoundP50: []time.Duration{p99 / 2, p99 / 2}, RoundP99: []time.Duration{p99 - time.Millisecond, p99 + time.Millisecond}}
	}
	rep := &Report{Rows: []Row{
		row(TargetDirect, 16, 2000, []float64{2000, 2000}, time.Millisecond),
		row(TargetProxy, 16, 1000, []float64{1000, 1000}, 2*time.Millisecond),
		row(TargetGateway, 16, 900, []float64{800, 1000}, 2500*time.Microsecond),
		row("gateway+sqlite", 16, 500, []float64{500, 500}, 5*time.Millisecond),
		row("gateway+postgres", 16, 860, []float64{860, 860}, 3500*time.Microsecond), // +1.5 ms: within c=16's 2 ms
		row(TargetProxy, 1, 100, []float64{100}, time.Millisecond),
		row(TargetGateway, 1, 90, []float64{90}, 1500*time.Microsecond),
	}, Sessions: []*Sessions{
		{IdleRun: IdleRun{Opened: 10000, PerSession: 12 << 10, OpenTook: 9 * time.Second}, Client: ProtoH2C, Upstream: ProtoH2C,
			Proxy: &IdleRun{Opened: 10000, PerSession: 10 << 10, OpenTook: 5 * time.Second}},
		{IdleRun: IdleRun{Opened: 10000, PerSession: 20 << 10, OpenTook: 11 * time.Second}, Client: ProtoHTTP1, Upstream: ProtoH2C}}}
	rep.Ratios = ratios(rep.Rows)
	if len(rep.Ratios) != 4 {
		t.Fatalf("%d ratios, want 4 (three gateways at c=16, one at c=1): %+v", len(rep.Ratios), rep.Ratios)
	}
	r := rep.Ratios[0]
	if r.Gateway != TargetGateway || r.Throughput != 0.9 || r.RoundMin != 0.8 || r.RoundMax != 1 || r.RoundMedian != 0.9 ||
		r.AddedP99 != 500*time.Microsecond || r.AddedP50 != 250*time.Microsecond ||
		r.MedianAddedP99 != 500*time.Microsecond || r.MedianAddedP50 != 250*time.Microsecond {
		t.Fatalf("ratio = %+v", r)
	}
	met := map[string]bool{}
	for _, g := range goals(rep, []int{1, 16}) {
		met[g.Name] = g.Met
	}
	want := map[string]bool{
		"gateway throughput ÷ proxy, c=16":                                                        true,
		"gateway p99 added, c=16":                                                                 true,
		"gateway+sqlite throughput ÷ proxy, c=16":                                                 false,
		"gateway+sqlite p99 added, c=16":                                                          false,
		"gateway+postgres throughput ÷ proxy, c=16":                                               true,
		"gateway+postgres p99 added, c=16":                                                        true,
		"gateway throughput ÷ proxy, c=1":                                                         true,
		"gateway p99 added, c=1":                                                                  true,
		"allocations per call, first → last round (process-wide, c=16)":                           true,
		"RSS per idle session (10000 sessions with a GET stream, clients h2c, upstream h2c)":      true,
		"RSS per idle session (10000 sessions with a GET stream, clients HTTP/1.1, upstream h2c)": false,
		"10000 sessions opened (clients h2c, upstream h2c)":                                       true,
		"10000 sessions opened (clients HTTP/1.1, upstream h2c)":                                  false,
	}
	for name, w := range want {
		if got, ok := met[name]; !ok || got != w {
			t.Errorf("goal %q: met %v (present %v), want %v", name, got, ok, w)
		}
	}
	if len(met) != len(want) {
		t.Errorf("goals %v, want exactly %v", met, want)
	}
}

// TestSettleWaitsForDeferredWork: a phase's settling lasts while the
// target's CPU keeps growing (a child applying its journal after the load)
// and ends within a tick or two once it stops; it gives up after max.
func TestSettleWaitsForDeferredWork(t *testing.T) {
	var mu sync.Mutex
	busyUntil := time.Now().Add(300 * time.Millisecond)
	var used time.Duration
	last := time.Now()
	cpu := func() time.Duration { // a process busy on one core until busyUntil
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if last.Before(busyUntil) {
			end := now
			if end.After(busyUntil) {
				end = busyUntil
			}
			used += end.Sub(last)
		}
		last = now
		return used.Truncate(clockTick)
	}
	start := time.Now()
	settle(context.Background(), cpu, 20*time.Millisecond, 5*time.Second)
	if took := time.Since(start); took < 300*time.Millisecond || took > 2*time.Second {
		t.Fatalf("settled after %v; the work went on for 300ms", took)
	}
	start = time.Now()
	settle(context.Background(), func() time.Duration { return time.Since(start) }, 20*time.Millisecond, 200*time.Millisecond)
	if took := time.Since(start); took < 200*time.Millisecond || took > time.Second {
		t.Fatalf("a process that never goes quiet: settled after %v, want the 200ms cap", took)
	}
}

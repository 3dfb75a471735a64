package bench

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/issuer/store/storetest"
)

// buildLegant builds the legant binary the child gateways run.
func buildLegant(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the smoke test builds legant: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "legant")
	out, err := exec.Command(goBin, "build", "-o", bin, "github.com/openlegant/legant/cmd/legant").CombinedOutput()
	if err != nil {
		t.Fatalf("go build legant: %v\n%s", err, out)
	}
	return bin
}

// TestRunQuickSmoke runs the whole harness with tiny phases: every workload,
// concurrency and target gets a row with calls and no errors, the gateways
// get ratios, the idle sessions all open, and the text report names them all.
func TestRunQuickSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds legant and runs child gateways")
	}
	o := Options{LegantBinary: buildLegant(t), Quick: true, Rounds: 2, Phase: 200 * time.Millisecond,
		Concurrency: []int{1, 4}, Sessions: 50, Settle: time.Millisecond, Command: "go test ./bench -run Smoke",
		ProfileDir: t.TempDir()}
	targets := []string{TargetDirect, TargetProxy, TargetGateway, TargetProxyChild, "gateway+sqlite"}
	for _, b := range storetest.Backends(t) {
		if b.Postgres() {
			o.DatabaseURL = b.Options(t).DatabaseURL
			targets = append(targets, "gateway+postgres")
		}
	}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, rep, targets)
	if got, want := len(rep.Ratios), (len(targets)-3)*7; got != want {
		t.Errorf("%d ratios, want %d (each gateway × 3 call workloads × 2 concurrencies + list)", got, want)
	}
	for _, r := range rep.Ratios {
		want := TargetProxyChild // like with like: a child process against a child process
		if r.Gateway == TargetGateway {
			want = TargetProxy
		}
		if r.Baseline != want {
			t.Errorf("%s %s c=%d compared with %q, want %q", r.Gateway, r.Workload, r.Concurrency, r.Baseline, want)
		}
		// CPU is read in 10 ms ticks: only the call workloads are long
		// enough in a smoke run for the child proxy's CPU to register.
		if r.Gateway != TargetGateway && r.Workload == WorkloadCallStateful && r.CPURatio <= 0 {
			t.Errorf("%s %s c=%d: no CPU ratio against the child proxy", r.Gateway, r.Workload, r.Concurrency)
		}
	}
	// The disk before the load; the child gateways' own appends around
	// each phase: at c=1 with durable audit, one allow record per call at
	// least; from them the bound at c=1, for each child gateway.
	if f := rep.Flush; f == nil || f.Writes != flushWrites || f.P50 <= 0 {
		t.Errorf("flush probe = %+v", f)
	}
	for _, r := range rep.Rows {
		if strings.HasPrefix(r.Target, "gateway+") && r.Workload == WorkloadCallStateful && r.Concurrency == 1 &&
			(r.AuditAppends < r.Calls || r.AuditAppendMean <= 0) {
			t.Errorf("%s c=1: %d audit appends (mean %s) for %d calls", r.Target, r.AuditAppends, r.AuditAppendMean, r.Calls)
		}
	}
	if got, want := len(rep.DurableBounds()), 2*(len(targets)-4); got != want {
		t.Errorf("%d durable bounds at c=1, want %d (each child gateway × call/stateful and call/stateless)", got, want)
	}
	for _, r := range rep.Rows { // every allowed call is audited in PostgreSQL
		if r.Target == "gateway+postgres" && r.Workload == WorkloadCallStateful && r.DBCPUPerCall <= 0 {
			t.Errorf("gateway+postgres %s c=%d: PostgreSQL CPU per call not measured", r.Workload, r.Concurrency)
		}
	}
	if len(rep.Sessions) != 2 {
		t.Fatalf("%d idle-session measurements, want 2 (HTTP/1.1 and h2c clients)", len(rep.Sessions))
	}
	for _, s := range rep.Sessions {
		if s.Opened != 50 || s.Before.RSS <= 0 || s.After.RSS <= 0 || s.FirstError != "" || s.Upstream != ProtoH2C || s.OpenTook <= 0 {
			t.Errorf("sessions = %+v, want 50 opened with RSS read, upstream h2c", s)
		}
		// The baseline: the same sessions through the bare proxy child.
		if p := s.Proxy; p == nil || p.Opened != 50 || p.Before.RSS <= 0 || p.After.RSS <= 0 || p.FirstError != "" || p.OpenTook <= 0 {
			t.Errorf("sessions through the bare proxy (clients %s) = %+v, want 50 opened with RSS read", s.Client, p)
		}
		// With --profile-dir both children report their runtime's figures,
		// and every open stream holds a goroutine or more.
		for _, r := range []*IdleRun{&s.IdleRun, s.Proxy} {
			if r == nil || r.RuntimeBefore == nil || r.RuntimeAfter == nil || r.RuntimeAfter.StackInuse == 0 ||
				r.RuntimeAfter.Goroutines < r.RuntimeBefore.Goroutines+50 {
				t.Errorf("sessions (clients %s): runtime figures %+v", s.Client, r)
			}
		}
	}
	// HTTP/1.1 clients hold a connection per open GET stream; h2c clients
	// share a few (the upstream leg is h2c in both), with the gateway and with
	// the bare proxy alike.
	h1, h2 := rep.Sessions[0], rep.Sessions[1]
	if h1.Client != ProtoHTTP1 || h2.Client != ProtoH2C || h1.ChildFDs < 50 || h2.ChildFDs > h1.ChildFDs-40 {
		t.Errorf("child descriptors with 50 sessions: %s clients %d, %s clients %d; want ≥ 50 and ≥ 40 fewer",
			h1.Client, h1.ChildFDs, h2.Client, h2.ChildFDs)
	}
	if h1.Proxy != nil && h2.Proxy != nil && (h1.Proxy.ChildFDs < 50 || h2.Proxy.ChildFDs > h1.Proxy.ChildFDs-40) {
		t.Errorf("bare proxy descriptors with 50 sessions: %s clients %d, %s clients %d; want ≥ 50 and ≥ 40 fewer",
			h1.Client, h1.Proxy.ChildFDs, h2.Client, h2.Proxy.ChildFDs)
	}
	// The load phases' children but the in-process targets; two children
	// per idle-session measurement.
	if len(rep.ChildMemory) != len(targets)-3 || len(rep.ChildCommands) != len(targets)-3+2*len(rep.Sessions) {
		t.Errorf("child memory %d, child commands %d", len(rep.ChildMemory), len(rep.ChildCommands))
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range append(targets, WorkloadCallStateful, WorkloadCallStateless, WorkloadCallBudget, WorkloadList,
		"gateway vs bare proxy", "idle sessions", "bare proxy (`legant bench-proxy`): opened 50 of 50", "gateway ÷ bare proxy: RSS per session", "targets (reported, not asserted)", "command: go test", "child: ") {
		if !strings.Contains(text.String(), s) {
			t.Errorf("report does not mention %q:\n%s", s, text.String())
		}
	}
	t.Logf("\n%s", text.String())
}

func checkRows(t *testing.T, rep *Report, targets []string) {
	t.Helper()
	type key struct {
		w, target string
		c         int
	}
	seen := map[key]Row{}
	for _, r := range rep.Rows {
		seen[key{r.Workload, r.Target, r.Concurrency}] = r
	}
	want := 0
	for _, w := range []string{WorkloadCallStateful, WorkloadCallStateless, WorkloadCallBudget, WorkloadList} {
		conc := []int{1, 4}
		if w == WorkloadList {
			conc = []int{1}
		}
		for _, c := range conc {
			for _, tg := range targets {
				want++
				r, ok := seen[key{w, tg, c}]
				switch {
				case !ok:
					t.Errorf("no row for %s c=%d %s", w, c, tg)
				case r.Calls == 0 || r.Errors != 0 || r.PerSecond <= 0 || r.P50 <= 0 || r.P99 < r.P50 || len(r.RoundPerSecond) != 2:
					t.Errorf("row %s c=%d %s: %+v", w, c, tg, r)
				// CPU is read in 10 ms ticks: the list workload's few calls may
				// round to none on a loaded machine.
				case strings.HasPrefix(tg, "gateway+") && w != WorkloadList && r.ChildCPUPerCall <= 0:
					t.Errorf("row %s c=%d %s: no child CPU measured", w, c, tg)
				}
			}
		}
	}
	if len(rep.Rows) != want {
		t.Errorf("%d rows, want %d", len(rep.Rows), want)
	}
}

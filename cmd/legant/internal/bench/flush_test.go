package bench

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMeasureFlush: the probe times every write it was asked for, in the
// directory given, and leaves nothing behind.
func TestMeasureFlush(t *testing.T) {
	dir := t.TempDir()
	f, err := measureFlush(dir, 20)
	if err != nil {
		t.Fatal(err)
	}
	if f.Writes != 20 || f.Dir != dir || f.P50 <= 0 || f.P90 < f.P50 {
		t.Fatalf("flush probe = %+v", f)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("the probe left %v", left)
	}
}

// TestMeasurePacedFlush: the paced probe pauses before every write (its
// run takes at least writes × gap) and reports the distribution and mean.
func TestMeasurePacedFlush(t *testing.T) {
	dir := t.TempDir()
	const n, gap = 10, 2 * time.Millisecond
	start := time.Now()
	p, err := measurePacedFlush(dir, n, gap)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < n*gap {
		t.Fatalf("%d paced writes took %s, less than %d pauses of %s", n, took, n, gap)
	}
	if p.Writes != n || p.Gap != gap || p.P50 <= 0 || p.P90 < p.P50 || p.Mean <= 0 {
		t.Fatalf("paced probe = %+v", p)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("the probe left %v", left)
	}
}

// TestFlushBound: with the child proxy at 1,000 calls/s (1 ms a call) and a
// 250 µs flush, a durable gateway reaches at most 1 ÷ 1.25 = 0.80 at c=1;
// the report says so for each call workload with a child proxy at c=1.
func TestFlushBound(t *testing.T) {
	rep := &Report{Flush: &Flush{Dir: "/tmp/x", Writes: 200, P50: 250 * time.Microsecond, P90: 400 * time.Microsecond},
		Rows: []Row{
			{Workload: WorkloadCallStateful, Concurrency: 1, Target: TargetProxyChild, PerSecond: 1000},
			{Workload: WorkloadCallStateful, Concurrency: 16, Target: TargetProxyChild, PerSecond: 4000},
			{Workload: WorkloadCallStateless, Concurrency: 1, Target: TargetProxy, PerSecond: 2000},
		}}
	if got := rep.FlushBound(WorkloadCallStateful); got < 0.7999 || got > 0.8001 {
		t.Fatalf("bound %v, want 0.80", got)
	}
	if got := rep.FlushBound(WorkloadCallStateless); got != 0 {
		t.Fatalf("bound %v without a child proxy at c=1, want 0", got)
	}
	var b strings.Builder
	rep.writeFlushBound(&b)
	if !strings.Contains(b.String(), "at most 0.80 (call/stateful) of proxy+child at c=1") || strings.Contains(b.String(), "stateless") {
		t.Fatalf("report line: %q", b.String())
	}
	// With the paced probe, the bound takes its mean: 1 ÷ 1.5 = 0.67; the
	// gap the probe pauses is the child proxy's call at c=1.
	if gap := rep.pacedFlushGap(); gap != time.Millisecond {
		t.Fatalf("paced gap %s, want the child proxy's call at c=1, 1ms", gap)
	}
	rep.Flush.Paced = &PacedFlush{Gap: time.Millisecond, Writes: 400, P50: 300 * time.Microsecond, P90: 900 * time.Microsecond, Mean: 500 * time.Microsecond}
	if got := rep.FlushBound(WorkloadCallStateful); got < 0.666 || got > 0.667 {
		t.Fatalf("bound %v with a paced mean of 500µs, want 0.67", got)
	}
	b.Reset()
	rep.writeFlushBound(&b)
	if !strings.Contains(b.String(), "(mean 500µs on this disk when it follows the previous one by a call)") || !strings.Contains(b.String(), "at most 0.67 (call/stateful)") {
		t.Fatalf("report line: %q", b.String())
	}
	rep.Flush = nil
	if got := rep.FlushBound(WorkloadCallStateful); got != 0 {
		t.Fatalf("bound %v without a flush probe, want 0", got)
	}
}

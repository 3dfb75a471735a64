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

// TestDurableBounds: with the child proxy at 1,000 calls/s at c=1 (1 ms a
// call) and a durable child's allow records appended in 250 µs on average,
// that child reaches at most 1 ÷ 1.25 = 0.80; an async child and a child
// without append figures get no bound, nor a workload without a child
// proxy at c=1; the report names each bound.
func TestDurableBounds(t *testing.T) {
	rep := &Report{Rows: []Row{
		{Workload: WorkloadCallStateful, Concurrency: 1, Target: TargetProxyChild, PerSecond: 1000},
		{Workload: WorkloadCallStateful, Concurrency: 1, Target: "gateway+sqlite", Calls: 700, PerSecond: 700, AuditAppends: 700, AuditAppendMean: 250 * time.Microsecond},
		{Workload: WorkloadCallStateful, Concurrency: 1, Target: "gateway+postgres", PerSecond: 500, AuditAppends: 500, AuditAppendMean: time.Millisecond},
		{Workload: WorkloadCallStateful, Concurrency: 1, Target: "gateway+sqlite+async", Calls: 900, PerSecond: 900, AuditAppends: 9, AuditAppendMean: 300 * time.Microsecond},
		{Workload: WorkloadCallStateful, Concurrency: 16, Target: "gateway+sqlite", Calls: 3000, PerSecond: 3000, AuditAppends: 3000, AuditAppendMean: 900 * time.Microsecond, AuditEventsPerCommit: 2.5},
		{Workload: WorkloadCallStateful, Concurrency: 1, Target: TargetGateway, PerSecond: 900},
		{Workload: WorkloadCallStateless, Concurrency: 1, Target: "gateway+sqlite", PerSecond: 700, AuditAppends: 700, AuditAppendMean: 250 * time.Microsecond},
	}}
	got := rep.DurableBounds()
	if len(got) != 2 || got[0].Gateway != "gateway+sqlite" || got[1].Gateway != "gateway+postgres" {
		t.Fatalf("bounds %+v, want gateway+sqlite and gateway+postgres on call/stateful", got)
	}
	if b := got[0].Bound; b < 0.7999 || b > 0.8001 {
		t.Fatalf("gateway+sqlite bound %v, want 0.80", b)
	}
	if b := got[1].Bound; b < 0.4999 || b > 0.5001 {
		t.Fatalf("gateway+postgres bound %v, want 0.50", b)
	}
	var b strings.Builder
	rep.writeDurableBounds(&b)
	for _, want := range []string{"gateway+sqlite call/stateful: append 250µs, at most 0.80 of proxy+child", "gateway+postgres call/stateful: append 1.00ms, at most 0.50"} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("report %q lacks %q", b.String(), want)
		}
	}
	if strings.Contains(b.String(), "async") || strings.Contains(b.String(), "stateless") {
		t.Fatalf("report %q bounds an async child or a workload without a child proxy", b.String())
	}
	b.Reset()
	rep.writeAuditAppends(&b)
	lines := map[string]bool{}
	for _, l := range strings.Split(b.String(), "\n") {
		lines[strings.Join(strings.Fields(l), " ")] = true
	}
	for _, want := range []string{"call/stateful 1 gateway+sqlite+async 0.01 300µs -", "call/stateful 16 gateway+sqlite 1.00 900µs 2.50",
		"call/stateful 1 gateway+sqlite 1.00 250µs -"} {
		if !lines[want] {
			t.Fatalf("appends table %q lacks the row %q", b.String(), want)
		}
	}
}

// TestParseAuditAppends reads the append histogram's sum and count and the
// commit counters from a child's /metrics, takes an exposition without the
// counters (an older binary) and refuses one without the histogram.
func TestParseAuditAppends(t *testing.T) {
	text := `# HELP legant_audit_append_seconds Duration of one batch append to the audit log.
# TYPE legant_audit_append_seconds histogram
legant_audit_append_seconds_bucket{le="0.0005"} 10
legant_audit_append_seconds_bucket{le="+Inf"} 12
legant_audit_append_seconds_sum 0.0042
legant_audit_append_seconds_count 12
legant_audit_append_errors_total 0
`
	counters := `# TYPE legant_audit_commits_total counter
legant_audit_commits_total 5
# TYPE legant_audit_committed_events_total counter
legant_audit_committed_events_total 14
`
	a, err := parseAuditAppends(strings.NewReader(text + counters))
	if want := (auditFigures{appendSeconds: 0.0042, appends: 12, commits: 5, committed: 14}); err != nil || a != want {
		t.Fatalf("parse = %+v, %v; want %+v", a, err, want)
	}
	a, err = parseAuditAppends(strings.NewReader(text))
	if want := (auditFigures{appendSeconds: 0.0042, appends: 12}); err != nil || a != want {
		t.Fatalf("parse without the counters = %+v, %v; want %+v", a, err, want)
	}
	if _, err := parseAuditAppends(strings.NewReader("legant_sessions 3\n")); err == nil {
		t.Fatal("an exposition without the histogram parsed")
	}
}

// TestBlockDeviceDescribe: the report says what a disk without FUA does
// with a durable write, and what the probe counted.
func TestBlockDeviceDescribe(t *testing.T) {
	d := &BlockDevice{Name: "vda", WriteCache: "write back", FlushesPer: 1.02}
	want := `vda, write cache "write back", no FUA: every durable write is the write and then a flush of the device's cache; the probe's writes cost it 1.02 cache flushes each`
	if got := d.describe(); got != want {
		t.Fatalf("describe() = %q, want %q", got, want)
	}
	d.FUA = true
	if got := d.describe(); !strings.Contains(got, "takes FUA writes") {
		t.Fatalf("describe() = %q for a FUA disk", got)
	}
}

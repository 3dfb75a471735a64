package bench

import (
	"strings"
	"testing"
	"time"
)

// TestRatiosLikeWithLike: a child gateway is compared with the child proxy,
// the in-process gateway with the in-process proxy, and CheckRatio fails
// exactly when a gateway's median round ratio is below the minimum.
func TestRatiosLikeWithLike(t *testing.T) {
	row := func(target string, perSec float64, childCPU int64) Row {
		return Row{Workload: WorkloadCallStateful, Concurrency: 16, Target: target, PerSecond: perSec,
			RoundPerSecond: []float64{perSec, perSec, perSec}, ChildCPUPerCall: time.Duration(childCPU)}
	}
	rows := []Row{row(TargetProxy, 3000, 0), row(TargetProxyChild, 2000, 100), row(TargetGateway, 2700, 0),
		row("gateway+sqlite", 1700, 140)}
	rep := &Report{Rows: rows, Ratios: ratios(rows)}
	got := map[string]Ratio{}
	for _, r := range rep.Ratios {
		got[r.Gateway] = r
	}
	if r := got[TargetGateway]; r.Baseline != TargetProxy || r.RoundMedian != 0.9 {
		t.Errorf("in-process gateway: %+v, want baseline proxy and 0.90", r)
	}
	if r := got["gateway+sqlite"]; r.Baseline != TargetProxyChild || r.RoundMedian != 0.85 || r.CPURatio != 1.4 {
		t.Errorf("child gateway: %+v, want baseline proxy+child, 0.85, cpu 1.40", r)
	}
	if err := rep.CheckRatio(0.80, 16); err != nil {
		t.Errorf("CheckRatio(0.80) = %v, want nil", err)
	}
	err := rep.CheckRatio(0.88, 16)
	if err == nil || !strings.Contains(err.Error(), "gateway+sqlite ÷ proxy+child = 0.85") || strings.Contains(err.Error(), "gateway ÷ proxy =") {
		t.Errorf("CheckRatio(0.88) = %v, want only gateway+sqlite named", err)
	}
	if err := rep.CheckRatio(0.80, 64); err == nil {
		t.Error("CheckRatio at an unmeasured concurrency must fail")
	}
}

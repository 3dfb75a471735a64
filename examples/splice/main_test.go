package main

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDemo runs the demo and holds every decision it narrates to this list.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := run(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// The payroll audience names the gateway's port, which changes per run.
	for i, d := range got {
		if len(d) > 15 && d[:15] == "widen audience:" {
			got[i] = "widen audience: (checked by run)"
		}
	}
	want := []string{
		"widen tools: tools: tools [refund, search_expenses] are not all granted by the parent's [search_expenses, submit_expense]",
		"widen audience: (checked by run)",
		"researcher's max_amount, clamped: 500 USD",
		"researcher's budget, clamped: 2000 USD",
		`widen scope: scope: scope "finance:admin" is not granted by the parent token`,
		`cycle: actor: actor "planner" is already in the chain agent:planner → agent:researcher (cycle)`,
		"executor's provenance: user:alice → agent:planner → agent:researcher → agent:executor",
		"executor submits 150 travel: allow",
		"executor submits 300 travel: deny max_amount",
		"executor submits 50 meals: deny category",
		"executor searches: deny insufficient_scope",
		"upstream's view of the executor's call: user:alice → agent:planner → agent:researcher → agent:executor → agent:legant-gateway",
		"researcher searches: allow",
		"upstream's view of the researcher's call: user:alice → agent:planner → agent:researcher → agent:legant-gateway",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
}

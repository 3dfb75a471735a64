package main

import (
	"testing"

	"github.com/openlegant/legant/examples/internal/demotest"
)

// TestDemo runs the demo and holds every decision it narrates to this list:
// exactly the budget spent under concurrency, the rest refused for budget,
// and the upstream, the ledger and the audit log in agreement.
func TestDemo(t *testing.T) {
	demotest.Decisions(t, run, []string{
		"a refusal: denied: spending would reach 110, over budget 100",
		"calls allowed: 10",
		"calls refused: map[deny budget:10]",
		"upstream total: 10 calls, 100 USD",
		"ledger: 100 USD, 10 calls",
		"audit: 10 allows, 100 USD; 10 denies map[budget:10]",
	})
}

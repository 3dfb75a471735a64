package main

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDemo runs the demo and holds every decision it narrates to this list:
// exactly the budget spent under concurrency, the rest refused for budget,
// and the upstream, the ledger and the audit log in agreement.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := run(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"a refusal: denied: spending would reach 110, over budget 100",
		"calls allowed: 10",
		"calls refused: map[deny budget:10]",
		"upstream total: 10 calls, 100 USD",
		"ledger: 100 USD, 10 calls",
		"audit: 10 allows, 100 USD; 10 denies map[budget:10]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
}

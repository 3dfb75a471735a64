// Package demotest holds a demo's narrated decisions to the list its test
// promises; kept apart from package demo so the demos' binaries do not link
// package testing.
package demotest

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Decisions plays a demo's story without a transcript and fails t unless it
// ran to its end and narrated exactly want, in order.
func Decisions(t *testing.T, run func(context.Context, io.Writer) ([]string, error), want []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := run(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
}

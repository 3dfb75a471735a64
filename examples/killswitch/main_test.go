package main

import (
	"context"
	"testing"
	"time"
)

// TestDemo runs the demo end to end: it fails when a step of the kill does
// not happen (run checks each one).
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, 1); err != nil {
		t.Fatal(err)
	}
}

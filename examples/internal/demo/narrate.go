package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Narrator prints a demo's transcript and checks each decision against the
// one the demo promises: a demo whose gateway decides otherwise fails (its
// command exits 1, its test fails) instead of telling a story that is no
// longer true. Not safe for concurrent use.
type Narrator struct {
	w         io.Writer
	decisions []string // "step: decision", in order
	failures  []string
}

// NewNarrator writes to w.
func NewNarrator(w io.Writer) *Narrator { return &Narrator{w: w} }

// Say prints one line, the speaker in a left column.
func (n *Narrator) Say(who, format string, args ...any) {
	fmt.Fprintf(n.w, "%-10s %s\n", who, fmt.Sprintf(format, args...))
}

// Scene prints a heading.
func (n *Narrator) Scene(format string, args ...any) {
	fmt.Fprintf(n.w, "\n── %s\n", fmt.Sprintf(format, args...))
}

// Expect records the decision of a step and checks it is want (Outcome.Decision
// form); it narrates what the agent was told.
func (n *Narrator) Expect(step string, got Outcome, want string) {
	n.Check(step, got.Decision(), want)
	n.Say("legant", "%s", got)
}

// Check records a decision or a fact of a step, got, and checks it is want.
// A mismatch is printed at once and fails the demo (Err).
func (n *Narrator) Check(step, got, want string) {
	n.decisions = append(n.decisions, step+": "+got)
	if got != want {
		n.failures = append(n.failures, fmt.Sprintf("%s: got %q, want %q", step, got, want))
		n.Say("UNEXPECTED", "%s: got %q, want %q", step, got, want)
	}
}

// Decisions returns every decision recorded, "step: decision", in order.
func (n *Narrator) Decisions() []string { return append([]string(nil), n.decisions...) }

// Err reports the checks that failed, or nil.
func (n *Narrator) Err() error {
	if len(n.failures) == 0 {
		return nil
	}
	return fmt.Errorf("%d decision(s) not as promised:\n  %s", len(n.failures), strings.Join(n.failures, "\n  "))
}

// Main is a demo's main: it plays run with the transcript on standard output
// and exits 1, naming the demo, when a decision is not what the demo promises.
func Main(name string, run func(context.Context, io.Writer) ([]string, error)) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	_, err := run(ctx, os.Stdout)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

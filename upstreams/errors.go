package upstreams

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Position is where something was written in a registry file. Line and Col
// are 1-based; 0 means unknown.
type Position struct {
	File      string
	Line, Col int
}

// String formats the position as "file:line:col", dropping unknown parts.
func (p Position) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// ValidationError is one problem in a registry file, at a position and a
// field path such as "upstreams[0].tools.submit_expense.amount.pointer".
type ValidationError struct {
	File      string
	Line, Col int    // 1-based; 0 when the YAML parser did not say
	Field     string // "" for a problem with the document itself (YAML syntax)
	Msg       string
}

// Error formats the problem as "file:line:col: field: msg" (the form editors
// and CI annotations parse); an empty Field is left out.
func (e *ValidationError) Error() string {
	pos := Position{File: e.File, Line: e.Line, Col: e.Col}.String()
	if e.Field == "" {
		return pos + ": " + e.Msg
	}
	return pos + ": " + e.Field + ": " + e.Msg
}

// ValidationErrors is every problem found in one registry file, in file
// order. Parse returns all of them at once, never only the first.
type ValidationErrors []*ValidationError

// Error lists the problems one per line.
func (errs ValidationErrors) Error() string {
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each problem to errors.Is and errors.As, so that
// errors.As(err, new(*ValidationError)) finds the first one.
func (errs ValidationErrors) Unwrap() []error {
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return out
}

// sort orders the problems by position; problems found by cross-checks
// (duplicate slugs) are reported where the second occurrence is.
func (errs ValidationErrors) sort() {
	slices.SortStableFunc(errs, func(a, b *ValidationError) int {
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return cmp.Compare(a.Col, b.Col)
	})
}

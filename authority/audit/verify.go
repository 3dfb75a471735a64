package audit

import (
	"fmt"
)

// Checkpoint is a point of a chain: the sequence number of an event and its
// hash. The zero Checkpoint is the genesis: the first event has Seq 1 and an
// empty PrevHash.
type Checkpoint struct {
	Seq  int64
	Hash string
}

// ChainError reports the first place a chain does not hold.
type ChainError struct {
	Seq    int64  // the first bad sequence number
	Reason string // what is wrong there
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit chain broken at seq %d: %s", e.Seq, e.Reason)
}

// Verifier checks a chain event by event, in sequence order, without holding
// more than the previous link. It detects a modified event (its hash no longer
// matches its fields), a deleted one (a gap in the sequence), an inserted or
// re-linked one (a PrevHash that is not the previous event's hash), reordering
// (an event whose hashed seq differs from its place) and stored arguments
// that do not match their ArgsHash. A truncated tail needs a pinned
// Anchor: Pin and Finish.
//
// A Verifier is not safe for concurrent use.
type Verifier struct {
	head  Checkpoint // the last event that verified (or the starting point)
	start Checkpoint
	pins  []Checkpoint
	count int64
	err   *ChainError
}

// NewVerifier returns a Verifier for a chain that continues from start: the
// first event must have Seq start.Seq+1 and PrevHash start.Hash.
func NewVerifier(start Checkpoint) *Verifier {
	return &Verifier{head: start, start: start}
}

// Next checks the next stored event. It returns a *ChainError at the first
// problem, and the same error on every later call.
func (v *Verifier) Next(e *Event) error {
	if v.err != nil {
		return v.err
	}
	v.err = v.check(e)
	if v.err != nil {
		return v.err
	}
	v.head = Checkpoint{Seq: e.Seq, Hash: e.Hash}
	v.count++
	return nil
}

func (v *Verifier) check(e *Event) *ChainError {
	want := v.head.Seq + 1
	switch {
	case e.Seq > want:
		return &ChainError{Seq: want, Reason: fmt.Sprintf("event %d is missing (the next stored event is %d)", want, e.Seq)}
	case e.Seq < want:
		return &ChainError{Seq: e.Seq, Reason: fmt.Sprintf("event %d is out of order (expected %d)", e.Seq, want)}
	}
	if got := e.ComputeHash(); got != e.Hash {
		return &ChainError{Seq: e.Seq, Reason: "hash does not match the event's contents (modified, moved or forged)"}
	}
	if e.PrevHash != v.head.Hash {
		return &ChainError{Seq: e.Seq, Reason: fmt.Sprintf("prev_hash does not match the hash of event %d (an event was inserted, removed or rewritten before it)", v.head.Seq)}
	}
	if e.Args != nil && ArgsHash(e.Args) != e.ArgsHash {
		return &ChainError{Seq: e.Seq, Reason: "stored arguments do not match args_hash"}
	}
	return v.checkPins(e)
}

// Head returns the last event that verified, or the starting point.
func (v *Verifier) Head() Checkpoint { return v.head }

// Count returns how many events verified.
func (v *Verifier) Count() int64 { return v.count }

// Err returns the first error found, or nil.
func (v *Verifier) Err() error {
	if v.err == nil {
		return nil
	}
	return v.err
}

// Pin requires the event at cp.Seq to carry cp.Hash, typically from a signed
// Anchor taken earlier. Pins are checked as events stream by, and by Finish:
// a chain that ends before a pinned seq was truncated. Pin must be called
// before the first Next; a pin that predates the starting point (the events
// were pruned) cannot be checked and is an error.
func (v *Verifier) Pin(cp Checkpoint) error {
	switch {
	case cp.Seq == v.start.Seq && cp.Hash == v.start.Hash:
		return nil
	case cp.Seq <= v.start.Seq:
		return fmt.Errorf("anchor at seq %d predates the verified range (which starts after seq %d)", cp.Seq, v.start.Seq)
	}
	v.pins = append(v.pins, cp)
	return nil
}

func (v *Verifier) checkPins(e *Event) *ChainError {
	for _, p := range v.pins {
		if p.Seq == e.Seq && p.Hash != e.Hash {
			return &ChainError{Seq: e.Seq, Reason: "event hash differs from the anchored hash (the chain was rewritten)"}
		}
	}
	return nil
}

// Finish is called after the last stored event. It reports a truncated tail:
// a pinned seq beyond the last event, naming the first missing seq.
func (v *Verifier) Finish() error {
	if v.err != nil {
		return v.err
	}
	for _, p := range v.pins {
		if p.Seq > v.head.Seq {
			v.err = &ChainError{Seq: v.head.Seq + 1, Reason: fmt.Sprintf("chain ends at seq %d but an anchor records seq %d: the tail was truncated", v.head.Seq, p.Seq)}
			return v.err
		}
	}
	return nil
}

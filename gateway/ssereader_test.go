package gateway

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestSSEReaderKeepsEventsWhole: both readers, the response's and the idle GET
// stream's smaller one, return every event byte for byte, including lines far
// longer than their buffers, however the bytes arrive.
func TestSSEReaderKeepsEventsWhole(t *testing.T) {
	long := strings.Repeat("x", 3*sseIdleReaderSize+17)
	events := []string{
		"id: 1\nevent: message\ndata: {\"a\":1}\n\n",
		": a comment\r\ndata: " + long + "\r\n\r\n",
		"retry: 10\ndata: a\ndata: " + long + long + "\ndata:\n\n",
		"\n",
	}
	stream := strings.Join(events, "")
	readers := map[string]func(string) io.Reader{
		"whole":    func(s string) io.Reader { return strings.NewReader(s) },
		"one byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		"halves":   func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) },
	}
	for name, mk := range readers {
		for _, idle := range []bool{false, true} {
			rd := newSSEReader(mk(stream), maxEventBytes, idle)
			for i, want := range events {
				got, err := rd.next()
				if err != nil || !bytes.Equal(got, []byte(want)) {
					t.Fatalf("%s, idle %t, event %d: %q, %v; want %q", name, idle, i, got, err, want)
				}
			}
			if _, err := rd.next(); !errors.Is(err, io.EOF) {
				t.Fatalf("%s, idle %t: after the last event: %v, want io.EOF", name, idle, err)
			}
			rd.release()
		}
	}
	rd := newSSEReader(strings.NewReader("data: "+long+"\n\n"), sseIdleReaderSize, true)
	defer rd.release()
	if _, err := rd.next(); !errors.Is(err, errEventTooLarge) {
		t.Fatalf("an event over the limit: %v, want errEventTooLarge", err)
	}
}

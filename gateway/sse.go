package gateway

// The SSE event reader of the relay: it cuts an upstream event stream into
// events and keeps each one's bytes exactly as they came (field order, line
// endings, comments, empty data), so the relay can pass an event on without
// re-encoding it.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
)

// errEventTooLarge is the read error of an event longer than the reader's limit.
var errEventTooLarge = errors.New("SSE event exceeds the size limit")

// sseReaders recycles the buffered readers of relayed streams: one per open
// stream, returned when the stream ends, so a response does not allocate one.
// A session's GET stream is idle most of its life and holds its reader all
// along: it takes a small one from sseIdleReaders (a longer line only costs
// more reads; next keeps reading it).
var (
	sseReaders     = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
	sseIdleReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, sseIdleReaderSize) }}
)

// sseIdleReaderSize is the read buffer of a GET stream.
const sseIdleReaderSize = 512

// sseReader reads raw SSE events. It is not safe for concurrent use.
type sseReader struct {
	br   *bufio.Reader
	src  endReader  // what br reads: the stream, noting its end
	pool *sync.Pool // where br goes back
	max  int
	buf  []byte // the event being read
}

// endReader notes that its reader returned an error (io.EOF at the end of a
// stream): nothing more will come from it, and no further read waits.
type endReader struct {
	r     io.Reader
	ended bool
}

func (e *endReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.ended = true
	}
	return n, err
}

// newSSEReader reads events of at most max bytes from r; idle says the
// stream is a GET stream, mostly waiting (a small buffer).
func newSSEReader(r io.Reader, max int, idle bool) *sseReader {
	pool := &sseReaders
	if idle {
		pool = &sseIdleReaders
	}
	s := &sseReader{src: endReader{r: r}, pool: pool, max: max}
	s.br = pool.Get().(*bufio.Reader)
	s.br.Reset(&s.src)
	return s
}

// ended reports whether the stream's end was already read: the events still
// to come are all in the buffer, and next will not wait for any. An HTTP/1.1
// response's chunked body reports its end with the last chunk's data when the
// terminating chunk came in the same read, as it does from a server that
// writes its answer and closes the stream.
func (s *sseReader) ended() bool { return s.src.ended }

// release returns the reader's buffer to the pool; the reader is unusable after.
func (s *sseReader) release() {
	s.br.Reset(nil)
	s.pool.Put(s.br)
	s.br = nil
}

// next returns the next event: its bytes up to and including the blank line
// that ends it, exactly as read. The slice is valid until the next call.
// At the end of the stream it returns io.EOF when the stream ended between
// events, io.ErrUnexpectedEOF when it ended inside one (the event is lost),
// or the error that cut the stream.
func (s *sseReader) next() ([]byte, error) {
	s.buf = s.buf[:0]
	lineStart := 0
	for {
		part, err := s.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil // a long line: keep reading it
		}
		s.buf = append(s.buf, part...)
		if len(s.buf) > s.max {
			return nil, errEventTooLarge
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(s.buf) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if !bytes.HasSuffix(part, []byte("\n")) {
			continue
		}
		if len(trimEOL(s.buf[lineStart:])) == 0 {
			// A blank line ends the event (or, before any field, stands
			// alone: it is passed on as it came).
			return s.buf, nil
		}
		lineStart = len(s.buf)
	}
}

// trimEOL strips a line's "\n" or "\r\n".
func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

// sseEvent is what the relay needs to know of one raw event.
type sseEvent struct {
	raw     []byte
	id      []byte // the id field's value; nil when the event has none
	hasID   bool
	data    []byte // the data lines joined with "\n"; nil when none
	hasData bool
}

// parseEvent reads the fields of a raw event (see sseReader.next).
func parseEvent(raw []byte) sseEvent {
	ev := sseEvent{raw: raw}
	for rest := raw; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		line := rest[:i+1]
		rest = rest[i+1:]
		l := trimEOL(line)
		if v, ok := field(l, "data"); ok {
			if ev.hasData {
				ev.data = append(ev.data, '\n')
			}
			ev.data = append(ev.data, v...)
			ev.hasData = true
		} else if v, ok := field(l, "id"); ok {
			ev.id, ev.hasID = v, true
		}
	}
	return ev
}

// withData returns raw with its data lines replaced by data, written where
// the first data line was and with its line ending; every other line is kept
// as it came.
func withData(raw, data []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(raw) + len(data))
	written := false
	for rest := raw; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		line := rest[:i+1]
		rest = rest[i+1:]
		l := trimEOL(line)
		if _, ok := field(l, "data"); !ok {
			b.Write(line)
			continue
		}
		if written {
			continue
		}
		eol := line[len(l):]
		for _, d := range bytes.Split(data, []byte("\n")) {
			b.WriteString("data: ")
			b.Write(d)
			b.Write(eol)
		}
		written = true
	}
	return b.Bytes()
}

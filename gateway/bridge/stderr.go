package bridge

import (
	"bytes"
	"log/slog"
	"strings"
)

// Bounds of what a child's stderr may put in the log.
const (
	maxStderrLine  = 4 << 10 // longer lines are truncated
	maxStderrBytes = 1 << 20 // per child; later output is discarded
)

// stderrLog is the io.Writer a child's stderr is copied to: it logs one
// record per line, bounded in line length and total volume. One goroutine
// writes and then flushes it, so it needs no lock.
type stderrLog struct {
	log       *slog.Logger
	line      []byte
	truncated bool
	budget    int
}

func newStderrLog(log *slog.Logger) *stderrLog {
	return &stderrLog{log: log, budget: maxStderrBytes}
}

// Write never fails: a child must not stall on its stderr.
func (l *stderrLog) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		room := maxStderrLine - len(l.line)
		if len(chunk) > room {
			chunk, l.truncated = chunk[:room], true
		}
		l.line = append(l.line, chunk...)
		if i < 0 {
			break
		}
		l.flush()
		p = p[i+1:]
	}
	return n, nil
}

// flush logs the pending line, if any.
func (l *stderrLog) flush() {
	if len(l.line) == 0 && !l.truncated {
		return
	}
	line := strings.TrimSuffix(string(l.line), "\r")
	truncated := l.truncated
	l.line, l.truncated = l.line[:0], false
	switch {
	case l.budget <= 0:
		return
	case l.budget <= len(line):
		l.budget = 0
		l.log.Warn("the upstream process writes too much to stderr; discarding the rest")
		return
	}
	l.budget -= len(line)
	l.log.Info("upstream stderr", "line", line, "truncated", truncated)
}

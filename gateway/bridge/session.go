package bridge

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// maxBacklog bounds the server-initiated messages a session keeps while no
// stream is open to carry them.
const maxBacklog = 256

var (
	errSessionEnded   = errors.New("bridge: session ended")
	errDuplicateID    = errors.New("bridge: duplicate request id")
	errStandaloneOpen = errors.New("bridge: standalone stream already open")
)

// session is one emulated Streamable HTTP session over one link. Its read
// loop (run) is the only reader of the link and routes each message to the
// stream waiting for it. Fields below mu are guarded by it.
type session struct {
	h      *Handler
	id     string
	link   *link
	log    *slog.Logger
	ctx    context.Context // cancelled when the session ends
	cancel context.CancelFunc
	done   chan struct{} // closed once the link is released
	idle   *time.Timer   // nil when sessions never idle out

	writers sync.WaitGroup // write goroutines in flight

	mu         sync.Mutex
	ended      bool
	calls      map[jsonrpc.ID]*stream // client requests awaiting their response
	tokens     map[jsonrpc.ID]string  // progress token key of a call in calls
	progress   map[string]*stream     // progress token key → stream of its call
	posts      []*stream              // open POST streams, oldest first
	standalone *stream                // the GET stream; nil when not open
	backlog    []jsonrpc.Message      // server-initiated messages no stream could take
	active     int                    // open streams
	idleSince  time.Time
}

func newSession(h *Handler, id string, l *link, ctx context.Context, cancel context.CancelFunc, log *slog.Logger) *session {
	s := &session{h: h, id: id, link: l, log: log, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		calls: map[jsonrpc.ID]*stream{}, tokens: map[jsonrpc.ID]string{}, progress: map[string]*stream{},
		idleSince: time.Now()}
	if t := h.opts.IdleTimeout; t > 0 {
		// Armed when the initialize request's stream closes (closedLocked).
		s.idle = time.AfterFunc(t, s.expire)
		s.idle.Stop()
	}
	return s
}

// run reads the link until it fails or the session is cancelled, then ends
// the session: it is removed from the handler, the link is stopped (a child
// process is killed) and done is closed.
func (s *session) run() {
	defer s.h.wg.Done()
	var err error
	for {
		var m jsonrpc.Message
		if m, err = s.link.conn.Read(s.ctx); err != nil {
			break
		}
		s.route(m)
	}
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	if s.idle != nil {
		s.idle.Stop()
	}
	// Removed before streams learn of the end (cancel), so that a client
	// told the session ended gets 404 from then on.
	s.h.remove(s.id)
	s.cancel()
	s.link.stop()
	s.writers.Wait()
	switch {
	case s.ctx.Err() != nil && errors.Is(err, context.Canceled):
		s.log.Debug("session ended")
	case errors.Is(err, io.EOF):
		s.log.Info("the upstream closed the session")
	default:
		s.log.Warn("session ended: the upstream connection failed", "err", err)
	}
	close(s.done)
}

// write sends msgs to the server in order, off the caller's goroutine so
// that a server that stops reading cannot pin a request handler. The channel
// receives the outcome. A failed write ends the session.
func (s *session) write(msgs []jsonrpc.Message) <-chan error {
	out := make(chan error, 1)
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		out <- errSessionEnded
		return out
	}
	s.writers.Add(1)
	s.mu.Unlock()
	go func() { // owned by the session: ends when the writes do, at the latest when the link is stopped
		defer s.writers.Done()
		for _, m := range msgs {
			if err := s.link.conn.Write(s.ctx, m); err != nil {
				if s.ctx.Err() == nil {
					s.log.Warn("could not write to the upstream; ending the session", "err", err)
				}
				s.cancel()
				out <- err
				return
			}
		}
		out <- nil
	}()
	return out
}

// touch records activity of a session with no open stream.
func (s *session) touch() {
	s.mu.Lock()
	s.idleSince = time.Now()
	s.mu.Unlock()
}

// openedLocked and closedLocked count open streams for the idle timer.
func (s *session) openedLocked() {
	s.active++
	if s.idle != nil {
		s.idle.Stop()
	}
}

func (s *session) closedLocked() {
	s.active--
	s.idleSince = time.Now()
	if s.active == 0 && s.idle != nil && !s.ended {
		s.idle.Reset(s.h.opts.IdleTimeout)
	}
}

// expire ends the session if it has been idle for IdleTimeout, or re-arms
// the timer for what is left.
func (s *session) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.active > 0 {
		return
	}
	if left := s.h.opts.IdleTimeout - time.Since(s.idleSince); left > 0 {
		s.idle.Reset(left)
		return
	}
	s.log.Info("ending an idle session")
	s.cancel()
}

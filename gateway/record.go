package gateway

// Record: the last step, reached from every other. Each decision of the
// gateway becomes an Event; the audit queue hands events to the Recorder off
// the request path, in batches, and never drops one.

import (
	"context"
	"sync"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
)

// Recorder persists audit events. Record is called with a batch, from one
// goroutine of the gateway, off the request path; it returns once the events
// are durable. An error keeps the batch for a retry and makes the gateway
// refuse new tools/call requests until a retry succeeds (fail closed).
type Recorder interface {
	Record(ctx context.Context, events []audit.Event) error
}

func hashArgs(args []byte) string {
	if len(args) == 0 {
		return ""
	}
	return audit.ArgsHash(args)
}

// auditQueue decouples request handling from the Recorder. It never drops an
// event: when the queue is full, enqueue blocks (back-pressure); after close,
// events are written synchronously.
type auditQueue struct {
	rec  Recorder
	ch   chan audit.Event
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	healthy bool
}

const (
	auditQueueSize = 8192
	auditBatchMax  = 512
)

func newAuditQueue(rec Recorder) *auditQueue {
	q := &auditQueue{rec: rec, ch: make(chan audit.Event, auditQueueSize), healthy: true,
		stop: make(chan struct{}), done: make(chan struct{})}
	go q.run()
	return q
}

func (q *auditQueue) enqueue(ev audit.Event) {
	select {
	case <-q.done:
		q.write([]audit.Event{ev})
		return
	default:
	}
	select {
	case q.ch <- ev:
	case <-q.done:
		q.write([]audit.Event{ev})
	}
}

// ok reports whether the last write to the Recorder succeeded.
func (q *auditQueue) ok() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.healthy
}

func (q *auditQueue) setHealthy(v bool) {
	q.mu.Lock()
	q.healthy = v
	q.mu.Unlock()
}

// run drains the queue in batches until close; it owns the retry of a failed batch.
func (q *auditQueue) run() {
	defer close(q.done)
	for {
		select {
		case ev := <-q.ch:
			q.write(q.fill([]audit.Event{ev}))
		case <-q.stop:
			for len(q.ch) > 0 {
				q.write(q.fill(nil))
			}
			return
		}
	}
}

func (q *auditQueue) fill(batch []audit.Event) []audit.Event {
	for len(batch) < auditBatchMax {
		select {
		case e := <-q.ch:
			batch = append(batch, e)
		default:
			return batch
		}
	}
	return batch
}

// write hands batch to the Recorder, retrying with back-off until it is durable.
func (q *auditQueue) write(batch []audit.Event) {
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := q.rec.Record(ctx, batch)
		cancel()
		if err == nil {
			q.setHealthy(true)
			return
		}
		q.setHealthy(false)
		select {
		case <-time.After(backoff):
		case <-q.stop:
			if attempt > 3 {
				return // shutting down with the store gone: nothing more can be done
			}
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// close flushes what is queued and stops the worker.
func (q *auditQueue) close() {
	close(q.stop)
	<-q.done
}

// record queues ev for the Recorder, stamping it with the gateway's clock.
func (g *Gateway) record(ev audit.Event) {
	if g.audit == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = g.now()
	}
	g.audit.enqueue(ev)
}

// withPrincipal fills ev's principal fields from the verified claims c.
func withPrincipal(ev audit.Event, c *authority.Claims) audit.Event {
	ev.User = c.Subject
	ev.Agents = c.Chain()
	ev.Client = c.ClientID
	ev.TokenID = c.ID
	return ev
}

// detach returns a context for work that must outlive the request (audit,
// settling a budget hold) but not hang forever.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

package gateway

// Record: the last step, reached from every other. Each decision of the
// gateway becomes an Event. An allowed tools/call is recorded durably before
// it is forwarded (AuditDurable, the default): the Recorder group-commits
// concurrent appends, so a call waits for one commit shared with its
// neighbours. Everything else — denials, edge refusals, session and kill
// events, and allows in AuditAsync mode — goes on the audit queue, which
// hands it to the Recorder off the request path, in batches.
//
// No handler ever blocks on the audit log: when the queue is full or the log
// is unavailable, an event that forwarded nothing is counted and sampled, and
// a "dropped" summary event is appended once the log takes writes again; an
// allow that cannot be recorded refuses its call with CodeAudit.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
)

// Recorder persists audit events. Record returns once the events are
// durable; concurrent calls should share commits (group commit). An event
// with an ID is written at most once however often it is recorded, so a batch
// whose outcome is unknown (a timeout) can be retried.
type Recorder interface {
	Record(ctx context.Context, events []audit.Event) error
}

// AuditMode says when an allowed tools/call is recorded.
type AuditMode string

const (
	// AuditDurable forwards an allowed call only once its allow record is
	// durable: no upstream runs a call the log does not hold.
	AuditDurable AuditMode = "durable"
	// AuditAsync queues the allow record and forwards at once; a call is
	// still refused while the log is unavailable or its queue is full.
	AuditAsync AuditMode = "async"
)

// ParseAuditMode parses "durable" or "async".
func ParseAuditMode(s string) (AuditMode, error) {
	switch m := AuditMode(s); m {
	case AuditDurable, AuditAsync:
		return m, nil
	}
	return "", fmt.Errorf("audit mode %q: want durable or async", s)
}

// errAuditUnavailable refuses an allowed call whose record cannot be written.
var errAuditUnavailable = errors.New("gateway: the audit log is unavailable")

func hashArgs(args []byte) string {
	if len(args) == 0 {
		return ""
	}
	return audit.ArgsHash(args)
}

const (
	auditQueueSize   = 8192
	auditBatchMax    = 512
	auditMaxSamples  = 5
	auditRetryMin    = 50 * time.Millisecond
	auditRetryMax    = time.Second // how often an unavailable log is probed
	auditStopRetries = 3           // attempts left for a batch once Close began
	// auditLinger is how long the queue's writer lets more events join a
	// batch before writing it (gather).
	auditLinger = 5 * time.Millisecond
)

// auditQueue owns the gateway's side of the audit log: the queue of
// asynchronous events and its writer, durable appends, and the log's health.
// Safe for concurrent use.
type auditQueue struct {
	rec     Recorder
	log     *slog.Logger
	timeout time.Duration // bounds one Record call
	ch      chan audit.Event
	kick    chan struct{} // buffered(1): something was dropped, write a summary / probe
	stop    chan struct{}
	done    chan struct{}

	idPrefix string // random per process: event ids never collide across replicas
	nextID   atomic.Uint64
	health   *storeHealth // the store's, shared with the other request-path operations (health.go)

	// mu guards the dropped-events tally.
	mu      sync.Mutex
	dropped map[audit.Kind]int64
	samples []string

	summary *audit.Event // writer only: the summary being written (its ID fixed across retries)
}

func newAuditQueue(rec Recorder, log *slog.Logger, timeout time.Duration, health *storeHealth) *auditQueue {
	var b [6]byte
	rand.Read(b[:])
	q := &auditQueue{rec: rec, log: log, timeout: timeout, ch: make(chan audit.Event, auditQueueSize),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		idPrefix: "gw-" + hex.EncodeToString(b[:]) + "-", dropped: map[audit.Kind]int64{}, health: health}
	go q.run()
	return q
}

func (q *auditQueue) newID() string {
	return q.idPrefix + strconv.FormatUint(q.nextID.Add(1), 36)
}

// ok reports whether the log takes writes (the store is not marked unavailable).
func (q *auditQueue) ok() bool { return q.health.ok() }

// enqueue queues ev without ever blocking. An event that cannot be queued
// (queue full, log unavailable, queue closed) is counted and sampled for the
// next summary; enqueue reports whether ev was queued.
func (q *auditQueue) enqueue(ev audit.Event) bool {
	ev.ID = q.newID()
	if q.ok() {
		select {
		case <-q.stop:
		case q.ch <- ev:
			return true
		default:
		}
	}
	q.drop(ev)
	return false
}

// enqueueAllow queues an allow record (AuditAsync). When it cannot, the call
// is refused: the refusal is counted (refused) and false returned.
func (q *auditQueue) enqueueAllow(ev audit.Event) bool {
	ev.ID = q.newID()
	if q.ok() {
		select {
		case <-q.stop:
		case q.ch <- ev:
			return true
		default:
		}
	}
	q.drop(refused(ev))
	return false
}

// refused turns the allow record of a call refused because the log could not
// take it into the denial to count.
func refused(ev audit.Event) audit.Event {
	ev.Kind, ev.Decision, ev.Reason = audit.KindDeny, "deny", "audit_unavailable"
	return ev
}

// appendDurable writes ev and returns once it is durable, within the store
// deadline. A failure marks the log unavailable: later calls are refused at
// once until the writer's probe succeeds; the refusal is counted. (A write
// that timed out may still commit: the log may then hold an allow for a call
// that was refused, never the reverse.) The request's cancellation does not
// cut the write (a client leaving says nothing about the log's health).
func (q *auditQueue) appendDurable(ctx context.Context, ev audit.Event) error {
	if !q.ok() {
		return errAuditUnavailable
	}
	ev.ID = q.newID()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.timeout)
	defer cancel()
	if err := q.rec.Record(ctx, []audit.Event{ev}); err != nil {
		q.setDown(err)
		q.drop(refused(ev)) // and the writer probes the log
		return fmt.Errorf("%w: %v", errAuditUnavailable, err)
	}
	return nil
}

func (q *auditQueue) drop(ev audit.Event) {
	q.mu.Lock()
	q.dropped[ev.Kind]++
	if len(q.samples) < auditMaxSamples {
		q.samples = append(q.samples, fmt.Sprintf("%s upstream=%q user=%q tool=%q reason=%q", ev.Kind, ev.Upstream, ev.User, ev.Tool, ev.Reason))
	}
	q.mu.Unlock()
	q.poke()
}

func (q *auditQueue) poke() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// setDown marks the store unavailable (logged once per outage, health.go).
func (q *auditQueue) setDown(err error) { q.health.markDown("audit append", err) }

// setUp reports a write that succeeded (health.go: evidence the store is
// back unless Options.StorePing probes it).
func (q *auditQueue) setUp() { q.health.wrote() }

// takeSummary returns the summary of the events dropped since the last one
// (nil when none), and resets the tally.
func (q *auditQueue) takeSummary() *audit.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	var n int64
	var kinds []string
	for k, c := range q.dropped {
		n += c
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, c))
	}
	if n == 0 {
		return nil
	}
	sort.Strings(kinds)
	ev := &audit.Event{Kind: audit.KindDropped, Time: time.Now(), ID: q.newID(), Value: strconv.FormatInt(n, 10),
		Reason: fmt.Sprintf("dropped %d events (log unavailable or queue full): %s; sample: %s",
			n, strings.Join(kinds, " "), strings.Join(q.samples, "; "))}
	q.dropped, q.samples = map[audit.Kind]int64{}, nil
	return ev
}

// run drains the queue in batches until close; it owns the retry of a
// failed batch and, while the log is unavailable, probes it.
func (q *auditQueue) run() {
	defer close(q.done)
	for {
		select {
		case ev := <-q.ch:
			q.write(q.gather(q.fill([]audit.Event{ev})))
		case <-q.kick:
			q.write(nil)
		case <-q.stop:
			for len(q.ch) > 0 {
				q.write(q.fill(nil))
			}
			q.write(nil)
			return
		}
	}
}

// gather waits up to auditLinger for more events to join batch, so that a
// steady trickle is written in batches of many (one commit each) rather than
// one by one: nothing waits on these events (a denial forwarded nothing; an
// AuditAsync allow was forwarded already), and a commit costs far more than an
// event in it. It returns at once when the batch is full or the queue stops.
func (q *auditQueue) gather(batch []audit.Event) []audit.Event {
	if len(batch) >= auditBatchMax {
		return batch
	}
	t := time.NewTimer(auditLinger)
	defer t.Stop()
	for len(batch) < auditBatchMax {
		select {
		case e := <-q.ch:
			batch = append(batch, e)
		case <-t.C:
			return batch
		case <-q.stop:
			return batch
		}
	}
	return batch
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

// write hands batch, followed by the summary of what was dropped, to the
// Recorder, retrying with back-off until it is durable. A retry carries the
// same event IDs, so a batch that did commit is not written twice.
func (q *auditQueue) write(batch []audit.Event) {
	backoff := auditRetryMin
	stopping := 0
	for {
		if q.summary == nil {
			q.summary = q.takeSummary()
		}
		events := batch
		if q.summary != nil {
			events = append(batch[:len(batch):len(batch)], *q.summary)
		}
		if len(events) == 0 {
			if q.ok() {
				return
			}
			// Unavailable with nothing to write: the refusal that made it so
			// is about to be counted; look again shortly.
			select {
			case <-time.After(backoff):
				continue
			case <-q.stop:
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), q.timeout)
		err := q.rec.Record(ctx, events)
		cancel()
		if err == nil {
			q.summary = nil
			q.setUp()
			return
		}
		q.setDown(err)
		select {
		case <-time.After(backoff):
		case <-q.stop:
			if stopping++; stopping > auditStopRetries {
				return // shutting down with the log gone: nothing more can be done
			}
			time.Sleep(backoff)
		}
		backoff = min(backoff*2, auditRetryMax)
	}
}

// close flushes what is queued and stops the worker.
func (q *auditQueue) close() {
	close(q.stop)
	<-q.done
}

// record queues ev for the Recorder, stamping it with the gateway's clock. It
// never blocks (see auditQueue.enqueue).
func (g *Gateway) record(ev audit.Event) {
	if g.audit == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = g.now()
	}
	g.audit.enqueue(ev)
}

// recordAllow records the allow of a call before it is forwarded: durably
// (AuditDurable) or queued (AuditAsync). An error means the call must be
// refused with CodeAudit; the refusal is already counted for the log.
func (g *Gateway) recordAllow(ctx context.Context, ev audit.Event) error {
	if g.audit == nil {
		return nil
	}
	if ev.Time.IsZero() {
		ev.Time = g.now()
	}
	if g.opts.AuditMode == AuditAsync {
		if !g.audit.enqueueAllow(ev) {
			return errAuditUnavailable
		}
		return nil
	}
	return g.audit.appendDurable(ctx, ev)
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

// auditUnavailableError is the answer to a call refused because the log
// cannot record it (fail closed).
func auditUnavailableError() rpcError {
	return rpcError{Code: CodeAudit, Message: "the audit log is unavailable; calls are refused until it recovers",
		Data: reasonData{Reason: "audit_unavailable"}}
}

// storeContext bounds a store operation on the request path by
// Options.StoreTimeout.
func (g *Gateway) storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.opts.StoreTimeout)
}

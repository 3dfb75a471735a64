package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Workload is one request the virtual clients send in a loop.
type Workload struct {
	Slug   string // upstream slug
	Method string // JSON-RPC method
	Params string // raw params
	// Check, when set, validates each result beyond "it is a result" and
	// returns a number to report (tools counted in a list); nil accepts any.
	Check func(result json.RawMessage) (int, error)
}

// Pool is the virtual clients of one target for one workload, initialized
// once and driven phase after phase. It is not safe for concurrent use.
type Pool struct {
	clients []*Client
	hists   []Histogram          // one per client, reset each phase
	cpu     func() time.Duration // the child serving the target; nil = none
	db      func() time.Duration // its database server's processes; nil = none
}

// NewPool initializes n clients of endpoint (n in flight at most).
// childCPU, when set, reads the CPU time of the process serving endpoint.
func NewPool(ctx context.Context, hc *http.Client, endpoint, token string, n int, childCPU func() time.Duration) (*Pool, error) {
	return NewPoolCPU(ctx, hc, endpoint, token, n, childCPU, nil)
}

// NewPoolCPU is NewPool with a second CPU reader, dbCPU: the database
// server's processes serving the target (nil when it has none).
func NewPoolCPU(ctx context.Context, hc *http.Client, endpoint, token string, n int, childCPU, dbCPU func() time.Duration) (*Pool, error) {
	p := &Pool{clients: make([]*Client, n), hists: make([]Histogram, n), cpu: childCPU, db: dbCPU}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		p.clients[i] = NewClient(hc, endpoint, token)
		wg.Go(func() { errs[i] = p.clients[i].Initialize(ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			p.Close(ctx)
			return nil, err
		}
	}
	return p, nil
}

// Close ends every client's session.
func (p *Pool) Close(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range p.clients {
		wg.Go(func() { c.Close(ctx) })
	}
	wg.Wait()
}

// Stop says when a phase ends: after Duration, or after Calls calls started,
// whichever comes first; zero means no limit of that kind (one must be set).
type Stop struct {
	Duration time.Duration
	Calls    uint64
}

// Phase is what one phase measured.
type Phase struct {
	Calls    uint64        // successful calls
	Errors   uint64        // failed calls (transport, HTTP status, JSON-RPC error, isError)
	FirstErr error         // the first failure, if any
	Elapsed  time.Duration // from the start to the end of the last call
	Hist     Histogram     // latency of successful calls
	CPU      time.Duration // user+system CPU of this process
	ChildCPU time.Duration // CPU of the process serving the target, if known
	DBCPU    time.Duration // CPU of the database server's processes, if the target has one
	Mallocs  uint64        // heap allocations of this process
	Checked  int           // the last value Workload.Check returned
}

// Run drives every client in a loop until stop, and measures.
func (p *Pool) Run(ctx context.Context, w Workload, stop Stop) *Phase {
	if stop.Duration <= 0 && stop.Calls == 0 {
		panic("bench: a phase needs a duration or a call budget")
	}
	for i := range p.hists {
		p.hists[i] = Histogram{}
	}
	var halt atomic.Bool
	var started atomic.Uint64
	ph := &Phase{}
	var mu sync.Mutex // guards ph.Errors, ph.FirstErr, ph.Checked
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs0, cpu0, child0, db0 := ms.Mallocs, processCPU(), p.childCPU(), read(p.db)
	start := time.Now()
	if stop.Duration > 0 {
		t := time.AfterFunc(stop.Duration, func() { halt.Store(true) })
		defer t.Stop()
	}
	var wg sync.WaitGroup
	for i, c := range p.clients {
		h := &p.hists[i]
		wg.Go(func() {
			for !halt.Load() && ctx.Err() == nil {
				if stop.Calls > 0 && started.Add(1) > stop.Calls {
					return
				}
				elapsed, err := c.do(ctx, w)
				if err == nil {
					h.Record(elapsed)
					continue
				}
				mu.Lock()
				ph.Errors++
				if ph.FirstErr == nil {
					ph.FirstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	ph.Elapsed = time.Since(start)
	ph.CPU = processCPU() - cpu0
	if p.cpu != nil || p.db != nil {
		settle(ctx, func() time.Duration { return p.childCPU() + read(p.db) }, settleTick, settleMax)
	}
	ph.ChildCPU = p.childCPU() - child0
	ph.DBCPU = read(p.db) - db0
	runtime.ReadMemStats(&ms)
	ph.Mallocs = ms.Mallocs - mallocs0
	for i := range p.hists {
		ph.Hist.Merge(&p.hists[i])
	}
	ph.Calls = ph.Hist.Count()
	for _, c := range p.clients {
		ph.Checked = max(ph.Checked, c.checked)
	}
	return ph
}

func (p *Pool) childCPU() time.Duration { return read(p.cpu) }

// A child's phase ends when its load stops and its processes (the child, its
// database) go quiet: what they deferred (the audit journal's applier
// lingers up to 250 ms; a checkpoint) is billed to that phase, not done
// during the next target's, which starts on a quiet machine. Without it the
// target after a child gateway ran beside that gateway's applier: two runs
// of one binary in two adjacent slots differed by up to 14%.
const (
	settleTick = 50 * time.Millisecond // CPU is read in clock ticks of 10 ms
	settleMax  = 2 * time.Second
)

// settle returns once cpu grows by no more than one clock tick in a tick of
// its own, or after max.
func settle(ctx context.Context, cpu func() time.Duration, tick, max time.Duration) {
	last := cpu()
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(tick)
		now := cpu()
		if now-last <= clockTick {
			return
		}
		last = now
	}
}

// read returns f() or 0 for a nil reader.
func read(f func() time.Duration) time.Duration {
	if f == nil {
		return 0
	}
	return f()
}

// do sends one request of w and checks its result.
func (c *Client) do(ctx context.Context, w Workload) (time.Duration, error) {
	res, elapsed, err := c.Call(ctx, w.Method, w.Params)
	if err != nil || w.Check == nil {
		return elapsed, err
	}
	n, err := w.Check(res)
	if err != nil {
		return elapsed, fmt.Errorf("%s: %w", w.Method, err)
	}
	c.checked = n
	return elapsed, nil
}

// Package slowtool is the upstream of the kill-switch demo and of the kill
// tests: an MCP server (go-sdk, Streamable HTTP) with one tool, "slow", that
// works the way a long agent task does — a progress notification every
// period, for many steps — and counts what reaches it, so that a test can
// prove nothing more did after a kill.
//
// An Upstream is safe for concurrent use. Wait blocks until its counters
// satisfy a condition: tests synchronise on it instead of sleeping.
//
//	up := slowtool.New(slowtool.Options{})
//	srv := httptest.NewServer(up)           // MCP endpoint at srv.URL
//	…                                       // an agent calls "slow" through the gateway
//	up.Wait(ctx, func(s slowtool.Stats) bool { return s.Started == 1 })
package slowtool

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Defaults for Options fields left zero: a call streams for 30 seconds.
const (
	DefaultPeriod = 50 * time.Millisecond
	DefaultSteps  = 600
	// ToolName is the one tool the upstream serves.
	ToolName = "slow"
)

// Options configure an Upstream; zero fields mean the defaults.
type Options struct {
	// Period is the time between two progress notifications of a call.
	Period time.Duration
	// Steps is the length of a call that names no "steps" argument.
	Steps int
}

// Stats counts what reached the upstream.
type Stats struct {
	Started             int64 // tool calls started
	Finished            int64 // calls that ran to their last step
	Cancelled           int64 // calls stopped early: notifications/cancelled or the session ended
	CancelNotifications int64 // notifications/cancelled messages received
	Deletes             int64 // DELETE requests (sessions ended)
}

// Upstream is the slow MCP server. It is an http.Handler.
type Upstream struct {
	opts    Options
	handler http.Handler

	// mu guards stats and changed, which is closed and replaced whenever
	// stats change.
	mu      sync.Mutex
	stats   Stats
	changed chan struct{}
}

// New returns an Upstream.
func New(opts Options) *Upstream {
	if opts.Period <= 0 {
		opts.Period = DefaultPeriod
	}
	if opts.Steps <= 0 {
		opts.Steps = DefaultSteps
	}
	u := &Upstream{opts: opts, changed: make(chan struct{})}
	srv := mcp.NewServer(&mcp.Implementation{Name: "slowtool", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: ToolName,
		Description: "Works for a while, reporting progress at every step, like a long agent task"}, u.slow)
	u.handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	return u
}

// slowIn is the tool's input.
type slowIn struct {
	Steps int `json:"steps,omitempty" jsonschema:"number of steps (default: the server's)"`
}

func (u *Upstream) slow(ctx context.Context, req *mcp.CallToolRequest, in slowIn) (*mcp.CallToolResult, any, error) {
	u.update(func(s *Stats) { s.Started++ })
	steps := in.Steps
	if steps <= 0 {
		steps = u.opts.Steps
	}
	tick := time.NewTicker(u.opts.Period)
	defer tick.Stop()
	for i := 1; i <= steps; i++ {
		select {
		case <-ctx.Done():
			u.update(func(s *Stats) { s.Cancelled++ })
			return nil, nil, ctx.Err()
		case <-tick.C:
		}
		if tok := req.Params.GetProgressToken(); tok != nil {
			req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok,
				Progress: float64(i), Total: float64(steps), Message: fmt.Sprintf("step %d of %d", i, steps)})
		}
	}
	u.update(func(s *Stats) { s.Finished++ })
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("done after %d steps", steps)}}}, nil, nil
}

// ServeHTTP serves MCP, counting cancellations and session ends on the way.
func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodDelete:
		u.update(func(s *Stats) { s.Deletes++ })
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil {
			http.Error(w, "could not read the body", http.StatusBadRequest)
			return
		}
		if n := cancellations(body); n > 0 {
			u.update(func(s *Stats) { s.CancelNotifications += n })
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	u.handler.ServeHTTP(w, r)
}

// cancellations counts the notifications/cancelled in a JSON-RPC body (one
// message or a batch).
func cancellations(body []byte) int64 {
	type msg struct {
		Method string `json:"method"`
	}
	var batch []msg
	if err := json.Unmarshal(body, &batch); err != nil {
		var m msg
		if json.Unmarshal(body, &m) != nil {
			return 0
		}
		batch = []msg{m}
	}
	var n int64
	for _, m := range batch {
		if m.Method == "notifications/cancelled" {
			n++
		}
	}
	return n
}

func (u *Upstream) update(f func(*Stats)) {
	u.mu.Lock()
	f(&u.stats)
	close(u.changed)
	u.changed = make(chan struct{})
	u.mu.Unlock()
}

// Stats returns the counters now.
func (u *Upstream) Stats() Stats {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stats
}

// Wait blocks until cond holds for the counters, or ctx ends.
func (u *Upstream) Wait(ctx context.Context, cond func(Stats) bool) (Stats, error) {
	for {
		u.mu.Lock()
		s, ch := u.stats, u.changed
		u.mu.Unlock()
		if cond(s) {
			return s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return s, fmt.Errorf("slowtool: waiting for the upstream: %w (now %+v)", ctx.Err(), s)
		}
	}
}

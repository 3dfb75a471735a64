package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/r3labs/sse/v2"

	"github.com/openlegant/legant/authority/audit"
)

// The change stream of the console and of `legant watch`:
//
//	GET /console/events?after=&backlog=&kind=&user=&agent=&upstream=&tool=&decision=&session=
//
// Server-Sent Events, one per audit event (JSON, as `legant audit tail
// --json` prints it, without the raw arguments), the SSE id being the
// event's sequence number. A reconnecting client sends Last-Event-ID and
// gets every event after it, so nothing recorded while it was away is
// missed. Without Last-Event-ID, after= names the sequence number to start
// after; without either, the stream starts with the last backlog= events
// (default DefaultBacklog).
//
// Each connection follows the audit log by sequence number: it reads the
// events after the last one it sent, and, when there are none, asks again
// every FollowInterval. The log is the store's, so with PostgreSQL a console
// on one replica streams what every replica decided.

// Stream defaults.
const (
	// FollowInterval is how often an idle stream asks the store for new events.
	FollowInterval = 200 * time.Millisecond
	// DefaultBacklog is how many past events a new stream starts with.
	DefaultBacklog = 100
	// MaxBacklog bounds backlog=.
	MaxBacklog = 10000
	// followBatch is the most events one read of the store returns.
	followBatch = 500
	// keepAliveEvery is how often an idle stream sends a comment, so that
	// proxies keep the connection open.
	keepAliveEvery = 15 * time.Second
)

// EventFilter selects stream events; zero fields do not filter.
type EventFilter struct {
	Kinds    []audit.Kind // any of these
	User     string
	Agent    string // anywhere in the act chain
	Upstream string
	Tool     string
	Decision string
	Session  string
}

// Match reports whether e passes f.
func (f EventFilter) Match(e *audit.Event) bool {
	switch {
	case len(f.Kinds) > 0 && !slices.Contains(f.Kinds, e.Kind),
		f.User != "" && e.User != f.User,
		f.Agent != "" && !slices.Contains(e.Agents, f.Agent),
		f.Upstream != "" && e.Upstream != f.Upstream,
		f.Tool != "" && e.Tool != f.Tool,
		f.Decision != "" && e.Decision != f.Decision,
		f.Session != "" && e.SessionID != f.Session:
		return false
	}
	return true
}

func (f EventFilter) values(v url.Values) {
	if len(f.Kinds) > 0 {
		ks := make([]string, len(f.Kinds))
		for i, k := range f.Kinds {
			ks[i] = string(k)
		}
		v.Set("kind", strings.Join(ks, ","))
	}
	for k, s := range map[string]string{"user": f.User, "agent": f.Agent, "upstream": f.Upstream,
		"tool": f.Tool, "decision": f.Decision, "session": f.Session} {
		if s != "" {
			v.Set(k, s)
		}
	}
}

func parseEventFilter(v url.Values) EventFilter {
	f := EventFilter{User: v.Get("user"), Agent: v.Get("agent"), Upstream: v.Get("upstream"),
		Tool: v.Get("tool"), Decision: v.Get("decision"), Session: v.Get("session")}
	for k := range strings.SplitSeq(v.Get("kind"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			f.Kinds = append(f.Kinds, audit.Kind(k))
		}
	}
	return f
}

// streamStart finds the sequence number a new stream starts after.
func (c *console) streamStart(ctx context.Context, r *http.Request) (int64, *Error) {
	bad := func(d string) (int64, *Error) {
		return 0, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: d}
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n < 0 {
			return bad("Last-Event-ID must be a sequence number")
		}
		return n, nil
	}
	q := r.URL.Query()
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return bad("after must be a sequence number")
		}
		return n, nil
	}
	backlog := DefaultBacklog
	if s := q.Get("backlog"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > MaxBacklog {
			return bad("backlog must be a number from 0 to " + strconv.Itoa(MaxBacklog))
		}
		backlog = n
	}
	head, err := c.s.opts.Store.Audit().Head(ctx)
	if err != nil {
		c.s.log.Error("console: stream: read audit head", "err", err)
		return 0, &Error{Status: http.StatusServiceUnavailable, Code: "store_unavailable", Description: "the store is unavailable; see the server log"}
	}
	return max(0, head.Seq-int64(backlog)), nil
}

// serveEvents streams audit events over SSE (see the comment at the top).
// The connection gets a stream of its own in the r3labs/sse server, fed by
// a follower goroutine this handler owns and stops.
func (c *console) serveEvents(w http.ResponseWriter, r *http.Request, _ consoleSession) {
	after, e := c.streamStart(r.Context(), r)
	if e != nil {
		writeError(w, e)
		return
	}
	filter := parseEventFilter(r.URL.Query())
	id := randomText()
	subscribed := c.s.awaitSubscriber(id)
	c.s.sse.CreateStream(id)
	ctx, cancel := context.WithCancel(r.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The stream drops what is published before its subscriber is
		// registered: wait for it.
		select {
		case <-subscribed:
		case <-ctx.Done():
			return
		}
		c.follow(ctx, id, after, filter)
	}()
	// The client names no stream: this connection's is set here, and the
	// r3labs server's own replay is off (the store is the replay).
	r2 := r.Clone(ctx)
	r2.Header.Del("Last-Event-ID")
	r2.URL.RawQuery = url.Values{"stream": {id}}.Encode()
	c.s.sse.ServeHTTP(w, r2)
	cancel()
	<-done
	c.s.sse.RemoveStream(id)
	c.s.forgetSubscriber(id)
}

// awaitSubscriber returns a channel closed once stream id has its
// subscriber (see onSubscribe).
func (s *Server) awaitSubscriber(id string) <-chan struct{} {
	ch := make(chan struct{})
	s.subMu.Lock()
	s.subscribers[id] = ch
	s.subMu.Unlock()
	return ch
}

func (s *Server) forgetSubscriber(id string) {
	s.subMu.Lock()
	delete(s.subscribers, id)
	s.subMu.Unlock()
}

// onSubscribe is the r3labs server's OnSubscribe: it runs once the
// subscriber is registered with its stream, so what is published from then
// on reaches it.
func (s *Server) onSubscribe(id string, _ *sse.Subscriber) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if ch, ok := s.subscribers[id]; ok {
		close(ch)
		delete(s.subscribers, id)
	}
}

// follow publishes to stream id every event after seq that passes f, until
// ctx ends.
func (c *console) follow(ctx context.Context, id string, after int64, f EventFilter) {
	t := time.NewTicker(FollowInterval)
	defer t.Stop()
	idle := time.Now()
	failing := false
	for {
		evs, err := c.s.opts.Store.Audit().After(ctx, after, followBatch)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			c.s.log.Error("console: stream: read the audit log", "err", err)
		}
		failing = err != nil
		for i := range evs {
			after = evs[i].Seq
			if !f.Match(&evs[i]) {
				continue
			}
			data, err := json.Marshal(eventView(evs[i]))
			if err != nil {
				continue
			}
			c.s.sse.Publish(id, &sse.Event{ID: []byte(strconv.FormatInt(evs[i].Seq, 10)), Data: data})
			idle = time.Now()
		}
		if len(evs) == followBatch {
			continue
		}
		if time.Since(idle) >= keepAliveEvery {
			c.s.sse.Publish(id, &sse.Event{Comment: []byte("keep-alive")})
			idle = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

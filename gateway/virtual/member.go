package virtual

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/openlegant/legant/upstreams"
)

// link is how a session reaches one member: over the member's Streamable
// HTTP endpoint (the gateway's dialer bridges stdio and legacy SSE members),
// in a member session of its own (sid), or, for a member speaking a
// stateless revision to a stateless request, with no session at all.
type link struct {
	s      *session
	m      *upstreams.Member
	idx    int
	client *http.Client
	url    string

	sid       string // the member's Mcp-Session-Id ("" when stateless)
	version   string // the protocol revision negotiated with the member
	stateless bool   // requests pass through with the client's own headers and _meta
	result    object // the member's initialize (or server/discover) result
	caps      object // its capabilities

	nextID atomic.Int64 // ids of the virtual server's own requests to the member
	stop   context.CancelFunc
}

// has reports whether the member declared capability name.
func (l *link) has(name string) bool {
	v, ok := l.caps[name]
	return ok && string(v) != "null"
}

// post sends one message to the member. hdr are the MCP headers to send
// besides those of the link (session, revision, credential).
func (l *link) post(ctx context.Context, body []byte, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	l.headers(req)
	if err := l.s.authorize(req, l.m); err != nil {
		return nil, err
	}
	return l.client.Do(req)
}

func (l *link) headers(req *http.Request) {
	for k, v := range l.m.Headers {
		req.Header.Set(k, v)
	}
	if l.sid != "" {
		req.Header.Set("Mcp-Session-Id", l.sid)
	}
	if l.version != "" && (!l.stateless || req.Header.Get("Mcp-Protocol-Version") == "") {
		req.Header.Set("Mcp-Protocol-Version", l.version)
	}
}

// notify sends a notification (or a response) to the member, waiting for
// its 202.
func (l *link) notify(ctx context.Context, body []byte) error {
	resp, err := l.post(ctx, body, nil)
	if err != nil {
		return err
	}
	drain(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("member answered %s", resp.Status)
	}
	return nil
}

// call sends the virtual server's own request to the member and returns
// its result (a member's JSON-RPC error as *rpcError; anything else means
// the member is unavailable). Other messages the member sends meanwhile on
// the request's stream are dropped but for the client's hop: logs and
// progress of a list are of no call of the client's.
func (l *link) call(ctx context.Context, method string, params json.RawMessage, hdr http.Header) (json.RawMessage, error) {
	id := json.RawMessage(fmt.Sprintf(`"legant-virtual-%d"`, l.nextID.Add(1)))
	if hdr == nil {
		hdr = http.Header{}
	}
	if l.stateless || l.version >= statelessRevision {
		hdr.Set("Mcp-Method", method)
	}
	resp, err := l.post(ctx, request(id, method, params), hdr)
	if err != nil {
		return nil, err
	}
	defer drain(resp.Body)
	if resp.StatusCode/100 != 2 {
		if m, ok := errorBody(resp); ok {
			return nil, m
		}
		return nil, &statusError{code: resp.StatusCode, status: resp.Status}
	}
	if l.sid == "" && l.version == "" {
		l.sid = resp.Header.Get("Mcp-Session-Id") // initialize
	}
	var reply *message
	if isEventStream(resp) {
		r := newSSEReader(resp.Body)
		defer r.release()
		for reply == nil {
			data, err := r.next()
			if err != nil {
				return nil, fmt.Errorf("member's stream ended before its answer: %w", err)
			}
			var m message
			if decodeMessage(data, &m) == nil && m.isResponse() && idKey(m.ID) == idKey(id) {
				reply = &m
			}
		}
	} else {
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxEventBytes))
		if err != nil {
			return nil, err
		}
		var m message
		if err := decodeMessage(data, &m); err != nil {
			return nil, fmt.Errorf("member's answer: %w", err)
		}
		reply = &m
	}
	if reply.Error != nil {
		var re rpcError
		if err := json.Unmarshal(reply.Error, &re); err != nil {
			return nil, fmt.Errorf("member's error: %w", err)
		}
		return nil, &re
	}
	return reply.Result, nil
}

// statusError is an HTTP error status a member answered without a JSON-RPC
// error.
type statusError struct {
	code   int
	status string
}

func (e *statusError) Error() string { return "member answered " + e.status }

// errorBody reads a JSON-RPC error a member answered with an HTTP error
// status.
func errorBody(resp *http.Response) (*rpcError, bool) {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return nil, false
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, false
	}
	var m message
	if decodeMessage(data, &m) != nil || m.Error == nil {
		return nil, false
	}
	var re rpcError
	if json.Unmarshal(m.Error, &re) != nil {
		return nil, false
	}
	re.status = resp.StatusCode
	return &re, true
}

// legacyRevision is what the virtual server asks of a member that does not
// speak the client's stateless revision, in a session of its own.
const legacyRevision = "2025-11-25"

// initialize opens the member session with params (the client's own
// initialize params for a session: the member sees the client's revision
// and capabilities), then sends notifications/initialized.
func (l *link) initialize(ctx context.Context, params json.RawMessage) error {
	res, err := l.call(ctx, "initialize", params, nil)
	if err != nil {
		return err
	}
	o, err := decodeObject(res)
	if err != nil {
		return fmt.Errorf("member's initialize result: %w", err)
	}
	l.result = o
	l.version = o.str("protocolVersion")
	if l.version == "" {
		return errors.New("member's initialize result has no protocolVersion")
	}
	if l.caps, err = decodeObject(o["capabilities"]); err != nil {
		return fmt.Errorf("member's capabilities: %w", err)
	}
	return l.notify(ctx, request(nil, "notifications/initialized", nil))
}

// close ends the member session (DELETE), if any.
func (l *link) close() {
	if l.stop != nil {
		l.stop()
	}
	if l.sid == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, l.url, nil)
	if err != nil {
		return
	}
	l.headers(req)
	if l.s.authorize(req, l.m) != nil {
		return
	}
	if resp, err := l.client.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
	}
}

// listen reads the member's standalone stream (GET) while the session
// lives, passing what the member sends outside any request to the client's
// standalone stream: list_changed, resource updates, logs, and requests
// (their ids mapped). A stream that ends is reopened; a member that has
// none (405) is left alone.
func (l *link) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		opened, err := l.listenOnce(ctx)
		if errors.Is(err, errNoStream) || ctx.Err() != nil {
			return
		}
		if opened {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

var errNoStream = errors.New("member has no standalone stream")

func (l *link) listenOnce(ctx context.Context) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	l.headers(req)
	if err := l.s.authorize(req, l.m); err != nil {
		return false, err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusMethodNotAllowed, resp.StatusCode == http.StatusNotFound:
		return false, errNoStream
	case resp.StatusCode != http.StatusOK || !isEventStream(resp):
		return false, fmt.Errorf("member's standalone stream: %s", resp.Status)
	}
	r := newSSEReader(resp.Body)
	defer r.release()
	for {
		data, err := r.next()
		if err != nil {
			return true, err
		}
		out, err := l.fromMember(data)
		if err != nil {
			continue
		}
		l.s.send(ctx, out)
	}
}

// fromMember returns data, a message of the member, as the client gets it:
// a request's id is mapped (mapMemberID), anything else is unchanged.
func (l *link) fromMember(data []byte) ([]byte, error) {
	var h head
	if err := decodeHead(data, &h); err != nil {
		return nil, err
	}
	data = l.scopeTasks(data)
	if h.Method != "" && len(h.ID) > 0 && string(h.ID) != "null" {
		return withID(data, mapMemberID(l.idx, h.ID))
	}
	return data, nil
}

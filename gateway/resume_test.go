package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/policy"
)

// addPollTool adds "poll": it closes its POST stream at once (SEP-1699: the
// client is to reconnect after the retry delay) and answers after release.
func addPollTool(release <-chan struct{}) func(*mcp.Server) {
	return func(s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "poll"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			req.Extra.CloseSSEStream(mcp.CloseSSEStreamArgs{RetryAfter: 10 * time.Millisecond})
			select {
			case <-release:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "polled"}}}, nil, nil
		})
	}
}

// resumeRun is what a raw client saw of one tools/call of count, cut after
// `after` events and resumed with Last-Event-ID: the events' data and names
// in order, the ids, and the raw priming event.
type resumeRun struct {
	data    []string
	names   []string
	ids     []string
	priming string
}

// runResumed calls count(n) at endpoint with session headers h, drops the POST
// stream after `after` events (the priming event included) and resumes it
// with GET and the last id seen, until the result.
func runResumed(t *testing.T, endpoint, token string, h map[string]string, n, after int) resumeRun {
	t.Helper()
	var run resumeRun
	note := func(raw string) {
		if run.priming == "" {
			run.priming = raw
		}
		run.ids = append(run.ids, eventField(raw, "id"))
		run.names = append(run.names, eventField(raw, "event"))
		run.data = append(run.data, eventField(raw, "data"))
	}
	call := fmt.Sprintf(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"count","arguments":{"n":%d,"period_ms":20},"_meta":{"progressToken":"tok"}}}`, n)
	post := openRaw(t, http.MethodPost, endpoint, token, h, call)
	if post.resp.StatusCode != http.StatusOK {
		t.Fatalf("tools/call: %d", post.resp.StatusCode)
	}
	for range after {
		raw, err := post.event()
		if err != nil {
			t.Fatalf("POST stream: %v (%q)", err, raw)
		}
		note(raw)
	}
	post.close()
	gh := map[string]string{"Last-Event-ID": run.ids[len(run.ids)-1]}
	for k, v := range h {
		gh[k] = v
	}
	get := resume(t, endpoint, token, gh)
	for !strings.Contains(run.data[len(run.data)-1], `"result"`) {
		raw, err := get.event()
		if err != nil {
			t.Fatalf("resumed stream: %v (%q)", err, raw)
		}
		note(raw)
	}
	get.close()
	return run
}

// TestResumeThroughGateway: a client whose POST stream drops after the
// priming event, or after some progress, resumes with GET + Last-Event-ID and
// gets the rest and the result exactly as it would directly from the
// upstream; the upstream sees the client's Last-Event-ID (its own event id).
func TestResumeThroughGateway(t *testing.T) {
	r := newRig(t, rigOptions{eventStore: true})
	tok := r.token(tokenOptions{})
	for _, after := range []int{1, 3} {
		t.Run(fmt.Sprintf("dropped after %d events", after), func(t *testing.T) {
			via := runResumed(t, r.endpoint(), tok, rawSession(t, r, tok), 5, after)
			direct := runResumed(t, r.upstream.URL, "", directSession(t, r.upstream.URL), 5, after)
			if !slices.Equal(via.data, direct.data) || !slices.Equal(via.names, direct.names) {
				t.Fatalf("through the gateway:\n%q\n%q\ndirect:\n%q\n%q", via.names, via.data, direct.names, direct.data)
			}
			if len(via.data) != 7 { // priming, 5 progress, result
				t.Fatalf("got %d events: %q", len(via.data), via.data)
			}
			if want := "event: prime\nid: " + via.ids[0] + "\ndata: \n\n"; via.priming != want {
				t.Fatalf("priming event %q, want %q", via.priming, want)
			}
			if !slices.Contains(r.seenLastEventID.all(), via.ids[after-1]) {
				t.Fatalf("upstream saw Last-Event-IDs %q, not %q", r.seenLastEventID.all(), via.ids[after-1])
			}
		})
	}
}

// resume opens the GET that resumes a stream. Like a client, it retries after
// a retry delay while the upstream still holds the dropped stream (409: the
// drop has not reached it yet).
func resume(t *testing.T, endpoint, token string, h map[string]string) *rawStream {
	t.Helper()
	for range 100 {
		get := openRaw(t, http.MethodGet, endpoint, token, h, "")
		switch get.resp.StatusCode {
		case http.StatusOK:
			return get
		case http.StatusConflict:
			get.close()
			<-time.After(10 * time.Millisecond) // the client's retry delay
		default:
			t.Fatalf("resume: status %d", get.resp.StatusCode)
		}
	}
	t.Fatal("resume: the stream stayed claimed")
	return nil
}

// directSession opens a session straight at the upstream (no gateway).
func directSession(t *testing.T, url string) map[string]string {
	t.Helper()
	init := rawPost(t, url, "", nil, init20251125)
	h := map[string]string{"Mcp-Session-Id": init.header.Get("Mcp-Session-Id"), "Mcp-Protocol-Version": "2025-11-25"}
	rawPost(t, url, "", h, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return h
}

// TestPollingThroughGateway: the upstream closes the POST stream after the
// priming event with a retry hint (SEP-1699); the close event reaches the
// client unchanged, the client reconnects with GET + Last-Event-ID and gets
// the result.
func TestPollingThroughGateway(t *testing.T) {
	release := make(chan struct{})
	r := newRig(t, rigOptions{eventStore: true, server: addPollTool(release),
		extraYAML: "      poll:\n        scope: expenses:read\n"})
	tok := r.token(tokenOptions{})
	h := rawSession(t, r, tok)
	post := openRaw(t, http.MethodPost, r.endpoint(), tok, h, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"poll","arguments":{}}}`)
	body, err := post.rest()
	if err != nil {
		t.Fatalf("POST stream: %v", err)
	}
	prime := eventField(body, "id")
	if want := "event: prime\nid: " + prime + "\ndata: \n\nevent: close\nretry: 10\ndata: \n\n"; body != want {
		t.Fatalf("POST stream %q, want %q", body, want)
	}
	close(release)
	gh := map[string]string{"Last-Event-ID": prime}
	for k, v := range h {
		gh[k] = v
	}
	get := resume(t, r.endpoint(), tok, gh)
	raw, err := get.event()
	if err != nil || !strings.Contains(raw, `"id":9,"result"`) || !strings.Contains(raw, "polled") {
		t.Fatalf("resumed: %v %q", err, raw)
	}
}

// TestResumeOnlyByTheOwner: another principal naming the session and an
// event id gets 404 and nothing reaches the upstream.
func TestResumeOnlyByTheOwner(t *testing.T) {
	r := newRig(t, rigOptions{eventStore: true})
	alice := r.token(tokenOptions{})
	h := rawSession(t, r, alice)
	post := openRaw(t, http.MethodPost, r.endpoint(), alice, h, countCall)
	prime, err := post.event()
	if err != nil {
		t.Fatal(err)
	}
	post.close()
	gh := map[string]string{"Last-Event-ID": eventField(prime, "id")}
	for k, v := range h {
		gh[k] = v
	}
	for name, tok := range map[string]string{
		"other user":  r.token(tokenOptions{user: "bob"}),
		"other agent": r.token(tokenOptions{agents: []string{"planner", "executor"}}),
	} {
		get := openRaw(t, http.MethodGet, r.endpoint(), tok, gh, "")
		if get.resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s resumed alice's stream: status %d", name, get.resp.StatusCode)
		}
		get.close()
	}
	if seen := r.seenLastEventID.all(); len(seen) != 0 {
		t.Fatalf("the upstream was asked to resume: %q", seen)
	}
	owner := resume(t, r.endpoint(), alice, gh)
	if raw, err := owner.event(); err != nil || !strings.Contains(raw, `"id":2,"result"`) {
		t.Fatalf("owner's resume: %v %q", err, raw)
	}
}

// TestHoldSettledOnResumedStream: a call counted against max_calls whose POST
// stream dropped is settled when its result arrives on the resumed stream, so
// the count is spent and the next call refused.
func TestHoldSettledOnResumedStream(t *testing.T) {
	ledger := policy.NewMemoryLedger()
	r := newRig(t, rigOptions{eventStore: true, gwOpts: func(o *gateway.Options) { o.Ledger = ledger }})
	c := authority.Unrestricted()
	one := int64(1)
	c.MaxCalls = &one
	tok := r.token(tokenOptions{c: &c, id: "resumed-hold"})
	h := rawSession(t, r, tok)
	run := runResumed(t, r.endpoint(), tok, h, 3, 1)
	if !strings.Contains(run.data[len(run.data)-1], "counted to 3") {
		t.Fatalf("result %q", run.data[len(run.data)-1])
	}
	if _, calls := ledger.Spent("del-resumed-hold"); calls != 1 {
		t.Fatalf("the resumed call's hold is not settled: %d calls spent", calls)
	}
	again := rawPost(t, r.endpoint(), tok, h, countCall)
	if _, msg, _ := rpcErr(t, again.body); !strings.Contains(msg, "call") {
		t.Fatalf("second call not refused by max_calls: %q", msg)
	}
}

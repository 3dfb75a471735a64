package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/openlegant/legant/gateway"
)

// TestServerToClientRelay covers what flows from the upstream to the client:
// progress notifications, sampling and elicitation (server-to-client requests
// in session-based revisions, multi-round-trip input requests in 2026-07-28).
func TestServerToClientRelay(t *testing.T) {
	for _, era := range eras {
		t.Run(era.name, func(t *testing.T) {
			r := newRig(t, rigOptions{stateless: era.stateless})
			progress := make(chan float64, 16)
			opts := &mcp.ClientOptions{
				CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
					return &mcp.CreateMessageResult{Model: "test", Role: "assistant", Content: &mcp.TextContent{Text: "forty-two"}}, nil
				},
				ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					return &mcp.ElicitResult{Action: "accept"}, nil
				},
				ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
					progress <- req.Params.Progress
				},
			}
			cs := r.connect(r.token(tokenOptions{}), era.version, opts)
			ctx := context.Background()

			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "ask_model", Arguments: map[string]any{}})
			if err != nil || textOf(res) != "model said: forty-two" {
				t.Fatalf("sampling relay: %v %q", err, textOf(res))
			}
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "confirm", Arguments: map[string]any{}})
			if err != nil || textOf(res) != "user chose accept" {
				t.Fatalf("elicitation relay: %v %q", err, textOf(res))
			}
			params := &mcp.CallToolParams{Name: "count", Arguments: map[string]any{"n": 5, "period_ms": 1}}
			params.SetProgressToken("p1")
			res, err = cs.CallTool(ctx, params)
			if err != nil || textOf(res) != "counted to 5" {
				t.Fatalf("count: %v %q", err, textOf(res))
			}
			// Notifications are handled concurrently with the result by the
			// client: collect them without assuming they all came first.
			seen := map[float64]bool{}
			for len(seen) < 5 {
				select {
				case p := <-progress:
					seen[p] = true
				case <-time.After(10 * time.Second):
					t.Fatalf("progress notifications seen: %v, want 1..5", seen)
				}
			}
		})
	}
}

func textOf(res *mcp.CallToolResult) string {
	if res == nil || len(res.Content) == 0 {
		return ""
	}
	if tc, ok := res.Content[0].(*mcp.TextContent); ok {
		return tc.Text
	}
	return ""
}

// TestCancelReachesUpstream: a client that gives up on a long call cancels it
// at the upstream too.
func TestCancelReachesUpstream(t *testing.T) {
	started, cancelled := make(chan struct{}), make(chan struct{})
	r := newRig(t, rigOptions{server: func(s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "block"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			close(started)
			<-ctx.Done()
			close(cancelled)
			return nil, nil, ctx.Err()
		})
	}, extraYAML: "      block:\n        scope: expenses:read\n"})
	cs := r.connect(r.token(tokenOptions{}), "2025-11-25", nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "block", Arguments: map[string]any{}})
		errc <- err
	}()
	// Wait until the upstream runs the call, then give up on it.
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("call error = %v, want context.Canceled", err)
	}
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream never saw the cancellation")
	}
}

// TestLongStreamingCall runs a tool call that streams progress for a minute:
// no timeout of the gateway may cut it.
func TestLongStreamingCall(t *testing.T) {
	if testing.Short() {
		t.Skip("a one-minute call; run without -short")
	}
	r := newRig(t, rigOptions{})
	progress := make(chan float64, 64)
	cs := r.connect(r.token(tokenOptions{}), "2025-11-25", &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			progress <- req.Params.Progress
		}})
	params := &mcp.CallToolParams{Name: "count", Arguments: map[string]any{"n": 60, "period_ms": 1000}}
	params.SetProgressToken("long")
	res, err := cs.CallTool(context.Background(), params)
	if err != nil || textOf(res) != "counted to 60" {
		t.Fatalf("long call: %v %q", err, textOf(res))
	}
	// The client handles notifications concurrently with the result: the
	// last ones may still be on their way.
	seen := map[float64]bool{}
	for len(seen) < 60 {
		select {
		case p := <-progress:
			seen[p] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d distinct progress notifications over the minute, want 60", len(seen))
		}
	}
}

// TestResourcesAndPromptsRelayed: resources and prompts the registry grants
// pass through unchanged (governance_test.go covers those it does not).
func TestResourcesAndPromptsRelayed(t *testing.T) {
	r := newRig(t, rigOptions{extraYAML: `    resources:
      - uri: memo://policy
        scope: expenses:read
    prompts:
      summarize:
        scope: expenses:read
`, server: func(s *mcp.Server) {
		s.AddResource(&mcp.Resource{URI: "memo://policy", Name: "policy", MIMEType: "text/plain"},
			func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
				return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "memo://policy", Text: "max 500"}}}, nil
			})
		s.AddPrompt(&mcp.Prompt{Name: "summarize"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "summarize"}}}}, nil
		})
	}})
	for _, era := range eras[:1] {
		cs := r.connect(r.token(tokenOptions{}), era.version, nil)
		ctx := context.Background()
		if err := cs.Ping(ctx, nil); err != nil {
			t.Fatalf("ping: %v", err)
		}
		rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "memo://policy"})
		if err != nil || rr.Contents[0].Text != "max 500" {
			t.Fatalf("resources/read: %v", err)
		}
		lr, err := cs.ListResources(ctx, nil)
		if err != nil || len(lr.Resources) != 1 {
			t.Fatalf("resources/list: %v", err)
		}
		pr, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "summarize"})
		if err != nil || !strings.Contains(pr.Messages[0].Content.(*mcp.TextContent).Text, "summarize") {
			t.Fatalf("prompts/get: %v", err)
		}
		if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "info"}); err != nil {
			t.Fatalf("logging/setLevel: %v", err)
		}
	}
}

// TestCopyBodyPoolsItsBuffer: a response relayed as it is (a notification's
// empty 202, say) is copied through a pooled buffer, not a fresh 32 KiB one
// per response as io.Copy would allocate.
func TestCopyBodyPoolsItsBuffer(t *testing.T) {
	var out bytes.Buffer
	gateway.CopyBody(&out, strings.NewReader("warm the pool"))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 200
	w := struct{ io.Writer }{io.Discard} // as an HTTP/2 response: no ReadFrom
	for range n {
		gateway.CopyBody(w, strings.NewReader(""))
	}
	runtime.ReadMemStats(&after)
	// io.Copy allocates 32 KiB per call. The pool's 4 KiB buffer comes back
	// nearly always (under the race detector sync.Pool drops a quarter of
	// what it is given: ~1 KiB a call on average).
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 8<<10 {
		t.Fatalf("copying an empty body allocated %d bytes per response; want its buffer pooled", per)
	}
	out.Reset()
	body := strings.Repeat("x", 10000) // more than one buffer's worth, byte for byte
	gateway.CopyBody(&out, strings.NewReader(body))
	if out.String() != body {
		t.Fatalf("copied %d bytes, want %d unchanged", out.Len(), len(body))
	}
}

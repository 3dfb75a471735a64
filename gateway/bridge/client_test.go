package bridge_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// exerciseClient runs what every bridge must carry for a go-sdk client:
// listing tools, a plain call, progress notifications routed to the call's
// stream, and an elicitation the server sends mid-call.
func exerciseClient(t *testing.T, h http.Handler, version string, header http.Header) *mcp.ClientSession {
	t.Helper()
	progress := make(chan *mcp.ProgressNotificationParams, 16)
	elicited := make(chan string, 1)
	cs := connect(t, h, version, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			progress <- req.Params
		},
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			elicited <- req.Params.Message
			return &mcp.ElicitResult{Action: "accept"}, nil
		},
	}, header)
	if v := cs.InitializeResult().ProtocolVersion; v != version {
		t.Errorf("negotiated %s, want %s", v, version)
	}

	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	for _, want := range []string{"echo", "count", "ask"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools/list = %v, missing %s", names, want)
		}
	}

	// Characters a re-encoder would change (HTML escaping, U+2028).
	const text = "héllo <b>&amp;</b> \u2028 \"quoted\""
	if got := callText(t, cs, "echo", map[string]any{"text": text}); got != text {
		t.Errorf("echo = %q, want %q", got, text)
	}

	params := &mcp.CallToolParams{Name: "count", Arguments: map[string]any{"n": 5}}
	params.SetProgressToken("tok-1")
	cres, err := cs.CallTool(context.Background(), params)
	if err != nil || cres.IsError {
		t.Fatalf("count: %v %+v", err, cres)
	}
	for i := 1; i <= 5; i++ {
		p := <-progress
		if p.ProgressToken != "tok-1" || p.Progress != float64(i) || p.Total != 5 {
			t.Errorf("progress %d = %+v", i, p)
		}
	}

	if got := callText(t, cs, "ask", nil); got != "user chose accept" {
		t.Errorf("ask = %q", got)
	}
	if msg := <-elicited; msg != "Proceed?" {
		t.Errorf("elicitation message = %q", msg)
	}
	return cs
}

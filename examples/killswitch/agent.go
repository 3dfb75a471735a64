package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/examples/killswitch/slowtool"
)

// agent is an MCP client working through the gateway, as an agent host's is.
type agent struct {
	cs       *mcp.ClientSession
	progress chan string // "<progress token> <message>" of every notification
}

type bearer struct{ token string }

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(req)
}

func connectAgent(ctx context.Context, d *demo, token string) (*agent, error) {
	a := &agent{progress: make(chan string, 1024)}
	c := mcp.NewClient(&mcp.Implementation{Name: "planner", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			select {
			case a.progress <- fmt.Sprint(req.Params.ProgressToken) + " " + req.Params.Message:
			default:
			}
		}})
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: d.gatewayURL + "/mcp/" + demoSlug,
		HTTPClient: &http.Client{Transport: bearer{token}}}, nil)
	if err != nil {
		return nil, fmt.Errorf("agent: connect: %w", err)
	}
	a.cs = cs
	return a, nil
}

// result is the outcome of one call of the loop.
type result struct {
	n    int
	text string
	err  error
	at   time.Time // when the call returned
}

// loop calls the slow tool again and again: quick calls first, then a long
// one; it stops after its second failure.
func (a *agent) loop(ctx context.Context, quick int) <-chan result {
	out := make(chan result, 16)
	go func() {
		defer close(out)
		for n, failures := 0, 0; failures < 2 && ctx.Err() == nil; n++ {
			args := map[string]any{}
			if n < quick {
				args["steps"] = 3
			}
			params := &mcp.CallToolParams{Name: slowtool.ToolName, Arguments: args}
			params.SetProgressToken(fmt.Sprint(n))
			res, err := a.cs.CallTool(ctx, params)
			r := result{n: n, err: err, at: time.Now()}
			if err != nil {
				failures++
			} else if tc, ok := res.Content[0].(*mcp.TextContent); ok {
				r.text = tc.Text
			}
			out <- r
		}
	}()
	return out
}

// Package testserver builds the MCP server that the bridge's tests run behind
// both bridges: as a child process over stdio (testdata/stdioserver) and as a
// legacy HTTP+SSE server in httptest. It is test support, never shipped in
// the legant binary.
package testserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// New returns a server with the tools the tests call:
//
//   - echo(text): returns text unchanged;
//   - count(n): sends one progress notification per step to the caller's
//     progress token, then returns "counted to n";
//   - ask(): asks the user through elicitation (an input request, which the
//     SDK turns into an elicitation/create request for clients of revisions
//     before 2026-07-28) and returns "user chose <action>";
//   - pid(): returns the server's process id;
//   - env(): returns the server's environment, one variable a line;
//   - keyhash(): returns the hex SHA-256 of $UPSTREAM_API_KEY ("unset" when
//     it is not set), so a test checks the key without the key in a result;
//   - crash(code): exits the process at once with code (stdio only).
func New() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "bridge-test-server", Version: "1"}, nil)
	type echoIn struct {
		Text string `json:"text"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Returns text unchanged"},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			return text(in.Text), nil, nil
		})
	type countIn struct {
		N int `json:"n"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "count", Description: "Counts to n with progress notifications"},
		func(ctx context.Context, req *mcp.CallToolRequest, in countIn) (*mcp.CallToolResult, any, error) {
			for i := 1; i <= in.N; i++ {
				if tok := req.Params.GetProgressToken(); tok != nil {
					err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
						ProgressToken: tok, Progress: float64(i), Total: float64(in.N)})
					if err != nil {
						return nil, nil, err
					}
				}
			}
			return text(fmt.Sprintf("counted to %d", in.N)), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "ask", Description: "Asks the user (elicitation)"},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			resp, ok := req.Params.InputResponses["ok"]
			if !ok {
				return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"ok": &mcp.ElicitParams{Message: "Proceed?"}}}, nil, nil
			}
			return text("user chose " + resp.(*mcp.ElicitResult).Action), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "pid", Description: "Returns the server's process id"},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return text(fmt.Sprint(os.Getpid())), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "env", Description: "Returns the server's environment"},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return text(strings.Join(os.Environ(), "\n")), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "keyhash", Description: "Returns the SHA-256 of $UPSTREAM_API_KEY"},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			k, ok := os.LookupEnv("UPSTREAM_API_KEY")
			if !ok {
				return text("unset"), nil, nil
			}
			sum := sha256.Sum256([]byte(k))
			return text(hex.EncodeToString(sum[:])), nil, nil
		})
	type crashIn struct {
		Code int `json:"code"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "crash", Description: "Exits the process"},
		func(_ context.Context, _ *mcp.CallToolRequest, in crashIn) (*mcp.CallToolResult, any, error) {
			fmt.Fprintln(os.Stderr, "crashing on request")
			os.Exit(in.Code)
			return nil, nil, nil
		})
	return s
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

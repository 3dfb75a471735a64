// Command agent is the agent side of the console end-to-end test
// (scripts/console-e2e.sh): a slow MCP upstream, and an agent loop that
// works through a real `legant gateway`.
//
//	agent upstream                       serve the slow tool; line 1 of stdout is its URL
//	agent loop <gateway URL> <keys dir>  mint a token (alice → planner) with the issuer key
//	                                     in <keys dir>, then call the slow tool through
//	                                     the gateway: short calls, then a long one
//
// The loop prints one JSON line per call: {"n":0,"ok":true,"at_ms":…}, or
// for a failed call {"n":3,"ok":false,"code":…,"message":…,"reason":…,"at_ms":…}
// (at_ms: Unix milliseconds when the call returned), and stops after the
// first failure. Test-only; the killswitch example explains the pieces.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/examples/killswitch/slowtool"
	"github.com/openlegant/legant/issuer/keydir"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 2 && os.Args[1] == "upstream":
		err = upstream()
	case len(os.Args) == 4 && os.Args[1] == "loop":
		err = loop(os.Args[2], os.Args[3])
	default:
		err = errors.New("usage: agent upstream | agent loop <gateway URL> <keys dir>")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(1)
	}
}

func upstream() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("http://%s\n", ln.Addr())
	srv := &http.Server{Handler: slowtool.New(slowtool.Options{}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return srv.Close()
}

type bearer struct{ token string }

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(req)
}

// shortCalls is how many short calls the loop makes before the long one.
const shortCalls = 6

func loop(gateway, keysDir string) error {
	gateway = strings.TrimSuffix(gateway, "/")
	ks, err := keydir.Load(keysDir)
	if err != nil {
		return err
	}
	key, err := ks.Signer()
	if err != nil {
		return err
	}
	now := time.Now()
	tok, err := authority.Sign(key, &authority.Claims{Issuer: gateway, Subject: "alice",
		Audience: []string{gateway + "/mcp/work"}, IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		ID: "e2e-" + now.Format("150405.000"), ClientID: "agent-host", Scopes: []string{"work:run"},
		Actor: &authority.Actor{Subject: "planner"}, DelegationID: "e2e-delegation", Constraints: authority.Unrestricted()})
	if err != nil {
		return err
	}
	ctx := context.Background()
	c := mcp.NewClient(&mcp.Implementation{Name: "planner", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: gateway + "/mcp/work",
		HTTPClient: &http.Client{Transport: bearer{tok}}}, nil)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cs.Close()
	enc := json.NewEncoder(os.Stdout)
	fmt.Fprintf(os.Stderr, "agent: session %s\n", cs.ID())
	for n := 0; ; n++ {
		args := map[string]any{}
		if n < shortCalls {
			args["steps"] = 6 // 0.3 s
		}
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: slowtool.ToolName, Arguments: args})
		line := map[string]any{"n": n, "ok": err == nil, "at_ms": time.Now().UnixMilli(), "session": cs.ID()}
		if err != nil {
			line["message"] = err.Error()
			var werr *jsonrpc.Error
			if errors.As(err, &werr) {
				var data struct{ Reason string }
				json.Unmarshal(werr.Data, &data)
				line["code"], line["message"], line["reason"] = werr.Code, werr.Message, data.Reason
			}
		}
		enc.Encode(line)
		if err != nil {
			return nil
		}
	}
}

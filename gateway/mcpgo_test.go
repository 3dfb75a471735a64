package gateway_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/upstreams"
)

// mcpgoSampler answers sampling requests for the mcp-go client.
type mcpgoSampler struct{}

func (mcpgoSampler) CreateMessage(context.Context, mcpgo.CreateMessageRequest) (*mcpgo.CreateMessageResult, error) {
	return &mcpgo.CreateMessageResult{Model: "test", SamplingMessage: mcpgo.SamplingMessage{
		Role: mcpgo.RoleAssistant, Content: mcpgo.TextContent{Type: "text", Text: "forty-two"}}}, nil
}

// TestMCPGoClientAndServer runs mark3labs/mcp-go on both sides of the gateway,
// in the session-based revisions and the stateless one (where a server cannot
// send requests to the client, so sampling is covered in the others).
func TestMCPGoClientAndServer(t *testing.T) {
	for _, version := range []string{"2025-06-18", "2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			modern := version >= "2026-07-28" // stateless: no server-to-client requests
			var submitted atomic.Int64
			srv := mcpserver.NewMCPServer("mcpgo-expenses", "1.0.0", mcpserver.WithToolCapabilities(true))
			srv.AddTool(mcpgo.NewTool("submit_expense", mcpgo.WithNumber("amount"), mcpgo.WithString("category")),
				func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
					submitted.Add(1)
					return mcpgo.NewToolResultText(fmt.Sprintf("submitted %v", req.GetArguments()["amount"])), nil
				})
			srv.AddTool(mcpgo.NewTool("delete_all"), func(context.Context, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
				submitted.Store(-1000)
				return mcpgo.NewToolResultText("deleted"), nil
			})
			srv.AddTool(mcpgo.NewTool("ask_model"), func(ctx context.Context, _ mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
				res, err := srv.RequestSampling(ctx, mcpgo.CreateMessageRequest{CreateMessageParams: mcpgo.CreateMessageParams{
					MaxTokens: 5, Messages: []mcpgo.SamplingMessage{{Role: mcpgo.RoleUser, Content: mcpgo.TextContent{Type: "text", Text: "hi"}}}}})
				if err != nil {
					return nil, err
				}
				return mcpgo.NewToolResultText("model said: " + res.Content.(mcpgo.TextContent).Text), nil
			})
			upstream := httptest.NewServer(mcpserver.NewStreamableHTTPServer(srv, mcpserver.WithStateLess(modern)))
			defer upstream.Close()

			gw, endpoint, tok := mcpgoGateway(t, upstream.URL+"/mcp")
			defer gw.Close()

			opts := []transport.StreamableHTTPCOption{transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + tok})}
			if !modern { // a standalone stream needs a session: mcp-go then pins a session-based revision
				opts = append(opts, transport.WithContinuousListening())
			}
			tr, err := transport.NewStreamableHTTP(endpoint, opts...)
			if err != nil {
				t.Fatal(err)
			}
			c := mcpclient.NewClient(tr, mcpclient.WithSamplingHandler(mcpgoSampler{}))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			init := mcpgo.InitializeRequest{}
			init.Params.ProtocolVersion = version
			init.Params.ClientInfo = mcpgo.Implementation{Name: "mcpgo-agent", Version: "1"}
			init.Params.Capabilities.Sampling = &mcpgo.SamplingCapability{}
			res, err := c.Initialize(ctx, init)
			if err != nil {
				t.Fatalf("initialize: %v", err)
			}
			if res.ProtocolVersion != version {
				t.Fatalf("negotiated %s, want %s", res.ProtocolVersion, version)
			}
			tools, err := c.ListTools(ctx, mcpgo.ListToolsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range tools.Tools {
				names = append(names, tool.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, []string{"ask_model", "submit_expense"}) {
				t.Fatalf("tools = %v", names)
			}
			call := func(name string, args map[string]any) (*mcpgo.CallToolResult, error) {
				req := mcpgo.CallToolRequest{}
				req.Params.Name, req.Params.Arguments = name, args
				return c.CallTool(ctx, req)
			}
			if r, err := call("submit_expense", map[string]any{"amount": 120, "category": "travel"}); err != nil || r.IsError {
				t.Fatalf("allowed call: %v %+v", err, r)
			}
			if _, err := call("submit_expense", map[string]any{"amount": 900, "category": "travel"}); err == nil {
				t.Fatal("a call over max_amount was allowed")
			}
			if _, err := call("delete_all", map[string]any{}); err == nil {
				t.Fatal("an unbound tool was callable")
			}
			if !modern {
				if r, err := call("ask_model", map[string]any{}); err != nil || r.Content[0].(mcpgo.TextContent).Text != "model said: forty-two" {
					t.Fatalf("sampling relay: %v %+v", err, r)
				}
			}
			if n := submitted.Load(); n != 1 {
				t.Fatalf("upstream ran submit_expense %d times, want 1", n)
			}
		})
	}
}

// mcpgoGateway puts a gateway in front of url with submit_expense and
// ask_model bound, and returns it with its endpoint and a token.
func mcpgoGateway(t *testing.T, url string) (*gateway.Gateway, string, string) {
	t.Helper()
	key, _ := authority.GenerateEd25519Key("k")
	gwKey, _ := authority.GenerateEd25519Key("g")
	keys := authority.NewKeySet()
	keys.Add(key, time.Time{})
	front := httptest.NewUnstartedServer(nil)
	public := "http://" + front.Listener.Addr().String()
	reg, err := upstreams.Parse("t.yaml", []byte(fmt.Sprintf(`version: 1
upstreams:
  - slug: exp
    url: %s
    tools:
      submit_expense: {scope: w, amount: {pointer: /amount, currency: USD}, category: /category}
      ask_model: {scope: w}
`, url)), upstreams.Options{PublicURL: public})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Options{Registry: func() *upstreams.Registry { return reg }, Issuer: testIssuer,
		Keys: keys, Signer: gwKey, PublicURL: public})
	if err != nil {
		t.Fatal(err)
	}
	front.Config.Handler = gw
	front.Start()
	t.Cleanup(front.Close)
	c := authority.Unrestricted()
	c.MaxAmount = &authority.Money{Value: authority.MustDecimal("500"), Currency: "USD"}
	now := time.Now()
	tok, err := authority.Sign(key, &authority.Claims{Issuer: testIssuer, Subject: "alice", Audience: []string{public + "/mcp/exp"},
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), ID: "mcpgo", Scopes: []string{"w"},
		Actor: &authority.Actor{Subject: "agent"}, Constraints: c})
	if err != nil {
		t.Fatal(err)
	}
	return gw, public + "/mcp/exp", tok
}

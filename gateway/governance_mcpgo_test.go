package gateway_test

import (
	"context"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// TestGovernedObjectsMCPGoClient: an mcp-go client sees through the gateway
// only the granted resources and prompts, and its reads of the others are
// refused before the upstream.
func TestGovernedObjectsMCPGoClient(t *testing.T) {
	r := governedRig(t, false, "")
	tr, err := transport.NewStreamableHTTP(r.endpoint(), transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + governedToken(r)}))
	if err != nil {
		t.Fatal(err)
	}
	c := mcpclient.NewClient(tr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	init := mcpgo.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-11-25"
	init.Params.ClientInfo = mcpgo.Implementation{Name: "mcpgo-agent", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatalf("initialize: %v", err)
	}
	lr, err := c.ListResources(ctx, mcpgo.ListResourcesRequest{})
	if err != nil || len(lr.Resources) != 1 || lr.Resources[0].URI != "docs://public" {
		t.Fatalf("resources/list = %+v, %v", lr, err)
	}
	lp, err := c.ListPrompts(ctx, mcpgo.ListPromptsRequest{})
	if err != nil || len(lp.Prompts) != 1 || lp.Prompts[0].Name != "summarize" {
		t.Fatalf("prompts/list = %+v, %v", lp, err)
	}
	read := mcpgo.ReadResourceRequest{}
	read.Params.URI = "canary://secret"
	if _, err := c.ReadResource(ctx, read); err == nil {
		t.Fatal("read of an ungranted resource succeeded")
	}
	get := mcpgo.GetPromptRequest{}
	get.Params.Name = "secret_prompt"
	if _, err := c.GetPrompt(ctx, get); err == nil {
		t.Fatal("get of an ungranted prompt succeeded")
	}
	if n := r.seenMethods.count("resources/read") + r.seenMethods.count("prompts/get"); n != 0 {
		t.Fatalf("upstream received %d refused requests", n)
	}
}

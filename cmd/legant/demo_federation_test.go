package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/examples/federation"
)

// TestDemoFederation runs `legant demo --federation` (the example registry
// behind a real gateway, two real demo servers) and uses it with the token it
// wrote: the merged tools of both members, a call to each, and the one
// budget of 500 USD spanning both.
func TestDemoFederation(t *testing.T) {
	dir := t.TempDir()
	listen := loopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	cmd := newDemoCmd()
	cmd.SetArgs([]string{"--federation", "--data-dir", dir, "--listen", listen, "--admin-listen", ""})
	cmd.SetOut(out)
	cmd.SetErr(&syncBuffer{})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "Audit trail"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the demo printed no instructions:\n%s", out.String())
		}
	}
	endpoint := "http://" + listen + "/mcp/" + federation.Slug
	if !strings.Contains(out.String(), endpoint) {
		t.Errorf("the instructions lack the endpoint %s:\n%s", endpoint, out.String())
	}
	registry, err := os.ReadFile(filepath.Join(dir, "demo", "legant.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := runCmd(t, "", "lint", "-f", filepath.Join(dir, "demo", "legant.yaml")); err != nil {
		t.Errorf("lint of the demo's registry: %v\n%s\n%s", err, got, registry)
	}
	token, err := os.ReadFile(filepath.Join(dir, "demo", "token"))
	if err != nil {
		t.Fatal(err)
	}
	cl := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, nil)
	cs, err := cl.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint,
		HTTPClient: &http.Client{Transport: bearer{strings.TrimSpace(string(token))}}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	list, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, federation.Tools) {
		t.Errorf("tools = %v, want %v", names, federation.Tools)
	}
	call := func(name string, amount int) (*mcp.CallToolResult, error) {
		return cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: map[string]any{"amount": amount, "category": "travel", "currency": "USD"}})
	}
	for _, tc := range []struct {
		tool   string
		amount int
		ok     bool
	}{{"team__submit_expense", 300, true}, {"travel.submit_expense", 250, false}, {"travel.submit_expense", 200, true}} {
		res, err := call(tc.tool, tc.amount)
		if ok := err == nil && !res.IsError; ok != tc.ok {
			t.Errorf("%s %d: err %v, result %+v; want ok=%v (one budget of 500 across both members)", tc.tool, tc.amount, err, res, tc.ok)
		}
	}
}

package gateway_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/upstreams"
)

// BenchmarkVirtualCall compares a tools/call through the gateway to one
// upstream ("direct") with the same call to the same server as one of three
// members of a virtual server ("virtual-3"), in each protocol era: sessions
// (2025-11-25, stateful members) and stateless requests (2026-07-28,
// stateless members). Real loopback servers, one go-sdk client session
// each; each iteration makes one call of each, in alternating order, and
// the metrics are the wall time and the process's CPU time per call of
// each (every part runs in this process) and their ratios.
func BenchmarkVirtualCall(b *testing.B) {
	for _, era := range []struct {
		version   string
		stateless bool
	}{{"2025-11-25", false}, {"2026-07-28", true}} {
		b.Run(era.version, func(b *testing.B) { benchVirtualCall(b, era.version, era.stateless) })
	}
}

// benchMember is a go-sdk server with one echo tool.
func benchMember(b *testing.B, name string, stateless bool) *httptest.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + ":" + in.Text}}}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{Stateless: stateless}))
	b.Cleanup(srv.Close)
	return srv
}

func benchVirtualCall(b *testing.B, version string, stateless bool) {
	members := []*httptest.Server{benchMember(b, "a", stateless), benchMember(b, "b", stateless), benchMember(b, "c", stateless)}
	key, err := authority.GenerateEd25519Key("issuer-1")
	if err != nil {
		b.Fatal(err)
	}
	gwKey, err := authority.GenerateEd25519Key("gw-1")
	if err != nil {
		b.Fatal(err)
	}
	keys := authority.NewKeySet()
	keys.Add(key, time.Time{})
	server := httptest.NewUnstartedServer(nil)
	public := "http://" + server.Listener.Addr().String()
	yaml := fmt.Sprintf(`version: 1
upstreams:
  - slug: direct
    url: %s
    downstream_audience: "https://b.internal"
    tools: {echo: {scope: fed:read}}
  - slug: fed
    members:
      - {name: a, url: %s, downstream_audience: "https://a.internal"}
      - {name: b, url: %s, downstream_audience: "https://b.internal"}
      - {name: c, url: %s, downstream_audience: "https://c.internal"}
    tools:
      a__echo: {scope: fed:read}
      b__echo: {scope: fed:read}
      c__echo: {scope: fed:read}
`, members[1].URL, members[0].URL, members[1].URL, members[2].URL)
	reg, err := upstreams.Parse("bench.yaml", []byte(yaml), upstreams.Options{PublicURL: public})
	if err != nil {
		b.Fatal(err)
	}
	gw, err := gateway.New(gateway.Options{Registry: func() *upstreams.Registry { return reg },
		Issuer: testIssuer, Keys: keys, Signer: gwKey, PublicURL: public, Recorder: &eventLog{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	server.Config.Handler = gw
	server.Start()
	b.Cleanup(func() { server.Close(); gw.Close() })

	type target struct {
		cs        *mcp.ClientSession
		params    *mcp.CallToolParams
		wall, cpu time.Duration
	}
	var targets []*target
	for _, bc := range []struct{ name, slug, tool string }{{"direct", "direct", "echo"}, {"virtual-3", "fed", "b__echo"}} {
		endpoint := server.URL + "/mcp/" + bc.slug
		now := time.Now()
		tok, err := authority.Sign(key, &authority.Claims{Issuer: testIssuer, Subject: "alice", Audience: []string{endpoint},
			IssuedAt: now, ExpiresAt: now.Add(time.Hour), ID: "jti-bench-" + bc.name, ClientID: "bench",
			Scopes: []string{"fed:read"}, Actor: &authority.Actor{Subject: "planner"}, DelegationID: "del-bench-" + bc.name,
			Constraints: authority.Unrestricted()})
		if err != nil {
			b.Fatal(err)
		}
		cl := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
		cs, err := cl.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: endpoint,
			HTTPClient: &http.Client{Transport: bearerTransport{token: tok}}, MaxRetries: -1, DisableStandaloneSSE: true},
			&mcp.ClientSessionOptions{ProtocolVersion: version})
		if err != nil {
			b.Fatal(err)
		}
		defer cs.Close()
		if got := cs.InitializeResult().ProtocolVersion; got != version {
			b.Fatalf("negotiated %s, want %s", got, version)
		}
		t := &target{cs: cs, params: &mcp.CallToolParams{Name: bc.tool, Arguments: map[string]any{"text": "x"}}}
		if _, err := cs.CallTool(context.Background(), t.params); err != nil { // opens the member sessions
			b.Fatal(err)
		}
		targets = append(targets, t)
	}
	// Each iteration calls both, alternating which goes first, so that a
	// machine shared with other work loads both alike.
	i := 0
	for b.Loop() {
		for k := range targets {
			t := targets[(i+k)%2]
			w0, c0 := time.Now(), processCPU()
			if res, err := t.cs.CallTool(context.Background(), t.params); err != nil || res.IsError {
				b.Fatalf("call: %v", err)
			}
			t.cpu += processCPU() - c0
			t.wall += time.Since(w0)
		}
		i++
	}
	n := float64(b.N)
	direct, virtual := targets[0], targets[1]
	b.ReportMetric(float64(direct.wall.Microseconds())/n, "direct-µs/call")
	b.ReportMetric(float64(virtual.wall.Microseconds())/n, "virtual-µs/call")
	b.ReportMetric(float64(virtual.wall)/float64(direct.wall), "virtual/direct")
	b.ReportMetric(float64(direct.cpu.Microseconds())/n, "direct-cpu-µs/call")
	b.ReportMetric(float64(virtual.cpu.Microseconds())/n, "virtual-cpu-µs/call")
	b.ReportMetric(float64(virtual.cpu)/float64(direct.cpu), "virtual/direct-cpu")
}

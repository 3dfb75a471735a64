package bench_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/cmd/legant/internal/bench"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

// The gateway's hot path, measured the way docs/PERFORMANCE.md reports it:
//
//	go test ./cmd/legant/internal/bench -run '^$' -bench 'ToolsCall|ToolsList|PerCallOverhead' -benchmem
//	go test ./cmd/legant/internal/bench -run '^$' -bench 'BenchmarkToolsCall$' -benchtime 20000x -cpuprofile cpu.out -memprofile mem.out
//
// BenchmarkToolsCall* and BenchmarkToolsList* are end to end on loopback
// (client, gateway or bare proxy, go-sdk upstream, all in this process): their
// difference is what the gateway adds. BenchmarkPerCallOverhead isolates the
// gateway: ServeHTTP with no sockets and an upstream answered from memory.

// benchRig is a go-sdk upstream (bench.UpstreamHandler), the gateway and a
// bare reverse proxy in front of it, and the issuer key of the tokens.
type benchRig struct {
	upstream *httptest.Server
	proxy    *httptest.Server
	gw       *httptest.Server
	key      *authority.Key
}

func newBenchRig(b *testing.B) *benchRig {
	b.Helper()
	r := &benchRig{upstream: httptest.NewServer(bench.UpstreamHandler())}
	b.Cleanup(r.upstream.Close)
	u, _ := url.Parse(r.upstream.URL)
	r.proxy = httptest.NewServer(bench.NewBareProxy(u))
	b.Cleanup(r.proxy.Close)
	var keys *authority.KeySet
	keys, r.key = benchKeys(b)
	r.gw = httptest.NewUnstartedServer(nil)
	public := "http://" + r.gw.Listener.Addr().String()
	gw := newBenchGateway(b, bench.RegistryYAML(r.upstream.URL), public, keys, nil)
	r.gw.Config.Handler = gw
	r.gw.Start()
	b.Cleanup(r.gw.Close)
	return r
}

func benchKeys(b *testing.B) (*authority.KeySet, *authority.Key) {
	b.Helper()
	key, err := authority.GenerateEd25519Key("issuer-1")
	if err != nil {
		b.Fatal(err)
	}
	keys := authority.NewKeySet()
	keys.Add(key, time.Time{})
	return keys, key
}

// newBenchGateway is the gateway as `legant gateway` builds it without a store.
func newBenchGateway(b *testing.B, registry, public string, keys *authority.KeySet, tr http.RoundTripper) *gateway.Gateway {
	b.Helper()
	reg, err := upstreams.Parse("bench.yaml", []byte(registry), upstreams.Options{PublicURL: public})
	if err != nil {
		b.Fatal(err)
	}
	signer, err := authority.GenerateEd25519Key("gw-1")
	if err != nil {
		b.Fatal(err)
	}
	gw, err := gateway.New(gateway.Options{Registry: func() *upstreams.Registry { return reg }, Issuer: bench.Issuer,
		Keys: keys, Signer: signer, PublicURL: public, Transport: tr,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { gw.Close() })
	return gw
}

// client returns an initialized MCP client of endpoint with a token for the
// gateway's audience of slug.
func (r *benchRig) client(b *testing.B, endpoint, slug string, tools authority.Set) *bench.Client {
	b.Helper()
	tok, err := bench.Token(r.key, bench.TokenOptions{Audience: r.gw.URL + "/mcp/" + slug, Tools: tools}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	c := bench.NewClient(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}, endpoint, tok)
	if err := c.Initialize(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func runCalls(b *testing.B, c *bench.Client, method, params string, wantTools int) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, _, err := c.Call(ctx, method, params)
		if err != nil {
			b.Fatal(err)
		}
		if wantTools > 0 {
			if n, err := bench.CountTools(res); err != nil || n != wantTools {
				b.Fatalf("tools/list: %d tools (%v), want %d", n, err, wantTools)
			}
		}
	}
}

// BenchmarkToolsCall is one tools/call through the gateway, end to end:
// bearer verified (cached after the first call), session checked, envelope
// decoded, policy decided, downstream token attached (minted, then reused
// while half its life remains), SSE response relayed.
func BenchmarkToolsCall(b *testing.B) {
	r := newBenchRig(b)
	c := r.client(b, r.gw.URL+"/mcp/"+bench.SlugEcho, bench.SlugEcho, authority.Set{})
	runCalls(b, c, "tools/call", bench.EchoParams, 0)
}

// BenchmarkToolsCallBareProxy is the baseline: the same call through
// httputil.ReverseProxy.
func BenchmarkToolsCallBareProxy(b *testing.B) {
	r := newBenchRig(b)
	c := r.client(b, r.proxy.URL+"/"+bench.SlugEcho, bench.SlugEcho, authority.Set{})
	runCalls(b, c, "tools/call", bench.EchoParams, 0)
}

// BenchmarkToolsCallDirect is the call straight to the upstream.
func BenchmarkToolsCallDirect(b *testing.B) {
	r := newBenchRig(b)
	c := r.client(b, r.upstream.URL+"/"+bench.SlugEcho, bench.SlugEcho, authority.Set{})
	runCalls(b, c, "tools/call", bench.EchoParams, 0)
}

// BenchmarkToolsListFiltered200 lists a 200-tool upstream through the
// gateway with a token allowed 20 of them.
func BenchmarkToolsListFiltered200(b *testing.B) {
	r := newBenchRig(b)
	c := r.client(b, r.gw.URL+"/mcp/"+bench.SlugCatalog, bench.SlugCatalog, authority.Only(bench.CatalogAllowedNames()...))
	runCalls(b, c, "tools/list", "{}", bench.CatalogAllowed)
}

// BenchmarkToolsList200BareProxy is its baseline: the whole list through
// httputil.ReverseProxy.
func BenchmarkToolsList200BareProxy(b *testing.B) {
	r := newBenchRig(b)
	c := r.client(b, r.proxy.URL+"/"+bench.SlugCatalog, bench.SlugCatalog, authority.Set{})
	runCalls(b, c, "tools/list", "{}", bench.CatalogTools)
}

// BenchmarkToolsCallParallel is tools/call at GOMAXPROCS×4 concurrent
// clients; compare ns/op with BenchmarkToolsCallParallelBareProxy.
func BenchmarkToolsCallParallel(b *testing.B) {
	r := newBenchRig(b)
	runParallel(b, r, r.gw.URL+"/mcp/"+bench.SlugEcho)
}

func BenchmarkToolsCallParallelBareProxy(b *testing.B) {
	r := newBenchRig(b)
	runParallel(b, r, r.proxy.URL+"/"+bench.SlugEcho)
}

func runParallel(b *testing.B, r *benchRig, endpoint string) {
	const parallelism = 4
	clients := make(chan *bench.Client, parallelism*runtime.GOMAXPROCS(0))
	for range cap(clients) {
		clients <- r.client(b, endpoint, bench.SlugEcho, authority.Set{})
	}
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := <-clients
		for pb.Next() {
			if _, _, err := c.Call(context.Background(), "tools/call", bench.EchoParams); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// cannedUpstream answers the gateway's upstream requests from memory, so that
// BenchmarkPerCallOverhead measures the gateway alone: no sockets, no SDK. It
// answers initialize (JSON, with a session id), notifications (202) and any
// other request with one SSE event holding a tools/call result for id 1.
type cannedUpstream struct{}

const (
	cannedInit = `{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},` +
		`"serverInfo":{"name":"canned","version":"1"}}}`
	cannedCall = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hello\"}]}}\n\n"
)

func (cannedUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	var head [96]byte
	n, _ := io.ReadFull(req.Body, head[:])
	req.Body.Close()
	resp := &http.Response{StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Request: req}
	switch body := head[:n]; {
	case bytes.Contains(body, []byte(`"initialize"`)):
		resp.Header["Content-Type"] = []string{"application/json"}
		resp.Header["Mcp-Session-Id"] = []string{"canned-session"}
		resp.Body = io.NopCloser(strings.NewReader(cannedInit))
	case !bytes.Contains(body, []byte(`"id"`)):
		resp.StatusCode = http.StatusAccepted
		resp.Body = http.NoBody
	default:
		resp.Header["Content-Type"] = []string{"text/event-stream"}
		resp.Body = io.NopCloser(strings.NewReader(cannedCall))
	}
	return resp, nil
}

// BenchmarkPerCallOverhead is what the gateway itself spends on one
// tools/call: ServeHTTP with the request already parsed by net/http and the
// upstream answered from memory. Sub-benchmarks price the pieces reachable
// from outside the package: verifying a token (what the cache saves),
// deciding, and signing a downstream token (what the minter's reuse saves).
func BenchmarkPerCallOverhead(b *testing.B) {
	keys, key := benchKeys(b)
	const public = "http://gw.bench"
	gw := newBenchGateway(b, bench.RegistryYAML("http://upstream.bench"), public, keys, cannedUpstream{})
	tok, err := bench.Token(key, bench.TokenOptions{Audience: public + "/mcp/" + bench.SlugEcho}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	serve := func(body string, session string) *httptest.ResponseRecorder {
		req, _ := http.NewRequest(http.MethodPost, public+"/mcp/"+bench.SlugEcho, strings.NewReader(body))
		req.Header["Content-Type"] = []string{"application/json"}
		req.Header["Accept"] = []string{"application/json, text/event-stream"}
		req.Header["Authorization"] = []string{"Bearer " + tok}
		req.Header["Mcp-Protocol-Version"] = []string{bench.ProtocolVersion}
		if session != "" {
			req.Header["Mcp-Session-Id"] = []string{session}
		}
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, req)
		return w
	}
	init := serve(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}`, "")
	session := init.Header().Get("Mcp-Session-Id")
	if init.Code != http.StatusOK || session == "" {
		b.Fatalf("initialize: %d %s", init.Code, init.Body)
	}
	serve(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, session)
	call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":` + bench.EchoParams + `}`

	b.Run("ServeHTTP", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w := serve(call, session)
			if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(`"result"`)) {
				b.Fatalf("tools/call: %d %s", w.Code, w.Body)
			}
		}
	})
	claims, err := authority.Verify(tok, keys, authority.VerifyOptions{Issuer: bench.Issuer,
		Audience: public + "/mcp/" + bench.SlugEcho, RequireActor: true}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("VerifyUncached", func(b *testing.B) {
		b.ReportAllocs()
		opts := authority.VerifyOptions{Issuer: bench.Issuer, Audience: public + "/mcp/" + bench.SlugEcho, RequireActor: true}
		for b.Loop() {
			if _, err := authority.Verify(tok, keys, opts, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decide", func(b *testing.B) {
		b.ReportAllocs()
		binding := &policy.Binding{Tool: "echo", Scope: bench.Scope}
		args := []byte(`{"text":"hello"}`)
		for b.Loop() {
			if d := policy.Decide(claims, binding, policy.Call{Tool: "echo", Arguments: args, At: time.Now()}); !d.Allow {
				b.Fatal(d.Reason)
			}
		}
	})
	b.Run("SignDownstream", func(b *testing.B) {
		b.ReportAllocs()
		signer, _ := authority.GenerateEd25519Key("gw-1")
		for b.Loop() {
			now := time.Now()
			d := *claims
			d.Issuer, d.Audience, d.IssuedAt, d.ExpiresAt = public, []string{"http://upstream.bench/echo"}, now, now.Add(2*time.Minute)
			d.Actor = &authority.Actor{Subject: gateway.DefaultActor, Actor: claims.Actor}
			if _, err := authority.Sign(signer, &d); err != nil {
				b.Fatal(err)
			}
		}
	})
}

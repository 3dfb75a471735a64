package bench

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Upstream slugs and paths: each is served at /<slug> by the upstream server
// and at /mcp/<slug> by the gateways.
const (
	SlugEcho          = "echo"           // stateful go-sdk server, one tool
	SlugEchoStateless = "echo-stateless" // the same server in stateless mode
	SlugCatalog       = "catalog"        // stateful, CatalogTools tools
	// SlugEchoBudget is the stateful echo server again, its echo tool
	// declared in the registry with an amount (/amount, USD): the gateway
	// reserves each call on the token's budget and settles it.
	SlugEchoBudget = "echo-budget"
)

// Catalog sizes: the upstream lists CatalogTools tools, the token may call
// CatalogAllowed of them (every tenth).
const (
	CatalogTools   = 200
	CatalogAllowed = 20
)

// Scope is the scope every bench tool requires and every bench token holds.
const Scope = "bench"

// EchoParams are the params of the measured tools/call.
const EchoParams = `{"name":"echo","arguments":{"text":"hello"}}`

// EchoBudgetParams are the params of the measured budgeted tools/call: one
// dollar, on a budget no run exhausts.
const EchoBudgetParams = `{"name":"echo","arguments":{"text":"hello","amount":1}}`

// BenchBudget is the budget of the bench's budgeted token, in USD.
const BenchBudget = "1000000000"

// NewEchoServer returns an MCP server with one tool, echo, that returns its
// text argument. It is a raw tool (no schema validation) so the upstream
// costs as little as the SDK allows and the proxies' cost shows.
func NewEchoServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "bench-echo", Version: "1"}, nil)
	s.AddTool(&mcp.Tool{Name: "echo", Description: "Returns its text argument",
		InputSchema: &jsonschema.Schema{Type: "object",
			Properties: map[string]*jsonschema.Schema{"text": {Type: "string"}, "amount": {Type: "number"}}}},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(req.Params.Arguments)}}}, nil
		})
	return s
}

// CatalogToolName names tool i of the catalog.
func CatalogToolName(i int) string { return fmt.Sprintf("tool_%03d", i) }

// CatalogAllowedNames are the tools a catalog token may call.
func CatalogAllowedNames() []string {
	var out []string
	for i := 0; i < CatalogTools; i += CatalogTools / CatalogAllowed {
		out = append(out, CatalogToolName(i))
	}
	return out
}

// NewCatalogServer returns an MCP server listing CatalogTools tools with
// realistic descriptions and schemas.
func NewCatalogServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "bench-catalog", Version: "1"}, nil)
	for i := range CatalogTools {
		s.AddTool(&mcp.Tool{
			Name:        CatalogToolName(i),
			Description: fmt.Sprintf("Tool %d of the catalog: reads or updates record %d of the inventory.", i, i),
			InputSchema: &jsonschema.Schema{Type: "object", Required: []string{"id"},
				Properties: map[string]*jsonschema.Schema{
					"id":    {Type: "string", Description: "record identifier"},
					"limit": {Type: "integer", Description: "maximum number of rows"},
				}},
		}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{}, nil
		})
	}
	return s
}

// UpstreamHandler serves the bench upstreams at /<slug>.
func UpstreamHandler() http.Handler {
	echo, catalog := NewEchoServer(), NewCatalogServer()
	mux := http.NewServeMux()
	mux.Handle("/"+SlugEcho, mcp.NewStreamableHTTPHandler(
		func(*http.Request) *mcp.Server { return echo }, nil))
	mux.Handle("/"+SlugEchoStateless, mcp.NewStreamableHTTPHandler(
		func(*http.Request) *mcp.Server { return echo }, &mcp.StreamableHTTPOptions{Stateless: true}))
	mux.Handle("/"+SlugEchoBudget, mcp.NewStreamableHTTPHandler(
		func(*http.Request) *mcp.Server { return echo }, nil))
	mux.Handle("/"+SlugCatalog, mcp.NewStreamableHTTPHandler(
		func(*http.Request) *mcp.Server { return catalog }, nil))
	return mux
}

// registryFor is the registry of a child gateway: RegistryYAML, with
// h2c: true on every upstream when cfg.h2c.
func registryFor(cfg childConfig) string {
	y := RegistryYAML(cfg.upstreamURL)
	if cfg.h2c {
		y = strings.ReplaceAll(y, "    url: ", "    h2c: true\n    url: ")
	}
	return y
}

// RegistryYAML is the gateway registry of the bench upstreams served at
// upstreamURL (scheme://host:port).
func RegistryYAML(upstreamURL string) string {
	var b strings.Builder
	b.WriteString("version: 1\nupstreams:\n")
	for _, slug := range []string{SlugEcho, SlugEchoStateless} {
		fmt.Fprintf(&b, "  - slug: %s\n    url: %s/%s\n    tools:\n      echo:\n        scope: %s\n", slug, upstreamURL, slug, Scope)
	}
	fmt.Fprintf(&b, "  - slug: %s\n    url: %s/%s\n    tools:\n      echo:\n        scope: %s\n        amount: {pointer: /amount, currency: USD}\n",
		SlugEchoBudget, upstreamURL, SlugEchoBudget, Scope)
	fmt.Fprintf(&b, "  - slug: %s\n    url: %s/%s\n    tools:\n", SlugCatalog, upstreamURL, SlugCatalog)
	for i := range CatalogTools {
		fmt.Fprintf(&b, "      %s:\n        scope: %s\n", CatalogToolName(i), Scope)
	}
	return b.String()
}

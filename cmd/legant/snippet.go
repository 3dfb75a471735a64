package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openlegant/legant/sdk/snippets"
)

func newSnippetCmd() *cobra.Command {
	names := snippets.Names()
	return &cobra.Command{
		Use:   "snippet " + strings.Join(names, "|"),
		Short: "Print a starter program that enforces Legant tokens with an SDK (Go, TypeScript, Python)",
		Long: `Print a ready-to-run starter that verifies Legant delegation tokens offline
with one of the SDKs and authorizes each request or tool call with the
gateway's policy:

Go (github.com/openlegant/legant/sdk), save as main.go in a new module:
  go-nethttp  a net/http service (sdk.Verifier.Middleware)
  go-sdk      an MCP server built with github.com/modelcontextprotocol/go-sdk (sdk/mcpguard)
  mcp-go      an MCP server built with github.com/mark3labs/mcp-go (sdk/mcpgoguard)

TypeScript (@openlegant/legant, sdk/typescript; Node.js 22):
  express     an Express API (requireToken from @openlegant/legant/express)
  fastify     a Fastify API (a preHandler from @openlegant/legant/fastify)
  ts-mcp      an MCP server built with @modelcontextprotocol/sdk (@openlegant/legant/mcp)

Python (legant, sdk/python; Python 3.11 or later):
  flask       a Flask API (legant.flask.protect)
  fastapi     a FastAPI app (legant.asgi.LegantMiddleware)
  py-mcp      an MCP server built with the mcp package's FastMCP (legant.mcpguard)

Each starter's first lines say what to install and how to run it; every
one is type-checked or run in CI. docs/SDK.md explains each part.`,
		Example: `  legant snippet go-nethttp > main.go
  legant snippet express > app.ts
  legant snippet fastapi > app.py`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: names,
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := snippets.Source(args[0])
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), string(src))
			return err
		},
	}
}

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
		Short: "Print a starter program that enforces Legant tokens with the Go SDK",
		Long: `Print a ready-to-run starter that verifies Legant delegation tokens offline
with the Go SDK (github.com/openlegant/legant/sdk) and authorizes each request
or tool call with the gateway's policy:

  go-nethttp  a net/http service (sdk.Verifier.Middleware)
  go-sdk      an MCP server built with github.com/modelcontextprotocol/go-sdk (sdk/mcpguard)
  mcp-go      an MCP server built with github.com/mark3labs/mcp-go (sdk/mcpgoguard)

Save it as main.go in a new module; docs/SDK.md explains each part.`,
		Example:   "  legant snippet go-nethttp > main.go",
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

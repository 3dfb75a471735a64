package main

import (
	"strings"
	"testing"

	"github.com/openlegant/legant/sdk/snippets"
)

func TestSnippet(t *testing.T) {
	// Each starter and a line only it has (its language's SDK import).
	for name, marker := range map[string]string{
		"go-nethttp": "package main", "go-sdk": "package main", "mcp-go": "package main",
		"express": `from "@openlegant/legant/express"`, "fastify": `from "@openlegant/legant/fastify"`,
		"ts-mcp": `from "@openlegant/legant/mcp"`, "flask": "from legant.flask import",
		"fastapi": "from legant.asgi import", "py-mcp": "from legant.mcpguard import",
	} {
		t.Run(name, func(t *testing.T) {
			out, err := runLegant(t, "snippet", name)
			if err != nil {
				t.Fatal(err)
			}
			want, err := snippets.Source(name)
			if err != nil {
				t.Fatal(err)
			}
			if out != string(want) || !strings.Contains(out, marker) || strings.Contains(out, "go:build") {
				t.Fatalf("legant snippet %s printed:\n%s", name, out)
			}
		})
	}
	if _, err := runLegant(t, "snippet", "rust"); err == nil || !strings.Contains(err.Error(), "go-nethttp") {
		t.Fatalf("unknown snippet: %v, want an error listing the snippets", err)
	}
	if _, err := runLegant(t, "snippet"); err == nil {
		t.Fatal("snippet without a name succeeded")
	}
	help, err := runLegant(t, "snippet", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range snippets.Names() {
		if !strings.Contains(help, "\n  "+name+" ") {
			t.Errorf("legant snippet --help does not describe %s:\n%s", name, help)
		}
	}
}

package main

import (
	"strings"
	"testing"

	"github.com/openlegant/legant/sdk/snippets"
)

func TestSnippet(t *testing.T) {
	for _, name := range []string{"go-nethttp", "go-sdk", "mcp-go"} {
		t.Run(name, func(t *testing.T) {
			out, err := runLegant(t, "snippet", name)
			if err != nil {
				t.Fatal(err)
			}
			want, err := snippets.Source(name)
			if err != nil {
				t.Fatal(err)
			}
			if out != string(want) || !strings.Contains(out, "package main") || strings.Contains(out, "go:build") {
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
}

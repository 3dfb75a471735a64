// Package snippets holds the starter programs `legant snippet` prints: a
// net/http service, a go-sdk MCP server and an mcp-go MCP server protected by
// the SDK. Each is a main package in its own directory behind the build tag
// "snippet" (so `go build ./...` skips them); a test type-checks them with
// `go vet -tags snippet`, so a printed starter always compiles.
package snippets

import (
	"bytes"
	"embed"
	"fmt"
	"sort"
)

//go:embed go-nethttp/main.go go-sdk/main.go mcp-go/main.go
var files embed.FS

// Names lists the snippets, sorted.
func Names() []string {
	entries, _ := files.ReadDir(".")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// buildTag starts every snippet file; Source drops it so that the printed
// program builds as it is.
const buildTag = "//go:build snippet\n\n"

// Source returns the Go source of the snippet name, ready to save as main.go.
func Source(name string) ([]byte, error) {
	b, err := files.ReadFile(name + "/main.go")
	if err != nil {
		return nil, fmt.Errorf("no snippet %q (have %v)", name, Names())
	}
	return bytes.TrimPrefix(b, []byte(buildTag)), nil
}

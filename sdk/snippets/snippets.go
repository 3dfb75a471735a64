// Package snippets holds the starters `legant snippet` prints, one file each,
// in every language with an SDK:
//
//   - Go (go-nethttp, go-sdk, mcp-go): a main package per directory behind
//     the build tag "snippet" (so `go build ./...` skips them); a test here
//     type-checks them with `go vet -tags snippet`;
//   - TypeScript (ts/: express, fastify, ts-mcp): type-checked with tsc and
//     run against a loopback issuer by sdk/typescript/test/snippets.test.mjs;
//   - Python (py/: flask, fastapi, py-mcp): run in their servers on loopback
//     (py-mcp compiled) by sdk/python/tests/test_snippets.py.
//
// The files here are the only copies: what `legant snippet` prints is the
// file those tests exercise.
package snippets

import (
	"bytes"
	"embed"
	"fmt"
	"slices"
)

//go:embed go-nethttp/main.go go-sdk/main.go mcp-go/main.go ts/*.ts py/*.py
var files embed.FS

// files of each snippet, by name. A test checks that every embedded file
// has a name.
var paths = map[string]string{
	"go-nethttp": "go-nethttp/main.go",
	"go-sdk":     "go-sdk/main.go",
	"mcp-go":     "mcp-go/main.go",
	"express":    "ts/express.ts",
	"fastify":    "ts/fastify.ts",
	"ts-mcp":     "ts/ts-mcp.ts",
	"flask":      "py/flask.py",
	"fastapi":    "py/fastapi.py",
	"py-mcp":     "py/py-mcp.py",
}

// Names lists the snippets, sorted.
func Names() []string {
	names := make([]string, 0, len(paths))
	for n := range paths {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Path returns the file of snippet name, relative to this package's directory.
func Path(name string) (string, bool) {
	p, ok := paths[name]
	return p, ok
}

// buildTag starts every Go snippet file; Source drops it so that the printed
// program builds as it is.
const buildTag = "//go:build snippet\n\n"

// Source returns the source of the snippet name, ready to save (main.go for
// the Go ones).
func Source(name string) ([]byte, error) {
	p, ok := paths[name]
	if !ok {
		return nil, fmt.Errorf("no snippet %q (have %v)", name, Names())
	}
	b, err := files.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("snippet %s: %w", name, err)
	}
	return bytes.TrimPrefix(b, []byte(buildTag)), nil
}

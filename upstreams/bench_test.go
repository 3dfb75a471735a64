package upstreams

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// largeRegistry has n upstreams of m tools each, every tool bound fully.
func largeRegistry(n, m int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\nupstreams:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - slug: up%d\n    url: https://up%d.internal/mcp\n    headers: {X-Tenant: t%d}\n    tools:\n", i, i, i)
		for j := range m {
			fmt.Fprintf(&b, "      tool_%d:\n        scope: s%d:write\n        amount: {pointer: /amount, currency: USD}\n"+
				"        category: /category\n        resource: {pointer: /target, kind: url}\n        mutating: true\n        tags: [a, b]\n", j, i)
		}
	}
	return []byte(b.String())
}

func BenchmarkParseExample(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "examples", "upstreams", "legant.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("legant.yaml", data, Options{PublicURL: "https://gw.example"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLarge(b *testing.B) {
	data := largeRegistry(50, 40) // 2,000 fully bound tools
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("large.yaml", data, Options{PublicURL: "https://gw.example"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCurrentLookup is the gateway's per-request path: the snapshot
// in force, the upstream by slug, the tool's binding.
func BenchmarkCurrentLookup(b *testing.B) {
	path := filepath.Join(b.TempDir(), "legant.yaml")
	if err := os.WriteFile(path, largeRegistry(50, 40), 0o600); err != nil {
		b.Fatal(err)
	}
	w, err := NewWatcher(path, Options{PublicURL: "https://gw.example"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			up, ok := w.Current().Lookup("up42")
			if !ok {
				b.Fatal("no up42")
			}
			if _, ok := up.Tool("tool_17"); !ok {
				b.Fatal("no tool_17")
			}
		}
	})
}

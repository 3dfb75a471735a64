package gateway_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/upstreams"
)

// TestRegistryReloadKeepsSessions: a reload that unbinds a tool takes effect
// on the live session's next request, and the session itself goes on.
func TestRegistryReloadKeepsSessions(t *testing.T) {
	var w *upstreams.Watcher
	path := filepath.Join(t.TempDir(), "legant.yaml")
	r := newRig(t, rigOptions{gwOpts: func(o *gateway.Options) {
		// The rig's registry, but from a watched file.
		reg := o.Registry()
		up, _ := reg.Lookup("expenses")
		os.WriteFile(path, []byte(registryYAML(up.URL, "")), 0o600)
		var err error
		if w, err = upstreams.NewWatcher(path, upstreams.Options{PublicURL: o.PublicURL}, nil); err != nil {
			t.Fatal(err)
		}
		o.Registry = w.Current
	}})
	cs := r.connect(r.token(tokenOptions{}), "2025-11-25", nil)
	if got := toolNames(t, cs); !slices.Contains(got, "list_expenses") {
		t.Fatalf("before reload: %v", got)
	}
	up, _ := w.Current().Lookup("expenses")
	os.WriteFile(path, []byte(registryHead(up.URL)+"      submit_expense:\n        scope: expenses:write\n"), 0o600)
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := toolNames(t, cs); !slices.Equal(got, []string{"submit_expense"}) {
		t.Fatalf("after reload: %v, want [submit_expense]", got)
	}
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "list_expenses", Arguments: map[string]any{}})
	assertDenied(t, err, "tool_not_bound")
}

package gateway_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// TestReloadPushesListChanged: a reload that changes what a live session
// may see is pushed to its client as notifications/tools/list_changed (and
// prompts/resources for those) on its standalone GET stream; the client
// lists again and sees the reloaded view. A session whose view did not
// change is told nothing.
func TestReloadPushesListChanged(t *testing.T) {
	var w *upstreams.Watcher
	path := filepath.Join(t.TempDir(), "legant.yaml")
	r := newRig(t, rigOptions{gwOpts: func(o *gateway.Options) {
		reg := o.Registry()
		up, _ := reg.Lookup("expenses")
		os.WriteFile(path, []byte(registryYAML(up.URL, "")), 0o600)
		var err error
		if w, err = upstreams.NewWatcher(path, upstreams.Options{PublicURL: o.PublicURL}, nil); err != nil {
			t.Fatal(err)
		}
		o.Registry = w.Current
	}})
	type counts struct{ tools, prompts, resources atomic.Int32 }
	connect := func(scopes []string, c *counts) *mcp.ClientSession {
		return r.connect(r.token(tokenOptions{scopes: scopes}), "2025-11-25", &mcp.ClientOptions{
			ToolListChangedHandler:     func(context.Context, *mcp.ToolListChangedRequest) { c.tools.Add(1) },
			PromptListChangedHandler:   func(context.Context, *mcp.PromptListChangedRequest) { c.prompts.Add(1) },
			ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) { c.resources.Add(1) },
		})
	}
	var reader, admin counts
	csReader := connect([]string{"expenses:read"}, &reader)
	connect([]string{"expenses:admin"}, &admin)
	deadline := time.Now().Add(10 * time.Second)
	for r.gw.PushStreams() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the clients' GET streams did not open (%d)", r.gw.PushStreams())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// count is unbound and a prompt granted: the reader's tools and prompts
	// change; the admin (expenses:admin only) sees delete_all before and
	// after, and no prompt needs its scope.
	up, _ := w.Current().Lookup("expenses")
	yaml := strings.Replace(registryYAML(up.URL, ""), "      count:\n        scope: expenses:read\n", "", 1) +
		"    prompts:\n      summarize:\n        scope: expenses:read\n"
	os.WriteFile(path, []byte(yaml), 0o600)
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := r.gw.RegistryChanged(); n != 2 {
		t.Fatalf("RegistryChanged wrote %d notifications, want 2 (the reader's tools and prompts)", n)
	}
	for reader.tools.Load() != 1 || reader.prompts.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("reader got tools %d prompts %d list_changed", reader.tools.Load(), reader.prompts.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := toolNames(t, csReader); slices.Contains(got, "count") {
		t.Fatalf("after the notification the reader lists %v", got)
	}
	// Nothing changed since: nothing more is pushed.
	if n := r.gw.RegistryChanged(); n != 0 {
		t.Fatalf("a second RegistryChanged without a change wrote %d", n)
	}
	time.Sleep(100 * time.Millisecond)
	if admin.tools.Load()+admin.prompts.Load()+admin.resources.Load() != 0 || reader.resources.Load() != 0 || reader.tools.Load() != 1 {
		t.Fatalf("unexpected notifications: admin %d/%d/%d, reader resources %d tools %d", admin.tools.Load(), admin.prompts.Load(),
			admin.resources.Load(), reader.resources.Load(), reader.tools.Load())
	}
}

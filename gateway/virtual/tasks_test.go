package virtual

import (
	"encoding/json"
	"testing"

	"github.com/openlegant/legant/upstreams"
)

func taskHandler(names ...string) *Handler {
	up := &upstreams.Upstream{Slug: "fed"}
	for _, n := range names {
		up.Members = append(up.Members, upstreams.Member{Name: n, Prefix: n + "__", Upstream: &upstreams.Upstream{}})
	}
	return New(up, Options{})
}

// TestTaskIDs: a member's task id is scoped to the member and back, its
// own colons kept; an id that is not scoped, or names no member, is not a
// task of any.
func TestTaskIDs(t *testing.T) {
	h := taskHandler("a", "b")
	l := &link{s: &session{h: h}, m: &h.up.Members[1], idx: 1}
	scoped := l.scopeTaskID("urn:task:1")
	if scoped != "legant-vt:b:urn:task:1" {
		t.Fatalf("scoped: %q", scoped)
	}
	if idx, orig, ok := h.taskMember(scoped); !ok || idx != 1 || orig != "urn:task:1" {
		t.Fatalf("taskMember(%q) = %d %q %v", scoped, idx, orig, ok)
	}
	for _, id := range []string{"task-1", "legant-vt:z:task-1", "legant-vt:a", "legant-vm1:task-1", ""} {
		if _, _, ok := h.taskMember(id); ok {
			t.Fatalf("taskMember(%q) accepted", id)
		}
	}
}

// TestScopeTasks: the task ids a member sends the client are scoped where
// they name the member's task (a created task, a task's status or result,
// a status notification, related-task _meta), a member's request about a
// task of the client's is left alone, and a virtual server of one member
// rewrites nothing.
func TestScopeTasks(t *testing.T) {
	h := taskHandler("a", "b")
	l := &link{s: &session{h: h}, m: &h.up.Members[0], idx: 0}
	for _, tc := range []struct{ in, want string }{
		{`{"jsonrpc":"2.0","id":1,"result":{"task":{"taskId":"t1","status":"working"}}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"task":{"taskId":"legant-vt:a:t1","status":"working"}}}`},
		{`{"jsonrpc":"2.0","id":1,"result":{"taskId":"t1","status":"completed"}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"taskId":"legant-vt:a:t1","status":"completed"}}`},
		{`{"jsonrpc":"2.0","method":"notifications/tasks/status","params":{"taskId":"t1","status":"failed"}}`,
			`{"jsonrpc":"2.0","method":"notifications/tasks/status","params":{"taskId":"legant-vt:a:t1","status":"failed"}}`},
		{`{"jsonrpc":"2.0","id":"x","method":"elicitation/create","params":{"message":"m","_meta":{"io.modelcontextprotocol/related-task":{"taskId":"t1"}}}}`,
			`{"jsonrpc":"2.0","id":"x","method":"elicitation/create","params":{"message":"m","_meta":{"io.modelcontextprotocol/related-task":{"taskId":"legant-vt:a:t1"}}}}`},
		{`{"jsonrpc":"2.0","id":"x","method":"tasks/get","params":{"taskId":"client-task"}}`,
			`{"jsonrpc":"2.0","id":"x","method":"tasks/get","params":{"taskId":"client-task"}}`},
		{`{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`, `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`},
	} {
		if got := l.scopeTasks([]byte(tc.in)); !sameJSON(t, got, []byte(tc.want)) {
			t.Errorf("scopeTasks(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	one := taskHandler("a")
	lone := &link{s: &session{h: one}, m: &one.up.Members[0]}
	in := `{"jsonrpc":"2.0","id":1,"result":{"task":{"taskId":"t1"}}}`
	if got := lone.scopeTasks([]byte(in)); string(got) != in {
		t.Fatalf("one member rewrote %s to %s", in, got)
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

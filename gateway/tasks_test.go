package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/openlegant/legant/authority"
)

// taskUpstream is a stateless 2026-07-28 upstream speaking the tasks
// extension, which go-sdk v1.8.0 does not serve: a task-augmented
// tools/call creates a task; tasks/get, tasks/result, tasks/cancel and
// tasks/list act on every task it created, whoever asks (the gateway is
// what keeps principals apart).
type taskUpstream struct {
	noTasks bool // server/discover declares no tasks capability

	mu    sync.Mutex
	tasks []string
}

func (u *taskUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			TaskID string          `json:"taskId"`
			Task   json.RawMessage `json:"task"`
		} `json:"params"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil || req.ID == nil {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	u.mu.Lock()
	var result any
	switch req.Method {
	case "tools/call":
		if req.Params.Task == nil {
			result = map[string]any{"content": []any{map[string]any{"type": "text", "text": "data"}}}
			break
		}
		id := fmt.Sprintf("task-%d", len(u.tasks)+1)
		u.tasks = append(u.tasks, id)
		result = map[string]any{"task": map[string]any{"taskId": id, "status": "working", "ttl": 60000}}
	case "server/discover":
		caps := map[string]any{"tools": map[string]any{}, "extensions": map[string]any{"io.modelcontextprotocol/tasks": map[string]any{}}}
		if u.noTasks {
			caps = map[string]any{"tools": map[string]any{}}
		}
		result = map[string]any{"supportedVersions": []string{"2026-07-28"}, "capabilities": caps}
	case "tasks/get", "tasks/cancel":
		result = map[string]any{"taskId": req.Params.TaskID, "status": "completed"}
	case "tasks/result":
		result = map[string]any{"content": []any{map[string]any{"type": "text", "text": "result of " + req.Params.TaskID}}}
	case "tasks/list":
		var list []any
		for _, id := range u.tasks {
			list = append(list, map[string]any{"taskId": id, "status": "completed"})
		}
		result = map[string]any{"tasks": list}
	default:
		result = map[string]any{}
	}
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result})
}

// TestTasksBelongToTheirCreator: a task is its creator's (principal and
// session); another principal gets not-found for it and does not see it in
// tasks/list, and nothing of those requests reaches the upstream; the
// task-augmented call is authorized and counted once. tasks/result and
// tasks/list are the tasks extension's v1 methods: used here in revision
// 2025-11-25, and answered -32601 (HTTP 404) in 2026-07-28, which removed them.
func TestTasksBelongToTheirCreator(t *testing.T) {
	r := newRig(t, rigOptions{handler: &taskUpstream{}, registry: "      read_data:\n        scope: data:read\n"})
	one := int64(1)
	c := authority.Unrestricted()
	c.MaxCalls = &one
	alice := r.token(tokenOptions{user: "alice", scopes: []string{"data:read"}, c: &c})
	bob := r.token(tokenOptions{user: "bob", scopes: []string{"data:read"}})
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	post := func(tok, method, name, params string) rawResponse {
		h := map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": method}
		if name != "" {
			h["Mcp-Name"] = name
		}
		return rawPost(t, r.endpoint(), tok, h, `{"jsonrpc":"2.0","id":1,"method":"`+method+`","params":{`+params+meta+`}}`)
	}
	// v1 methods, in the revision that still has them (no session: the
	// owner is the principal and no session, as for the stateless calls).
	postV1 := func(tok, method, params string) rawResponse {
		return rawPost(t, r.endpoint(), tok, map[string]string{"Mcp-Protocol-Version": "2025-11-25"},
			`{"jsonrpc":"2.0","id":1,"method":"`+method+`","params":{`+params+`}}`)
	}
	created := post(alice, "tools/call", "read_data", `"name":"read_data","arguments":{},"task":{"ttl":60000},`)
	var res struct {
		Result struct {
			Task struct{ TaskID string } `json:"task"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(created.body), &res); err != nil || res.Result.Task.TaskID != "task-1" {
		t.Fatalf("task-augmented call: %v %s", err, created.body)
	}
	task := `"taskId":"task-1",`
	if got := post(alice, "tasks/get", "", task); !json.Valid([]byte(got.body)) || r.seenMethods.count("tasks/get") != 1 {
		t.Fatalf("tasks/get by the creator: %s (upstream received %d)", got.body, r.seenMethods.count("tasks/get"))
	}
	if got := postV1(alice, "tasks/result", `"taskId":"task-1"`); !json.Valid([]byte(got.body)) || r.seenMethods.count("tasks/result") != 1 {
		t.Fatalf("tasks/result by the creator: %s (upstream received %d)", got.body, r.seenMethods.count("tasks/result"))
	}
	for _, m := range []string{"tasks/get", "tasks/cancel"} {
		got := post(bob, m, "", task)
		if code, _, reason := rpcErr(t, got.body); code != -32602 || reason != "task_not_found" || got.status != http.StatusBadRequest {
			t.Fatalf("%s by another principal: HTTP %d %d %q", m, got.status, code, reason)
		}
	}
	if code, _, reason := rpcErr(t, postV1(bob, "tasks/result", `"taskId":"task-1"`).body); code != -32602 || reason != "task_not_found" {
		t.Fatalf("tasks/result by another principal: %d %q", code, reason)
	}
	// Removed in 2026-07-28: answered as the revision's servers do, whoever asks.
	for _, m := range []string{"tasks/result", "tasks/list"} {
		got := post(alice, m, "", task)
		if code, _, reason := rpcErr(t, got.body); code != -32601 || reason != "method_removed" || got.status != http.StatusNotFound {
			t.Fatalf("%s in 2026-07-28: HTTP %d %d %q", m, got.status, code, reason)
		}
	}
	if n := r.seenMethods.count("tasks/get") + r.seenMethods.count("tasks/result") + r.seenMethods.count("tasks/cancel") + r.seenMethods.count("tasks/list"); n != 2 {
		t.Fatalf("upstream received %d task requests, want the creator's 2", n)
	}
	list := func(tok string) (ids []string, scope string) {
		var l struct {
			Result struct {
				Tasks      []struct{ TaskID string }
				CacheScope string `json:"cacheScope"`
			} `json:"result"`
		}
		got := postV1(tok, "tasks/list", "")
		if err := json.Unmarshal([]byte(got.body), &l); err != nil {
			t.Fatalf("tasks/list: %v %s", err, got.body)
		}
		for _, tk := range l.Result.Tasks {
			ids = append(ids, tk.TaskID)
		}
		return ids, l.Result.CacheScope
	}
	if ids, scope := list(alice); len(ids) != 1 || ids[0] != "task-1" || scope != "private" {
		t.Fatalf("creator's tasks/list = %v (cacheScope %q)", ids, scope)
	}
	if ids, _ := list(bob); len(ids) != 0 {
		t.Fatalf("another principal's tasks/list = %v, want none", ids)
	}
	// max_calls 1: the task-augmented call used it; tasks/get and
	// tasks/result did not; the next call is refused before the upstream.
	calls := r.seenMethods.count("tools/call")
	got := post(alice, "tools/call", "read_data", `"name":"read_data","arguments":{},`)
	if _, _, reason := rpcErr(t, got.body); reason != "max_calls" || r.seenMethods.count("tools/call") != calls {
		t.Fatalf("second call: %q, upstream calls %d→%d", reason, calls, r.seenMethods.count("tools/call"))
	}
}

// TestTaskMethodsFollowDeclaredCapabilities: a task id the gateway never
// relayed is answered as the upstream would answer it: -32602 (task not
// found) when the upstream declares tasks (or the gateway has not seen its
// capabilities), -32601 (HTTP 404) when its server/discover declares none.
// Neither reaches the upstream.
func TestTaskMethodsFollowDeclaredCapabilities(t *testing.T) {
	for _, tc := range []struct {
		noTasks bool
		code    int
		status  int
		reason  string
	}{
		{false, -32602, http.StatusBadRequest, "task_not_found"},
		{true, -32601, http.StatusNotFound, "method_not_allowed"},
	} {
		t.Run(fmt.Sprintf("noTasks=%v", tc.noTasks), func(t *testing.T) {
			r := newRig(t, rigOptions{handler: &taskUpstream{noTasks: tc.noTasks}, registry: "      read_data:\n        scope: data:read\n"})
			tok := r.token(tokenOptions{user: "alice", scopes: []string{"data:read"}})
			meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
			post := func(method, params string) rawResponse {
				h := map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": method}
				return rawPost(t, r.endpoint(), tok, h, `{"jsonrpc":"2.0","id":1,"method":"`+method+`","params":{`+params+meta+`}}`)
			}
			unknown := `"taskId":"never-relayed",`
			// Before any capabilities are seen: task not found.
			if code, _, reason := rpcErr(t, post("tasks/get", unknown).body); code != -32602 || reason != "task_not_found" {
				t.Fatalf("before discover: %d %q", code, reason)
			}
			if got := post("server/discover", ""); got.status != http.StatusOK {
				t.Fatalf("server/discover: %d %s", got.status, got.body)
			}
			for _, m := range []string{"tasks/get", "tasks/cancel"} {
				got := post(m, unknown)
				if code, _, reason := rpcErr(t, got.body); code != tc.code || reason != tc.reason || got.status != tc.status {
					t.Fatalf("%s: HTTP %d %d %q, want %d %d %q", m, got.status, code, reason, tc.status, tc.code, tc.reason)
				}
			}
			if n := r.seenMethods.count("tasks/get") + r.seenMethods.count("tasks/cancel"); n != 0 {
				t.Fatalf("upstream received %d task requests", n)
			}
		})
	}
}

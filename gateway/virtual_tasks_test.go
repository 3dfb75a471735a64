package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// taskMember is a member speaking MCP tasks in both eras, which go-sdk
// v1.8.0 does not serve (as taskUpstream, tasks_test.go): sessions of
// 2025-11-25 (initialize, capabilities.tasks) and stateless 2026-07-28
// requests (server/discover, the tasks extension). Every member numbers
// its tasks task-1, task-2, ..., so two members' ids collide. tasks/get
// answers on an event stream: a notifications/tasks/status, then the
// result. It records every task request it receives with its task id.
type taskMember struct {
	name string
	srv  *httptest.Server

	mu      sync.Mutex
	tasks   []string
	got     []string      // "<method> <taskId>" of every tasks/* request
	streams []chan []byte // standalone streams (GET) open
}

// broadcast sends a message on every standalone stream open.
func (m *taskMember) broadcast(msg any) {
	data, _ := json.Marshal(msg)
	for _, c := range m.streams {
		c <- data
	}
}

// openStreams is the number of standalone streams open.
func (m *taskMember) openStreams() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.streams)
}

// stream serves a standalone stream: whatever is broadcast.
func (m *taskMember) stream(w http.ResponseWriter, r *http.Request) {
	c := make(chan []byte, 16)
	m.mu.Lock()
	m.streams = append(m.streams, c)
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.streams = slices.DeleteFunc(m.streams, func(x chan []byte) bool { return x == c })
		m.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for {
		select {
		case data := <-c:
			fmt.Fprintf(w, "event: message\ndata: %s\n\n", data)
			w.(http.Flusher).Flush()
		case <-r.Context().Done():
			return
		}
	}
}

func newTaskMember(t *testing.T, name string) *taskMember {
	m := &taskMember{name: name}
	m.srv = httptest.NewServer(m)
	t.Cleanup(func() { m.srv.CloseClientConnections(); m.srv.Close() })
	return m
}

// received returns the task requests received of method (any when "").
func (m *taskMember) received(method string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, g := range m.got {
		if method == "" || strings.HasPrefix(g, method+" ") {
			out = append(out, g)
		}
	}
	return out
}

func (m *taskMember) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		if r.Header.Get("Mcp-Session-Id") == "" {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		m.stream(w, r)
		return
	case http.MethodDelete:
		return
	}
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
	m.mu.Lock()
	defer m.mu.Unlock()
	known := slices.Contains(m.tasks, req.Params.TaskID)
	if strings.HasPrefix(req.Method, "tasks/") {
		m.got = append(m.got, req.Method+" "+req.Params.TaskID)
	}
	reply := func(result any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result})
	}
	if req.Method == "tasks/get" || req.Method == "tasks/result" || req.Method == "tasks/cancel" {
		if !known {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID,
				"error": map[string]any{"code": -32602, "message": "task not found"}})
			return
		}
	}
	switch req.Method {
	case "initialize":
		w.Header().Set("Mcp-Session-Id", m.name+"-session")
		reply(map[string]any{"protocolVersion": "2025-11-25", "serverInfo": map[string]any{"name": m.name, "version": "1"},
			"capabilities": map[string]any{"tools": map[string]any{},
				"tasks": map[string]any{"list": map[string]any{}, "cancel": map[string]any{}, "requests": map[string]any{"tools": map[string]any{"call": map[string]any{}}}}}})
	case "server/discover":
		reply(map[string]any{"supportedVersions": []string{"2026-07-28"}, "capabilities": map[string]any{"tools": map[string]any{},
			"extensions": map[string]any{"io.modelcontextprotocol/tasks": map[string]any{}}}})
	case "tools/list":
		reply(map[string]any{"tools": []any{map[string]any{"name": "work", "inputSchema": map[string]any{"type": "object"}}}})
	case "tools/call":
		if req.Params.Task == nil {
			reply(map[string]any{"content": []any{map[string]any{"type": "text", "text": m.name + " worked"}}})
			return
		}
		id := fmt.Sprintf("task-%d", len(m.tasks)+1)
		m.tasks = append(m.tasks, id)
		reply(map[string]any{"task": map[string]any{"taskId": id, "status": "working", "ttl": 60000}})
	case "tasks/get":
		w.Header().Set("Content-Type", "text/event-stream")
		status, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "notifications/tasks/status",
			"params": map[string]any{"taskId": req.Params.TaskID, "status": "completed"}})
		res, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": req.ID,
			"result": map[string]any{"taskId": req.Params.TaskID, "status": "completed", "statusMessage": m.name}})
		fmt.Fprintf(w, "event: message\ndata: %s\n\nevent: message\ndata: %s\n\n", status, res)
	case "tasks/cancel":
		// On every standalone stream: the task's status, then a log
		// message marking its end.
		m.broadcast(map[string]any{"jsonrpc": "2.0", "method": "notifications/tasks/status",
			"params": map[string]any{"taskId": req.Params.TaskID, "status": "cancelled"}})
		m.broadcast(map[string]any{"jsonrpc": "2.0", "method": "notifications/message",
			"params": map[string]any{"level": "info", "data": m.name + " cancelled " + req.Params.TaskID}})
		reply(map[string]any{"taskId": req.Params.TaskID, "status": "cancelled", "statusMessage": m.name})
	case "tasks/result":
		reply(map[string]any{"content": []any{map[string]any{"type": "text", "text": m.name + " result of " + req.Params.TaskID}},
			"_meta": map[string]any{"io.modelcontextprotocol/related-task": map[string]any{"taskId": req.Params.TaskID}}})
	case "tasks/list":
		list := []any{}
		for _, id := range m.tasks {
			list = append(list, map[string]any{"taskId": id, "status": "working"})
		}
		reply(map[string]any{"tasks": list})
	default:
		reply(map[string]any{})
	}
}

// taskRig is a gateway whose slug "fed" composes two task members, a and b.
func taskRig(t *testing.T) (*vrig, *taskMember, *taskMember) {
	a, b := newTaskMember(t, "a"), newTaskMember(t, "b")
	v := newVirtualRigYAML(t, `version: 1
upstreams:
  - slug: fed
    members:
      - {name: a, url: %s, downstream_audience: "https://a.internal"}
      - {name: b, url: %s, downstream_audience: "https://b.internal"}
    tools:
      a__work: {scope: fed:read}
      b__work: {scope: fed:read}
`, a.srv.URL, b.srv.URL)
	return v, a, b
}

// sseMessages returns the JSON-RPC messages of a body: a JSON body's one,
// or every data line of an event stream.
func sseMessages(t *testing.T, body string) []map[string]any {
	t.Helper()
	var out []map[string]any
	lines := []string{body}
	if strings.Contains(body, "data: ") {
		lines = nil
		for _, l := range strings.Split(body, "\n") {
			if d, ok := strings.CutPrefix(l, "data: "); ok {
				lines = append(lines, d)
			}
		}
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON-RPC: %q (%v)", l, err)
		}
		out = append(out, m)
	}
	return out
}

// rpcResult returns the result of the response in body, and the
// notifications before it.
func rpcResult(t *testing.T, body string) (result map[string]any, notes []map[string]any) {
	t.Helper()
	for _, m := range sseMessages(t, body) {
		if r, ok := m["result"].(map[string]any); ok {
			return r, notes
		}
		if _, ok := m["method"]; ok {
			notes = append(notes, m)
			continue
		}
		t.Fatalf("not a result: %s", body)
	}
	t.Fatalf("no result: %s", body)
	return nil, nil
}

// taskClient sends one era's requests through the gateway as one caller.
type taskClient struct {
	t      *testing.T
	v      *vrig
	tok    string
	era    string // "2025-11-25" (a session) or "2026-07-28" (stateless)
	sid    string
	nextID int
}

func newTaskClient(t *testing.T, v *vrig, user, era string) *taskClient {
	c := &taskClient{t: t, v: v, era: era,
		tok: v.token(tokenOptions{user: user, audience: v.endpoint(), scopes: []string{"fed:read"}})}
	if era == "2026-07-28" {
		return c
	}
	init := rawPost(t, v.endpoint(), c.tok, nil, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	c.sid = init.header.Get("Mcp-Session-Id")
	res, _ := rpcResult(t, init.body)
	caps, _ := res["capabilities"].(map[string]any)
	if init.status != http.StatusOK || c.sid == "" || caps["tasks"] == nil {
		t.Fatalf("initialize: HTTP %d session %q: %s", init.status, c.sid, init.body)
	}
	rawPost(t, v.endpoint(), c.tok, c.headers("", ""), `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return c
}

func (c *taskClient) headers(method, name string) map[string]string {
	h := map[string]string{"Mcp-Protocol-Version": c.era}
	if c.sid != "" {
		h["Mcp-Session-Id"] = c.sid
		return h
	}
	h["Mcp-Method"] = method
	if name != "" {
		h["Mcp-Name"] = name
	}
	return h
}

// post sends method with params (members of the params object, each
// followed by a comma, or ""); name is the Mcp-Name of a tools/call.
func (c *taskClient) post(method, name, params string) rawResponse {
	c.t.Helper()
	c.nextID++
	meta := `"_meta":{}`
	if c.sid == "" {
		meta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	}
	return rawPost(c.t, c.v.endpoint(), c.tok, c.headers(method, name),
		fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":{%s%s}}`, c.nextID, method, params, meta))
}

// startTask makes a task-augmented call of tool and returns its task id.
func (c *taskClient) startTask(tool string) string {
	c.t.Helper()
	got := c.post("tools/call", tool, `"name":"`+tool+`","arguments":{},"task":{"ttl":60000},`)
	res, _ := rpcResult(c.t, got.body)
	task, _ := res["task"].(map[string]any)
	id, _ := task["taskId"].(string)
	if id == "" {
		c.t.Fatalf("task-augmented %s: HTTP %d %s", tool, got.status, got.body)
	}
	return id
}

func taskParam(id string) string { return `"taskId":"` + id + `",` }

// TestVirtualTasksAcrossMembers: through a virtual server of two members
// that both number their tasks task-1, ..., in both eras, a task-augmented
// call's task id names its member (legant-vt:<member>:<id>), so the two
// members' task-1 stay apart; tasks/get, tasks/cancel (and tasks/result,
// tasks/list in 2025-11-25) reach only the member that created the task,
// with its own id, and their answers, task status notifications included,
// carry the scoped id; another principal gets task-not-found for them,
// also for a forged scoped id, and nothing of its requests reaches a
// member; tasks/list is merged from both members and filtered to the
// caller's own tasks.
func TestVirtualTasksAcrossMembers(t *testing.T) {
	for _, era := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(era, func(t *testing.T) {
			v, a, b := taskRig(t)
			alice := newTaskClient(t, v, "alice", era)
			bob := newTaskClient(t, v, "bob", era)

			idA, idB := alice.startTask("a__work"), alice.startTask("b__work")
			if idA != "legant-vt:a:task-1" || idB != "legant-vt:b:task-1" {
				t.Fatalf("task ids: %q %q", idA, idB)
			}
			for _, tc := range []struct {
				id     string
				member *taskMember
				other  *taskMember
			}{{idA, a, b}, {idB, b, a}} {
				before := len(tc.other.received(""))
				got := alice.post("tasks/get", "", taskParam(tc.id))
				res, notes := rpcResult(t, got.body)
				if res["taskId"] != tc.id || res["statusMessage"] != tc.member.name {
					t.Fatalf("tasks/get %s: %s", tc.id, got.body)
				}
				if len(notes) != 1 || notes[0]["method"] != "notifications/tasks/status" ||
					notes[0]["params"].(map[string]any)["taskId"] != tc.id {
					t.Fatalf("tasks/get %s: status notification %v", tc.id, notes)
				}
				if g := tc.member.received("tasks/get"); !slices.Equal(g, []string{"tasks/get task-1"}) {
					t.Fatalf("member %s received %v", tc.member.name, g)
				}
				if n := len(tc.other.received("")); n != before {
					t.Fatalf("tasks/get of %s reached member %s", tc.id, tc.other.name)
				}
			}

			// Another principal: not found, for the ids relayed to alice and
			// for a forged scoped id; nothing reaches a member.
			sent := len(a.received("")) + len(b.received(""))
			for _, m := range []string{"tasks/get", "tasks/cancel"} {
				for _, id := range []string{idA, idB, "legant-vt:b:task-2"} {
					got := bob.post(m, "", taskParam(id))
					if code, _, reason := rpcErr(t, got.body); code != -32602 || reason != "task_not_found" {
						t.Fatalf("%s %s by bob: HTTP %d %d %q", m, id, got.status, code, reason)
					}
				}
			}
			if n := len(a.received("")) + len(b.received("")); n != sent {
				t.Fatalf("bob's task requests reached the members: %d → %d", sent, n)
			}

			if era == "2025-11-25" {
				got := alice.post("tasks/result", "", taskParam(idB))
				res, _ := rpcResult(t, got.body)
				content, _ := res["content"].([]any)
				rel, _ := res["_meta"].(map[string]any)["io.modelcontextprotocol/related-task"].(map[string]any)
				if len(content) != 1 || content[0].(map[string]any)["text"] != "b result of task-1" || rel["taskId"] != idB {
					t.Fatalf("tasks/result: %s", got.body)
				}
				if len(a.received("tasks/result")) != 0 || len(b.received("tasks/result")) != 1 {
					t.Fatalf("tasks/result reached a %d, b %d times", len(a.received("tasks/result")), len(b.received("tasks/result")))
				}
				if code, _, reason := rpcErr(t, bob.post("tasks/result", "", taskParam(idA)).body); code != -32602 || reason != "task_not_found" {
					t.Fatalf("tasks/result by bob: %d %q", code, reason)
				}
				list := func(c *taskClient) []string {
					res, _ := rpcResult(t, c.post("tasks/list", "", "").body)
					var ids []string
					for _, it := range res["tasks"].([]any) {
						ids = append(ids, it.(map[string]any)["taskId"].(string))
					}
					return ids
				}
				idA2 := alice.startTask("a__work")
				if ids := list(alice); !slices.Equal(ids, []string{idA, "legant-vt:a:task-2", idB}) || idA2 != ids[1] {
					t.Fatalf("alice's tasks/list = %v", ids)
				}
				if ids := list(bob); len(ids) != 0 {
					t.Fatalf("bob's tasks/list = %v, want none", ids)
				}
				if len(a.received("tasks/list")) != 2 || len(b.received("tasks/list")) != 2 {
					t.Fatalf("tasks/list reached a %d, b %d times, want 2 each", len(a.received("tasks/list")), len(b.received("tasks/list")))
				}
			} else {
				// Removed in 2026-07-28: the gateway answers them, as for one upstream.
				for _, m := range []string{"tasks/result", "tasks/list"} {
					got := alice.post(m, "", taskParam(idA))
					if code, _, reason := rpcErr(t, got.body); code != -32601 || reason != "method_removed" {
						t.Fatalf("%s in 2026-07-28: HTTP %d %d %q", m, got.status, code, reason)
					}
				}
			}

			got := alice.post("tasks/cancel", "", taskParam(idA))
			if res, _ := rpcResult(t, got.body); res["taskId"] != idA || res["status"] != "cancelled" || res["statusMessage"] != "a" {
				t.Fatalf("tasks/cancel: %s", got.body)
			}
			if ga, gb := a.received("tasks/cancel"), b.received("tasks/cancel"); !slices.Equal(ga, []string{"tasks/cancel task-1"}) || len(gb) != 0 {
				t.Fatalf("tasks/cancel reached a %v, b %v", ga, gb)
			}
		})
	}
}

// TestVirtualTasksFromOneMember: beside a go-sdk member that serves no
// tasks, a member's tasks capability is the virtual server's (a task is
// routed to its member), and tasks/list asks only the member declaring
// tasks.
func TestVirtualTasksFromOneMember(t *testing.T) {
	a, c := newTaskMember(t, "a"), capsMember(t, "c", nil, false)
	v := newVirtualRigYAML(t, `version: 1
upstreams:
  - slug: fed
    members:
      - {name: a, url: %s, downstream_audience: "https://a.internal"}
      - {name: c, url: %s, downstream_audience: "https://c.internal"}
    tools:
      a__work: {scope: fed:read}
      c__echo: {scope: fed:read}
`, a.srv.URL, c.srv.URL)
	alice := newTaskClient(t, v, "alice", "2025-11-25") // asserts capabilities.tasks
	id := alice.startTask("a__work")
	res, _ := rpcResult(t, alice.post("tasks/list", "", "").body)
	if tasks, _ := res["tasks"].([]any); len(tasks) != 1 || tasks[0].(map[string]any)["taskId"] != id {
		t.Fatalf("tasks/list: %v", res)
	}
	if _, methods := c.seen(); slices.ContainsFunc(methods, func(m string) bool { return strings.HasPrefix(m, "tasks/") }) {
		t.Fatalf("the member without tasks received %v", methods)
	}
	if got := a.received("tasks/list"); len(got) != 1 {
		t.Fatalf("the tasks member received %v", got)
	}
}

// TestVirtualTaskStatusOnStandaloneStream: a member's
// notifications/tasks/status outside any request reaches the standalone
// stream of the session whose task it is, its id scoped; the member sends
// it on every session's stream, and another principal's session gets only
// what follows it (the gateway filters the task's status out).
func TestVirtualTaskStatusOnStandaloneStream(t *testing.T) {
	v, a, _ := taskRig(t)
	alice := newTaskClient(t, v, "alice", "2025-11-25")
	bob := newTaskClient(t, v, "bob", "2025-11-25")
	id := alice.startTask("a__work")
	for a.openStreams() < 2 { // each session's member session listens (opened in the background)
		time.Sleep(5 * time.Millisecond)
	}
	// Opened before the cancel: what the member sends meanwhile waits in
	// the virtual session's backlog.
	aliceStream, bobStream := alice.standalone(), bob.standalone()
	if got := alice.post("tasks/cancel", "", taskParam(id)); !strings.Contains(got.body, `"cancelled"`) {
		t.Fatalf("tasks/cancel: %s", got.body)
	}
	if got := aliceStream(); got["method"] != "notifications/tasks/status" || got["params"].(map[string]any)["taskId"] != id {
		t.Fatalf("alice's standalone stream: %v", got)
	}
	if got := aliceStream(); got["method"] != "notifications/message" {
		t.Fatalf("alice's standalone stream after the status: %v", got)
	}
	if got := bobStream(); got["method"] != "notifications/message" {
		t.Fatalf("bob's standalone stream: %v, want only the log message", got)
	}
}

// standalone opens the session's standalone stream and returns a function
// reading its next message.
func (c *taskClient) standalone() func() map[string]any {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	c.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.v.endpoint(), nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+c.tok)
	for k, v := range c.headers("", "") {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		c.t.Fatalf("standalone stream: %v %v", err, resp)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	rd := bufio.NewReader(resp.Body)
	return func() map[string]any {
		c.t.Helper()
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				c.t.Fatalf("standalone stream: %v", err)
			}
			if d, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "data: "); ok {
				var m map[string]any
				if err := json.Unmarshal([]byte(d), &m); err != nil {
					c.t.Fatalf("standalone stream: %q", d)
				}
				return m
			}
		}
	}
}

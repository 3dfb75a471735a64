package gateway

// Decide, for MCP tasks (the 2026-07-28 tasks extension): a task belongs to
// the principal (user and agent chain) and session whose task-augmented
// tools/call created it. The gateway remembers each task id it relays back
// (relay.go through visibility.go) with its owner; tasks/get, tasks/result
// and tasks/cancel of a task another owner created, or the gateway never
// relayed, are answered as for a task that does not exist, and tasks/list
// and task status notifications are filtered to the owner's tasks. The
// task-augmented tools/call itself is an ordinary tools/call: authorized
// and charged once, when it is made.

import (
	"sync"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/openlegant/legant/policy"
)

// maxTaskOwners bounds the task ids (and request states) remembered; the
// oldest are forgotten first (a forgotten task answers not-found, failing
// closed).
const maxTaskOwners = 1 << 16

// taskOwners remembers which owner each opaque id the gateway relayed to a
// client belongs to: task ids, MRTR request states. It is safe for
// concurrent use.
type taskOwners struct {
	max int

	mu    sync.Mutex
	owner map[string]string // upstream slug + "\x00" + task id → owner key
	order []string          // keys of owner, oldest first
	// serves: per upstream slug, whether the capabilities its last
	// initialize or server/discover result declared include tasks; absent
	// when the gateway has seen none.
	serves map[string]bool
}

func newTaskOwners(max int) *taskOwners {
	return &taskOwners{max: max, owner: map[string]string{}, serves: map[string]bool{}}
}

// declared records whether upstream slug declared the tasks capability.
func (t *taskOwners) declared(slug string, tasks bool) {
	t.mu.Lock()
	t.serves[slug] = tasks
	t.mu.Unlock()
}

// undeclared reports whether upstream slug's last declared capabilities
// lacked tasks: it does not implement the tasks methods.
func (t *taskOwners) undeclared(slug string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	serves, seen := t.serves[slug]
	return seen && !serves
}

// tasksExtension is the 2026-07-28 tasks extension's id in
// capabilities.extensions.
const tasksExtension = "io.modelcontextprotocol/tasks"

// rememberCapabilities notes whether an initialize or server/discover
// result declares tasks (capabilities.tasks, or the tasks extension in
// capabilities.extensions), so that a task id the gateway does not know is
// answered as that upstream would: -32601 when it serves no tasks, -32602
// (task not found) when it does or the gateway cannot tell.
func (g *Gateway) rememberCapabilities(ex *exchange, result jsontext.Value) {
	caps, ok := memberOf(result, "capabilities")
	if !ok {
		return
	}
	_, tasks := memberOf(caps, "tasks")
	if ext, ok := memberOf(caps, "extensions"); ok && !tasks {
		_, tasks = memberOf(ext, tasksExtension)
	}
	g.mcpTasks.declared(ex.up.Slug, tasks)
}

// taskOwner is the owner key of requests of ex: the principal and session.
func taskOwner(ex *exchange) string {
	return ex.claims.Principal() + "\x00" + sessionID(ex.sess)
}

// add records that the task id of upstream slug belongs to owner. A task id
// already owned by someone else keeps its first owner.
func (t *taskOwners) add(slug, id, owner string) {
	k := slug + "\x00" + id
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.owner[k]; ok {
		return
	}
	t.owner[k] = owner
	t.order = append(t.order, k)
	for len(t.order) > t.max {
		delete(t.owner, t.order[0])
		t.order = t.order[1:]
	}
}

// owns reports whether owner created the task id of upstream slug.
func (t *taskOwners) owns(slug, id, owner string) bool {
	o, ok := t.ownerOf(slug, id)
	return ok && o == owner
}

// ownerOf returns the owner of id of upstream slug, ok=false when unknown.
func (t *taskOwners) ownerOf(slug, id string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o, ok := t.owner[slug+"\x00"+id]
	return o, ok
}

// authorizeTask decides tasks/get, tasks/result, tasks/cancel (the task
// must be the caller's) and tasks/list (forwarded, the result filtered).
func (g *Gateway) authorizeTask(ex *exchange, m *message) []byte {
	if m.method == "tasks/list" {
		return nil
	}
	p, ok := m.paramsStrict("taskId")
	id, isString := stringValue(p["taskId"])
	if resp := g.refuseUnusable(ex, m, ok && isString, "taskId", id); resp != nil {
		return resp
	}
	if !g.mcpTasks.owns(ex.up.Slug, id, taskOwner(ex)) {
		if g.mcpTasks.undeclared(ex.up.Slug) {
			d := policy.Deny(policy.ReasonMethodNotAllowed, "method %s is not implemented by this upstream (it declares no tasks)", m.method)
			d.Message = "Method not found: " + d.Message[len("denied: "):]
			d.Value = m.method
			return g.refuse(ex, m, d, id)
		}
		d := policy.Deny(policy.ReasonTaskNotFound, "task not found")
		d.Value = shortID(id)
		return g.refuse(ex, m, d, id)
	}
	return g.allow(ex, m, id)
}

// shortID bounds an id quoted in an audit event or error.
func shortID(s string) string {
	if len(s) > policy.MaxValueLen {
		return s[:policy.MaxValueLen]
	}
	return s
}
